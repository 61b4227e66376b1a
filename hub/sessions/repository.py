"""SQL of the browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session
from sqlmodel import col

from hub.sessions.models import WebSession


def add(session: Session, row: WebSession) -> None:
    session.add(row)
    session.flush()


def get(session: Session, id_hash: str) -> WebSession | None:
    return session.get(WebSession, id_hash)


def delete_one(session: Session, id_hash: str) -> None:
    session.execute(delete(WebSession).where(col(WebSession.id_hash) == id_hash))


def delete_for_admin(session: Session, admin_id: int) -> int:
    result = session.execute(delete(WebSession).where(col(WebSession.admin_id) == admin_id))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_signed_in_before(session: Session, cutoff: datetime) -> None:
    session.execute(delete(WebSession).where(col(WebSession.signed_in_at) < cutoff))
