"""Service items (事项) with the materials they need, and citizens' consents to release them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from hub.kit.time import utcnow
from storage.types import UTCDateTime


class ServiceItem(SQLModel, table=True):
    """An approval service's item: what it decides, by which law, how fast, and which licences
    (type, tier, required or not) fill which form fields."""

    __tablename__ = "service_item"
    code: str = Field(primary_key=True, max_length=64)
    name_zh: str = Field(max_length=128)
    name_en: str = Field(max_length=128)
    owner_kind: str = Field(max_length=64)
    levels: list[str] = Field(sa_column=Column(JSON, nullable=False))
    legal_basis: str = Field(max_length=512)
    statutory_days: int
    promised_days: int
    materials: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Consent(SQLModel, table=True):
    """A citizen's consent to release listed licences and fields to one client, for one service item
    and case. Withdrawing it revokes every token issued under it."""

    id: str = Field(primary_key=True, max_length=64)
    subject: str = Field(max_length=128, index=True)
    client_id: str = Field(max_length=64, index=True)
    purpose: str = Field(max_length=64)
    case_id: str = Field(max_length=128)
    scope: str = Field(max_length=4096)
    released: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    receipt: str = Field(sa_type=Text)
    status: str = Field(default="given", max_length=16)
    given_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The audit log's leaves recording the giving and the withdrawal (responses and receipts name them).
    given_leaf_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    withdrawn_leaf_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ReleasedAttachment(SQLModel, table=True):
    """One release of an attachment claim (a photo's SHA-256, say) to a client by a lookup or prefill.

    It is what lets that client download the file afterwards (``GET /v1/attachments/{sha256}``), for as
    long as one of ``grant_ids`` is in force and the release is recent (``hub.lookups.attachments``)."""

    __tablename__ = "released_attachment"
    __table_args__ = (Index("ix_released_attachment_client_digest", "client_id", "sha256", "released_at"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(foreign_key="client.client_id", max_length=64)
    sha256: str = Field(foreign_key="attachment.sha256", max_length=64)
    licence_id: str = Field(max_length=160)
    type_code: str = Field(max_length=32)
    claim: str = Field(max_length=64)
    holder_index: str = Field(max_length=64)
    purpose: str = Field(max_length=64)
    case_id: str = Field(max_length=128)
    consented: bool  # released under the holder's consent: only a token bound to it may download
    grant_ids: list[int] = Field(sa_column=Column(JSON, nullable=False))  # the grants that allowed it
    audit_event_id: int = Field(foreign_key="audit_event.id")
    released_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
