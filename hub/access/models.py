"""Who may see what: OAuth clients, graded access grants and administrators (DESIGN 3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from hub.kit.time import utcnow
from storage.types import UTCDateTime


class Client(SQLModel, table=True):
    """An OAuth client: a department's adapter (kind ``department``) or an approval service (``service``)."""

    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=128)
    kind: str = Field(max_length=16)
    department_id: str | None = Field(default=None, foreign_key="department.id", max_length=64)
    organisation: str = Field(default="", max_length=128)
    region_code: str = Field(foreign_key="region.code", max_length=12, index=True)
    auth_method: str = Field(max_length=32)
    secret_hash: str | None = Field(default=None, max_length=255)
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    redirect_uris: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=16)
    created_by: int | None = Field(default=None, foreign_key="admin.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Grant(SQLModel, table=True):
    """Client × licence type × max tier × purposes × region subtree × validity (DESIGN 3)."""

    __tablename__ = "access_grant"  # "grant" is an SQL keyword
    __table_args__ = (Index("ix_grant_client_type", "client_id", "type_code"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(foreign_key="client.client_id", max_length=64)
    type_code: str = Field(foreign_key="licence_type.code", max_length=32)
    max_tier: int
    purposes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    region_code: str = Field(foreign_key="region.code", max_length=12)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_until: datetime = Field(sa_type=UTCDateTime)
    consent_required: bool
    legal_basis: str = Field(max_length=512)
    status: str = Field(default="pending", max_length=16, index=True)
    requested_by: int = Field(foreign_key="admin.id")
    approved_by: int | None = Field(default=None, foreign_key="admin.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: int | None = Field(default=None, foreign_key="admin.id")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoke_reason: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Admin(SQLModel, table=True):
    """An administrator (``admin``) or auditor (``auditor``) of one region of government.

    ``controlled_by`` lists the admins any one of whom could have made this one alone: whoever appointed
    it from the parent level, and those who could have made that admin. An admin made by two independent
    people (a request and an approval) or by the operator is controlled by nobody
    (``hub.access.approvals``)."""

    __table_args__ = (Index("uq_admin_oidc", "oidc_issuer", "oidc_subject", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=128)
    role: str = Field(max_length=16)
    region_code: str = Field(foreign_key="region.code", max_length=12)
    password_hash: str | None = Field(default=None, max_length=255)
    oidc_issuer: str | None = Field(default=None, max_length=255)
    oidc_subject: str | None = Field(default=None, max_length=255)
    status: str = Field(default="active", max_length=16)
    requested_by: int | None = None
    approved_by: int | None = None
    controlled_by: list[int] | None = Field(default_factory=list, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
