"""The audit trail (DESIGN 5.5). Every use of a citizen's data is an event written in the same
transaction as the use. Events hold ids and the holder's blind index, never personal data in clear.
(The tamper-evident Merkle log over these events arrives with the audit issue.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from hub.kit.time import utcnow
from storage.types import UTCDateTime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_holder_time", "holder_index", "occurred_at"),)
    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    action: str = Field(max_length=64, index=True)
    outcome: str = Field(max_length=16)
    actor_kind: str = Field(max_length=16)
    actor_id: str = Field(max_length=128, index=True)
    client_id: str | None = Field(default=None, max_length=64)
    holder_index: str | None = Field(default=None, max_length=64)
    purpose: str | None = Field(default=None, max_length=64)
    case_id: str | None = Field(default=None, max_length=128)
    licence_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
