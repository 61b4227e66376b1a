"""The rules of browser sessions: a sign-in lasts ``console_session_seconds`` at most, whatever the
activity (OWASP Session Management Cheat Sheet, "absolute timeout"); signing out, or an admin losing
their account, deletes the row, so a cookie copied before then names nothing.

The session id is 32 random bytes (``secrets``); only its SHA-256 is stored, so the table alone cannot
be turned back into cookies."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from hub.kit.time import utcnow
from hub.sessions import repository
from hub.sessions.models import WebSession


@dataclass(frozen=True)
class SignedIn:
    """Who a browser session belongs to: an admin (``admin_id``) or a citizen (``subject``, ``region``)."""

    kind: str
    admin_id: int | None = None
    subject: str | None = None
    region: str | None = None


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(session: Session, who: SignedIn, *, lifetime_s: int) -> str:
    """Store a new sign-in and return its id for the cookie. Rows past the sign-in lifetime are purged
    here (lazily: sign-ins are writes anyway, reads never write)."""
    now = utcnow()
    repository.delete_signed_in_before(session, now - timedelta(seconds=lifetime_s))
    session_id = secrets.token_urlsafe(32)
    repository.add(
        session,
        WebSession(
            id_hash=_hash(session_id),
            kind=who.kind,
            admin_id=who.admin_id,
            subject=who.subject,
            region_code=who.region,
            signed_in_at=now,
        ),
    )
    return session_id


def find(session: Session, session_id: str, *, lifetime_s: int) -> SignedIn | None:
    """The sign-in the id names, if it exists and is younger than ``lifetime_s``."""
    row = repository.get(session, _hash(session_id))
    if row is None or (utcnow() - row.signed_in_at).total_seconds() > lifetime_s:
        return None
    return SignedIn(row.kind, row.admin_id, row.subject, row.region_code)


def end(session: Session, session_id: str) -> None:
    """Sign out: the row goes, so the same cookie (or a copy of it) is refused from now on."""
    repository.delete_one(session, _hash(session_id))


def end_admin_sessions(session: Session, admin_id: int) -> int:
    """End every browser session of an admin (account disabled, password changed); how many ended."""
    return repository.delete_for_admin(session, admin_id)
