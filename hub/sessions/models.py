"""A browser sign-in, kept on the server so that signing out (or disabling an admin) ends it at once: the
cookie carries only the session's random id, and this row stores the SHA-256 of that id."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from hub.kit.time import utcnow
from storage.types import UTCDateTime


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"
    id_hash: str = Field(primary_key=True, max_length=64)  # hex SHA-256 of the cookie's session id
    kind: str = Field(max_length=16)  # admin | citizen
    admin_id: int | None = Field(default=None, index=True)
    subject: str | None = Field(default=None, max_length=128)  # "citizen:<blind index>"
    region_code: str | None = Field(default=None, max_length=12)
    signed_in_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
