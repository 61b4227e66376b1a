"""Response models of the audit log, its proofs and supervision alerts. Hashes are standard base64, as
in RFC 6962's JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.audit.checkpoint import SIGNATURE_TYPE_ECDSA, NoteKey
from hub.audit.heads import b64
from hub.audit.log import ConsistencyProof, InclusionProof
from hub.audit.models import TreeHead


class TreeHeadRead(BaseModel):
    tree_size: int
    root_hash: str = Field(description="MTH of the first tree_size leaves, base64.")
    timestamp: int = Field(description="Milliseconds since the epoch, as signed.")
    signed: str = Field(description="JWS (typ tree-head+jwt, ES256, hub key in /.well-known/jwks.json).")

    @classmethod
    def of(cls, head: TreeHead) -> TreeHeadRead:
        return cls(
            tree_size=head.tree_size,
            root_hash=b64(head.root_hash),
            timestamp=head.timestamp_ms,
            signed=head.signed,
        )


class CheckpointKeyRead(BaseModel):
    vkey: str = Field(description="Note verifier key: <name>+<hex key id>+base64(0x02 || DER SPKI).")
    key_id: str = Field(description="The 4-byte key id in hex: SHA-256(DER SPKI)[:4].")


class CheckpointKeysRead(BaseModel):
    origin: str = Field(description="The checkpoints' origin line, also the signing key's name.")
    signature_type: int = Field(description="signed-note signature type: 2, ECDSA (P-256, SHA-256).")
    keys: list[CheckpointKeyRead]

    @classmethod
    def of(cls, origin: str, keys: list[NoteKey]) -> CheckpointKeysRead:
        return cls(
            origin=origin,
            signature_type=SIGNATURE_TYPE_ECDSA,
            keys=[CheckpointKeyRead(vkey=k.vkey, key_id=f"{k.key_id:08x}") for k in keys],
        )


class InclusionProofRead(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf bytes), base64.")
    audit_path: list[str] = Field(description="RFC 9162 §2.1.3.1 PATH, leaf level first, base64.")

    @classmethod
    def of(cls, proof: InclusionProof) -> InclusionProofRead:
        return cls(
            leaf_index=proof.leaf_index,
            tree_size=proof.tree_size,
            leaf_hash=b64(proof.leaf_hash),
            audit_path=[b64(h) for h in proof.path],
        )


class ConsistencyProofRead(BaseModel):
    first: int
    second: int
    consistency: list[str] = Field(description="RFC 9162 §2.1.4.1 PROOF, base64.")

    @classmethod
    def of(cls, proof: ConsistencyProof) -> ConsistencyProofRead:
        return cls(first=proof.first, second=proof.second, consistency=[b64(h) for h in proof.path])


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    leaf_index: int
    occurred_at: datetime
    action: str
    outcome: str
    actor_kind: str
    actor_id: str
    client_id: str | None
    region_code: str | None
    department_id: str | None
    holder_index: str | None = Field(description="The holder's blind index (no personal data).")
    purpose: str | None
    case_id: str | None
    type_codes: list[str]
    licence_ids: list[str]
    detail: dict[str, Any]

    @field_validator("type_codes", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else (value or [])


class AuditEventPage(BaseModel):
    events: list[AuditEventRead]
    next_before: int | None = Field(description="Pass as ``before`` for the next page; null at the end.")


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    rule: str
    severity: str
    subject_kind: str
    subject_id: str
    region_code: str | None
    summary: str
    detail: dict[str, Any]
    raised_at: datetime
    status: str
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    acknowledgement: str | None


class AlertPage(BaseModel):
    alerts: list[AlertRead]
    next_before: int | None


class AlertAcknowledge(BaseModel):
    note: str | None = Field(None, max_length=512, description="What was done about it.")
