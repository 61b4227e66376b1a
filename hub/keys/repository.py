"""SQL for the hub's own keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.keys.models import HubKey


def list_keys(session: Session, *, statuses: tuple[str, ...] = ("active", "retired")) -> Sequence[HubKey]:
    stmt = select(HubKey).where(HubKey.status.in_(statuses)).order_by(HubKey.created_at.desc())  # type: ignore[attr-defined]
    return session.scalars(stmt).all()


def active_key(session: Session) -> HubKey | None:
    stmt = select(HubKey).where(HubKey.status == "active").order_by(HubKey.created_at.desc()).limit(1)  # type: ignore[attr-defined]
    return session.scalars(stmt).first()


def get_key(session: Session, kid: str) -> HubKey | None:
    return session.get(HubKey, kid)
