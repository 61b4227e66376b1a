"""Request and response models for lookups and prefill."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from hub.contract.identifiers import CASE_ID_RULE, check_case_id
from hub.contract.status import StatusReason

CaseId = Annotated[
    str,
    Field(min_length=1, max_length=64, description=f"The approval case (办件编号): {CASE_ID_RULE}."),
    AfterValidator(check_case_id),
]

RefusalReason = Literal[
    "no_grant",
    "purpose_not_covered",
    "outside_region",
    "consent_needed",
    "tier_too_high",
    "no_licence",
    "key_compromised",
]


class LookupType(BaseModel):
    type_code: str = Field(min_length=1, max_length=32)
    tier: int | None = Field(
        None, ge=0, le=3, description="Highest tier wanted; default: all the grant allows."
    )


class LookupCreate(BaseModel):
    holder_id: str | None = Field(
        None,
        min_length=18,
        max_length=18,
        description="公民身份号码 or 统一社会信用代码; omit with a consent-bound token (the citizen).",
    )
    types: list[LookupType | str] = Field(min_length=1, max_length=20)
    purpose: str = Field(min_length=1, max_length=64, description="The service item code the data is for.")
    case_id: CaseId
    nonce: str = Field(min_length=8, max_length=128, description="Goes into each key-binding JWT.")


class ReleasedLicence(BaseModel):
    licence_id: str
    type_code: str
    tier: int
    presentation: str = Field(description="SD-JWT+KB: issuer-signed JWT, released disclosures, hub KB-JWT.")
    claims: dict[str, Any] = Field(description="The released claims, decoded (verify the presentation!).")
    status: str
    status_label: str
    status_reason_code: StatusReason | None = Field(None, description="Why the status last changed.")
    status_reason: str | None = Field(
        None, description="The department's own words for it; released at tier T1 and above only."
    )
    attachments: dict[str, str] = Field(default_factory=dict, description="Released attachment claim → URL.")


class RefusedType(BaseModel):
    type_code: str
    reason: RefusalReason
    detail: str


class LookupRead(BaseModel):
    purpose: str
    case_id: str
    released: list[ReleasedLicence]
    refused: list[RefusedType]
    audit_event: int = Field(description="Id of the audit event recording this use.")
    audit_leaf_index: int = Field(
        description="Its leaf in the audit log: GET /v1/audit/proofs/inclusion proves it is logged."
    )


class PrefillCreate(BaseModel):
    service_item: str = Field(min_length=1, max_length=64)
    case_id: CaseId
    nonce: str = Field(min_length=8, max_length=128)
    holder_id: str | None = Field(None, min_length=18, max_length=18)


class FormValue(BaseModel):
    value: Any
    licence_id: str
    claim: str


class MaterialOutcome(BaseModel):
    type_code: str | None
    name_zh: str
    name_en: str
    required: bool
    outcome: Literal["obtained", "missing", "refused", "bring"]
    reason: str | None = None
    licence_ids: list[str] = []


class PrefillRead(BaseModel):
    service_item: str
    case_id: str
    form: dict[str, FormValue]
    materials: list[MaterialOutcome]
    presentations: list[ReleasedLicence]
    complete: bool = Field(description="Every required material was obtained.")
    audit_event: int
    audit_leaf_index: int
