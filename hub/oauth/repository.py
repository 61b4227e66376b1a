"""SQL of OAuth: issued tokens, authorization codes, used client assertions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.access.models import Client
from hub.oauth.models import IssuedToken


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
