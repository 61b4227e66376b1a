"""Response models of the citizen's pages: their licences and who used them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from hub.audit.schemas import InclusionProofRead, TreeHeadRead
from hub.contract.status import StatusReason


class MyLicenceRead(BaseModel):
    licence_id: str = Field(description="The current version's GB/T 36904 identifier.")
    type_code: str
    type_name_zh: str
    type_name_en: str
    department: str
    department_name: str
    version: int
    status: str = Field(description="01 valid … 07 revoked, 99 other; 05 when the validity has passed.")
    status_label: str
    status_reason_code: StatusReason | None = Field(description="Why the status last changed.")
    status_reason: str | None = Field(description="The department's own words for it.")
    valid_from: datetime | None
    valid_until: datetime | None


class ClientSummary(BaseModel):
    client_id: str
    name: str
    organisation: str
    kind: str
    department_id: str | None


class ServiceItemSummary(BaseModel):
    code: str
    name_zh: str | None = None
    name_en: str | None = None


class UsedLicence(BaseModel):
    licence_id: str
    type_code: str
    type_name_zh: str | None = None
    type_name_en: str | None = None
    tier: int | None = None


class RefusedUse(BaseModel):
    type_code: str
    reason: str


class AccessLogEntry(BaseModel):
    leaf_index: int
    event_id: int
    occurred_at: datetime
    action: str = Field(description="lookup or prefill (and later uses of your data).")
    outcome: str = Field(description="released, partial or refused.")
    client: ClientSummary | None = Field(description="Who asked.")
    service_item: ServiceItemSummary | None = Field(description="What for (the stated purpose).")
    case_id: str | None
    consent: bool = Field(description="Whether the use was under your consent.")
    licences: list[UsedLicence] = Field(description="Your licences released to the client.")
    refused: list[RefusedUse] = Field(description="Types asked for and not released, with the reason.")
    leaf: str = Field(
        description="The exact bytes logged for this use (canonical JSON): hash them with "
        "a 0x00 prefix (RFC 9162 §2.1.1) to get proof.leaf_hash."
    )
    proof: InclusionProofRead = Field(description="Inclusion in the tree of tree_head.")


class AccessLog(BaseModel):
    tree_head: TreeHeadRead = Field(description="Every proof below is against this signed head.")
    entries: list[AccessLogEntry]
    next_before: int | None = Field(description="Pass as ``before`` for older entries; null at the end.")
