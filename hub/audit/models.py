"""The audit trail (DESIGN 5.5): events, the Merkle tree over them, signed tree heads, and alerts.

Every use of a citizen's data is an event written in the same transaction as the use. Events hold ids
and the holder's blind index, never personal data in clear. Each event is a leaf of an RFC 9162 Merkle
tree: ``leaf_index`` is its position (dense, in commit order), ``audit_node`` keeps the hash of every
complete subtree, and ``audit_tree_head`` the hub-signed heads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, SmallInteger, Text
from sqlmodel import Field, SQLModel

from hub.kit.time import utcnow
from storage.types import UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One event. ``region_code`` is the acting client's or admin's region (what auditors are scoped
    by); ``type_codes`` the licence types concerned, space-separated and space-padded (" A B ") so a
    type is found with ``LIKE '% A %'`` on every backend (null when none)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_holder_time", "holder_index", "occurred_at"),
        Index("ux_audit_event_leaf_index", "leaf_index", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    # Set on every event by the append; nullable only so that migration 0005 could add it in place.
    leaf_index: int = Field(sa_column=Column(BigInteger, nullable=True))
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    action: str = Field(max_length=64, index=True)
    outcome: str = Field(max_length=16)
    actor_kind: str = Field(max_length=16)
    actor_id: str = Field(max_length=128, index=True)
    client_id: str | None = Field(default=None, max_length=64, index=True)
    region_code: str | None = Field(default=None, max_length=12, index=True)
    department_id: str | None = Field(default=None, max_length=64)
    holder_index: str | None = Field(default=None, max_length=64)
    purpose: str | None = Field(default=None, max_length=64)
    case_id: str | None = Field(default=None, max_length=128)
    type_codes: str | None = Field(default=None, sa_type=Text)
    licence_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditNode(SQLModel, table=True):
    """The hash of a complete subtree: leaves ``[position·2^level, (position+1)·2^level)``; level 0
    holds the leaf hashes. Written once, when the subtree's last leaf is appended."""

    __tablename__ = "audit_node"
    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    position: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditTreeState(SQLModel, table=True):
    """One row: the number of leaves. Appends lock it (the ``UPDATE`` that claims the next index), so
    indexes are dense and in commit order; a reader sees only the size of committed appends."""

    __tablename__ = "audit_tree_state"
    id: int = Field(primary_key=True)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class TreeHead(SQLModel, table=True):
    """A signed tree head (JWS ``typ: tree-head+jwt``); the columns repeat its payload for queries."""

    __tablename__ = "audit_tree_head"
    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    root_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    timestamp_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    signed: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditRollup(SQLModel, table=True):
    """Per actor and ten-minute bucket: lookups, refused attempts and purpose_not_covered refusals,
    rolled up from events in leaf order (the supervision rules read these, not the events)."""

    __tablename__ = "audit_rollup"
    actor_id: str = Field(primary_key=True, max_length=128)
    bucket_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    region_code: str | None = Field(default=None, max_length=12)
    lookups: int = 0
    refused: int = 0
    purpose_not_covered: int = 0


class SupervisionState(SQLModel, table=True):
    """One row: the next leaf index the rollup has not yet read."""

    __tablename__ = "audit_supervision"
    id: int = Field(primary_key=True)
    rolled_up_to: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    evaluated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    """A supervision alert. ``key`` makes raising idempotent: a rule re-evaluated in the same window
    finds its alert already there."""

    __tablename__ = "audit_alert"
    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=32, index=True)
    key: str = Field(max_length=255, unique=True)
    severity: str = Field(max_length=16)
    subject_kind: str = Field(max_length=16)
    subject_id: str = Field(max_length=128)
    region_code: str | None = Field(default=None, max_length=12, index=True)
    summary: str = Field(max_length=512)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    status: str = Field(default="open", max_length=16, index=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: int | None = Field(default=None, foreign_key="admin.id")
    acknowledgement: str | None = Field(default=None, max_length=512)
