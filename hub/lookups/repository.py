"""SQL of lookups: writing attachment releases and finding the recent ones of a client and digest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from hub.lookups.models import ReleasedAttachment


def add_releases(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(ReleasedAttachment.__table__), list(rows))  # type: ignore[attr-defined]


def recent_releases(
    session: Session, client_id: str, sha256: str, since: datetime
) -> Sequence[ReleasedAttachment]:
    """The client's releases of the digest made after ``since``, newest first."""
    stmt = (
        select(ReleasedAttachment)
        .where(
            col(ReleasedAttachment.client_id) == client_id,
            col(ReleasedAttachment.sha256) == sha256,
            col(ReleasedAttachment.released_at) > since,
        )
        .order_by(col(ReleasedAttachment.released_at).desc(), col(ReleasedAttachment.id).desc())
    )
    return session.scalars(stmt).all()
