"""What lookups keep besides the audit log: the attachment claims released to each client."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from hub.kit.time import utcnow
from storage.types import UTCDateTime


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
