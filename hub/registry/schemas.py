"""Request and response models of the registry API (DESIGN section 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.contract.status import StatusReason


class RegionRead(BaseModel):
    code: str
    name: str
    level: Literal["city", "county", "township", "village"]
    parent_code: str | None
    path: list[str] = Field(description="Codes from the root of the tree down to this region.")
    children: list[RegionSummary] = []


class RegionSummary(BaseModel):
    code: str
    name: str
    level: str


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    region_code: str
    uscc: str
    issuer: str
    status: str = Field(description="pending (awaiting a second admin) or active")
    requested_by: int | None = None
    approved_by: int | None = None


class DepartmentCreate(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=128)
    kind: Literal["police", "commerce", "civil_affairs"]
    region_code: str = Field(pattern=r"^\d{6}(\d{3}){0,2}$")
    uscc: str = Field(min_length=18, max_length=18)
    issuer: str = Field(min_length=8, max_length=255, description="The issuer URI its credentials carry.")


class DepartmentKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kid: str
    department_id: str
    alg: str
    public_jwk: dict[str, Any]
    status: str = Field(description="pending, active, retired or compromised")
    rotation: bool = Field(False, description="on approval, the department's other active keys retire")
    requested_by: int | None = None
    approved_by: int | None = None
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None
    compromised_since: datetime | None = None


class KeyCompromise(BaseModel):
    compromised_since: datetime | None = Field(
        None,
        description="From when the key is to be distrusted (default: now). What the hub received from "
        "then on, or what claims to be signed from then on, is withheld.",
    )


class IssuingAuthorizationCreate(BaseModel):
    department_id: str = Field(min_length=1, max_length=64)
    type_code: str = Field(min_length=1, max_length=32)
    jurisdiction_code: str = Field(
        pattern=r"^\d{6}(\d{3}){0,2}$", description="The region subtree whose holders it may issue for."
    )
    valid_from: datetime | None = None
    valid_until: datetime
    legal_basis: str = Field(min_length=1, max_length=512)


class IssuingAuthorizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    department_id: str
    type_code: str
    jurisdiction_code: str
    valid_from: datetime
    valid_until: datetime
    legal_basis: str
    status: str = Field(description="pending, active or revoked")
    requested_by: int | None
    approved_by: int | None
    approved_at: datetime | None
    revoked_by: int | None
    revoked_at: datetime | None
    created_at: datetime


class LicenceFieldRead(BaseModel):
    name: str
    label_zh: str
    label_en: str
    tier: int = Field(ge=0, le=3)
    kind: str
    required: bool
    values: list[str] | None = None


class LicenceTypeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name_zh: str
    name_en: str
    issuer_kind: str
    holder_kind: Literal["person", "organisation"]
    holder_field: str
    number_field: str
    classification: str
    one_per_holder: bool = Field(False, description="a holder has one valid licence of it at a time")
    fields: list[LicenceFieldRead]


class BatchOperation(BaseModel):
    """One operation of a batch. ``issue`` and ``update`` carry an SD-JWT VC signed by the department;
    ``status`` carries a department-signed JWS (``typ: licence-status+jwt``)."""

    model_config = ConfigDict(extra="allow")
    op: str = Field(description="issue | update | status", examples=["issue"])
    credential: str | None = Field(None, description="SD-JWT VC (compact, ending in '~').")
    statement: str | None = Field(None, description="Status change JWS.")


class LicenceBatchCreate(BaseModel):
    department: str = Field(min_length=1, max_length=64, description="Id of the department's feed.")
    sequence: int = Field(ge=1, description="Feed sequence number: the last accepted one plus one.")
    operations: list[BatchOperation] = Field(min_length=1)


class OperationResult(BaseModel):
    index: int
    op: str
    outcome: Literal["accepted", "rejected"]
    licence_id: str | None = None
    version: int | None = None
    status: str | None = None
    problem: dict[str, Any] | None = Field(None, description="RFC 9457 problem for a rejected operation.")


class LicenceBatchRead(BaseModel):
    department: str
    sequence: int
    accepted: int
    rejected: int
    replayed: bool = False
    results: list[OperationResult]
    audit_leaf_index: int | None = Field(
        None, description="The audit log leaf recording this batch (none for batches stored before it)."
    )


class FeedCursorRead(BaseModel):
    department: str
    last_sequence: int
    next_sequence: int
    updated_at: datetime | None
    next_status_index: dict[str, int] = Field(
        description="Per status list number, the lowest index above every one the department has used."
    )


class StatusListRef(BaseModel):
    uri: str
    idx: int


class LicenceStatusRead(BaseModel):
    licence_id: str
    current_licence_id: str
    version: int
    current_version: int
    type_code: str
    department: str
    status: str = Field(description="01 valid … 07 revoked, 99 other; 05 when the validity has passed.")
    status_label: str
    status_reason_code: StatusReason | None = Field(
        description="Why the status last changed, from a closed list that names no life event; the "
        "department's own words are released with the licence at tier T1 and above, never here."
    )
    status_changed_at: datetime | None
    valid_from: datetime | None
    valid_until: datetime | None
    status_list: StatusListRef


class AttachmentRead(BaseModel):
    sha256: str
    size: int
    media_type: str


RegionRead.model_rebuild()


class MaterialSpec(BaseModel):
    type_code: str | None = None
    name_zh: str | None = None
    name_en: str | None = None
    tier: int = Field(0, ge=0, le=3)
    required: bool = True
    fields: dict[str, str] = Field(default_factory=dict, description="Form field → claim name.")


class ServiceItemWrite(BaseModel):
    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=128)
    name_en: str = Field(min_length=1, max_length=128)
    owner_kind: str = Field(min_length=1, max_length=64)
    levels: list[Literal["city", "county", "township", "village"]] = Field(min_length=1)
    legal_basis: str = Field(min_length=1, max_length=512)
    statutory_days: int = Field(ge=1, le=365)
    promised_days: int = Field(ge=1, le=365)
    materials: list[MaterialSpec] = Field(min_length=1, max_length=30)


class ServiceItemRead(ServiceItemWrite):
    model_config = ConfigDict(from_attributes=True)
    updated_at: datetime
