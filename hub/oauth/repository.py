"""SQL of OAuth: issued tokens and citizens' consents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.access.models import Client
from hub.oauth.models import Consent, IssuedToken


def token_and_client(session: Session, jti: str) -> list[object]:
    """The ``issued_token`` row of ``jti`` and its client's row, in one round trip (either may be
    missing); loading them puts them in the session's identity map."""
    stmt = (
        select(IssuedToken, Client)
        .outerjoin(Client, Client.client_id == IssuedToken.client_id)
        .where(IssuedToken.jti == jti)
    )
    return [row for pair in session.execute(stmt).all() for row in pair]


def add_token(session: Session, row: IssuedToken) -> None:
    session.add(row)
    session.flush()


def get_token(session: Session, jti: str) -> IssuedToken | None:
    return session.get(IssuedToken, jti)


def revoke_admin_tokens(session: Session, admin_id: int, now: datetime) -> int:
    """Revoke every outstanding token of an admin; how many."""
    result = session.execute(
        update(IssuedToken)
        .where(
            IssuedToken.admin_id == admin_id,
            IssuedToken.revoked_at.is_(None),
            IssuedToken.expires_at > now,
        )
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def get_consent(session: Session, consent_id: str) -> Consent | None:
    return session.get(Consent, consent_id)


def consents_of(
    session: Session, subject: str, *, limit: int | None = None, offset: int = 0
) -> Sequence[Consent]:
    newest_first = (Consent.given_at.desc(), Consent.id.desc())  # type: ignore[attr-defined,union-attr]
    stmt = (
        select(Consent).where(Consent.subject == subject).order_by(*newest_first).offset(offset).limit(limit)
    )
    return session.scalars(stmt).all()


def add_consent(session: Session, consent: Consent) -> None:
    session.add(consent)
    session.flush()


def consent_status(session: Session, consent_id: str) -> str | None:
    return session.scalar(select(Consent.status).where(Consent.id == consent_id))


def revoke_consent_tokens(session: Session, consent_id: str, now: datetime) -> None:
    """Revoke every outstanding token issued under a consent (it was withdrawn)."""
    session.execute(
        update(IssuedToken)
        .where(IssuedToken.consent_id == consent_id, IssuedToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
