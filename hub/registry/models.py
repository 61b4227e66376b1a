"""Registry tables: regions, departments and their keys, the licence type catalog, licences and their
versions and status history, department feeds and the attachments that credentials reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, String, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from hub.kit.time import utcnow
from storage.types import UTCDateTime


def _ts(nullable: bool = False, **kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, **kw))


class Region(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=64)
    level: str = Field(max_length=16)
    parent_code: str | None = Field(default=None, foreign_key="region.code", index=True, max_length=12)


def _state(default: str) -> Any:
    """A lifecycle state column; rows from before migration 0009 take ``default``."""
    return Field(default=default, max_length=16, sa_column_kwargs={"server_default": default})


class Department(SQLModel, table=True):
    """An issuing department. Registered by an admin it is ``pending`` until a second admin approves it
    (``hub.access.approvals``); only an ``active`` department's feed is taken in."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=128)
    kind: str = Field(max_length=32, index=True)
    region_code: str = Field(foreign_key="region.code", max_length=12)
    uscc: str = Field(max_length=18, unique=True)
    issuer: str = Field(max_length=255, unique=True)
    status: str = _state("active")
    requested_by: int | None = None  # admin ids; None: the operator, at the command line
    approved_by: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DepartmentKey(SQLModel, table=True):
    """A department's public signing key: ``pending`` (added by an admin, awaiting a second) →
    ``active`` → ``retired`` (planned rotation: signs nothing that reaches the hub from ``retired_at``
    on) → ``compromised`` (what reached the hub, or claims to be signed, from ``compromised_since`` on
    is withheld)."""

    __tablename__ = "department_key"
    kid: str = Field(primary_key=True, max_length=128)
    department_id: str = Field(foreign_key="department.id", index=True, max_length=64)
    alg: str = Field(max_length=16)
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=16)
    rotation: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    requested_by: int | None = None
    approved_by: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    compromised_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    compromised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LicenceType(SQLModel, table=True):
    __tablename__ = "licence_type"
    code: str = Field(primary_key=True, max_length=32)
    name_zh: str = Field(max_length=128)
    name_en: str = Field(max_length=128)
    issuer_kind: str = Field(max_length=32)
    holder_kind: str = Field(max_length=16)
    holder_field: str = Field(max_length=64)
    number_field: str = Field(max_length=64)
    classification: str = Field(max_length=16)
    # A person holds one of these at a time (居民身份证, 户口簿): a second valid one from another issuer
    # is refused at ingest and raises a supervision alert.
    one_per_holder: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    fields: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Licence(SQLModel, table=True):
    """One licence across its versions; ``current_licence_id`` names the newest version."""

    __table_args__ = (
        UniqueConstraint("department_id", "type_code", "serial", name="uq_licence_serial"),
        UniqueConstraint("department_id", "status_list", "status_index", name="uq_licence_status_slot"),
        Index("ix_licence_holder", "holder_index", "type_code"),
    )
    id: int | None = Field(default=None, primary_key=True)
    department_id: str = Field(foreign_key="department.id", max_length=64)
    type_code: str = Field(foreign_key="licence_type.code", max_length=32)
    serial: str = Field(max_length=64)
    holder_index: str = Field(max_length=64)
    number_index: str = Field(max_length=64, index=True)
    current_version: int
    current_licence_id: str = Field(max_length=160)
    status: str = Field(default="01", max_length=2)
    status_reason: str | None = Field(default=None, max_length=255)  # the department's words: T1 and above
    status_reason_code: str | None = Field(default=None, max_length=32)  # hub.contract StatusReason: T0
    status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status_list: int
    status_index: int
    valid_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when the current version was signed by a key marked compromised (``key_compromised``): the
    # licence is not released and its status list entry reads invalid until a new version replaces it.
    withheld: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LicenceVersion(SQLModel, table=True):
    """A version as the department signed it; the credential is sealed (AES-GCM) at rest."""

    __tablename__ = "licence_version"
    __table_args__ = (UniqueConstraint("licence_pk", "version", name="uq_licence_version"),)
    licence_id: str = Field(primary_key=True, max_length=160)
    licence_pk: int = Field(foreign_key="licence.id")
    version: int
    previous_licence_id: str | None = Field(default=None, max_length=160)
    issuer_kid: str = Field(max_length=128)
    credential_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    credential_sha256: str = Field(max_length=64)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    valid_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    feed_sequence: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)  # when the hub received it


class LicenceStatusChange(SQLModel, table=True):
    """A department-signed status statement, kept verbatim (it holds ids and codes, no personal data)."""

    __tablename__ = "licence_status_change"
    id: int | None = Field(default=None, primary_key=True)
    licence_pk: int = Field(foreign_key="licence.id", index=True)
    licence_id: str = Field(max_length=160)
    status: str = Field(max_length=2)
    previous_status: str = Field(max_length=2)
    reason: str | None = Field(default=None, max_length=255)
    reason_code: str | None = Field(default=None, max_length=32)
    effective_at: datetime = Field(sa_type=UTCDateTime)
    statement: str = Field(sa_type=String)
    statement_jti: str = Field(max_length=128, unique=True)
    issuer_kid: str = Field(max_length=128)
    feed_sequence: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Feed(SQLModel, table=True):
    """A department's ingest feed: the last accepted batch sequence number."""

    department_id: str = Field(primary_key=True, foreign_key="department.id", max_length=64)
    last_sequence: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FeedBatch(SQLModel, table=True):
    """The stored result of an accepted batch, returned again when the sequence is replayed."""

    __tablename__ = "feed_batch"
    department_id: str = Field(primary_key=True, foreign_key="department.id", max_length=64)
    sequence: int = Field(primary_key=True)
    request_sha256: str = Field(max_length=64)
    accepted: int
    rejected: int
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IssuingAuthorization(SQLModel, table=True):
    """Department × licence type × jurisdiction (a region subtree) × validity, on a legal basis: what a
    department may issue, for holders of which region (DESIGN 3). Requested by an admin whose region
    holds the jurisdiction, ``active`` once a second admin of the level that owns the catalog approves
    it; ingest takes a credential or status change only under one in force."""

    __tablename__ = "issuing_authorization"
    __table_args__ = (Index("ix_issuing_authorization_department", "department_id", "type_code"),)
    id: int | None = Field(default=None, primary_key=True)
    department_id: str = Field(foreign_key="department.id", max_length=64)
    type_code: str = Field(foreign_key="licence_type.code", max_length=32)
    jurisdiction_code: str = Field(foreign_key="region.code", max_length=12)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_until: datetime = Field(sa_type=UTCDateTime)
    legal_basis: str = Field(max_length=512)
    status: str = Field(default="pending", max_length=16)
    requested_by: int | None = None  # admin ids; None: the operator (migration, command line, demo)
    approved_by: int | None = None
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: int | None = None
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Attachment(SQLModel, table=True):
    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    media_type: str = Field(max_length=128)
    department_id: str | None = Field(default=None, foreign_key="department.id", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


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
