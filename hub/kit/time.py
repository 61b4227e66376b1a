"""Clock helpers: every timestamp in the hub is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def from_epoch(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_epoch(moment: datetime) -> int:
    return int(moment.timestamp())
