"""What ingest checks operations against, and what the checks give: the :class:`CheckContext` of one
batch (plain values, so that it can be sent to other processes), the operations that passed, and the
problems that reject the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from hub.contract.licence_id import LicenceId
from hub.contract.status import LicenceStatus
from hub.errors import Conflict, Forbidden, HubError, InvalidInput, InvalidSignature


class StateSecretRefused(Forbidden):
    code, title = "state-secret-refused", "State-secret licences are never taken in"


class TypeNotIssuable(Forbidden):
    code, title = "type-not-issuable", "The department may not issue this licence type"


class UnknownKey(InvalidSignature):
    code, title = "unknown-key", "Signed by a key the department has not registered"


class MalformedCredential(InvalidInput):
    code, title = "malformed-credential", "Malformed credential"


class InvalidClaims(InvalidInput):
    code, title = "invalid-claims", "Claims do not match the licence type"


class VersionConflict(Conflict):
    code, title = "version-conflict", "Licence version conflict"


class NotAuthorizedToIssue(Forbidden):
    code, title = "not-authorized-to-issue", "No issuing authorization in force covers this"


class KeyNotInForce(InvalidSignature):
    code, title = "key-not-in-force", "Signed by a key that is not in force"


class ConflictingIssuer(Conflict):
    code, title = "conflicting-issuer", "The holder has a valid licence of this type from another issuer"


@dataclass(frozen=True, slots=True)
class TypeRules:
    """What ingest checks of a licence type (a plain copy of its catalog row)."""

    code: str
    name_en: str
    classification: str
    issuer_kind: str
    holder_kind: str
    holder_field: str
    number_field: str
    one_per_holder: bool
    fields: dict[str, dict[str, Any]]  # by name, in catalog order


@dataclass(frozen=True, slots=True)
class KeyRules:
    """A department key as ingest checks it: what it signs with, and whether it still may."""

    kid: str
    alg: str
    public_jwk: dict[str, Any]
    status: str
    retired_at: datetime | None
    compromised_since: datetime | None


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """An issuing authorization in force, as ingest checks it: the regions whose holders it covers. One
    over the root of the region tree also covers holders whose identifier names a region the hub does
    not know (a citizen whose number was first given in another city)."""

    authorization_id: int
    code: str
    regions: frozenset[str]
    covers_unknown: bool


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything the checks of one batch read, loaded once: the department, its keys, the catalog, the
    hub's holder keys and the prefix of the department's status list URIs."""

    department_id: str
    issuer: str
    uscc: str
    kind: str
    keys: dict[str, KeyRules]
    types: dict[str, TypeRules]
    hub_jwks: dict[str, dict[str, Any]]
    list_prefix: str
    jurisdictions: dict[str, tuple[Jurisdiction, ...]]  # by licence type code
    known_regions: frozenset[str]


@dataclass(slots=True)
class PreparedCredential:
    """An issue or update whose credential passed every check that needs no database state."""

    index: int  # in the batch
    op: str  # "issue" or "update"
    licence_id: LicenceId
    kid: str
    issued_at: datetime  # iat
    compact: str  # the SD-JWT VC as the department sent it
    type_code: str
    holder_index: str  # blind indexes of the holder's identifier and of the licence number
    number_index: str
    status_slot: tuple[int, int]  # (list number, index) of its status list entry
    valid_from: datetime | None  # nbf
    valid_until: datetime | None  # exp
    previous_licence_id: str | None
    attachments: list[str]  # the SHA-256 digests of the attachments its claims name


@dataclass(slots=True)
class PreparedStatus:
    """A status change whose statement passed every check that needs no database state."""

    op: ClassVar[str] = "status"
    index: int  # in the batch
    licence_id: LicenceId
    kid: str
    issued_at: datetime  # iat: when the change takes effect
    compact: str  # the status statement (a JWS) as the department sent it
    status: LicenceStatus
    reason: str | None
    reason_code: str | None
    jti: str


Prepared = PreparedCredential | PreparedStatus


class Rejected(Exception):
    """What a check raises: ``error`` is the problem that rejects the operation."""

    def __init__(self, error: HubError) -> None:
        self.error = error
