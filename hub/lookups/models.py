"""Service items (事项) with the materials they need, and citizens' consents to release them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
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
