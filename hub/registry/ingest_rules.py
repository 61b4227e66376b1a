"""What ingest checks operations against, and what the checks give: the :class:`CheckContext` of one
batch (plain values, so that it can be sent to other processes), the operations that passed, and the
problems that reject the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
class PreparedOperation:
    """An operation that passed every check that needs no database state."""

    index: int
    op: str
    licence_id: LicenceId
    kid: str
    issued_at: datetime
    # credential operations
    compact: str = ""
    type_code: str = ""
    holder_index: str = ""
    number_index: str = ""
    status_slot: tuple[int, int] = (0, 0)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    previous_licence_id: str | None = None
    attachments: list[str] = field(default_factory=list)
    # status operations
    status: LicenceStatus | None = None
    reason: str | None = None
    reason_code: str | None = None
    jti: str = ""


class Rejected(Exception):
    def __init__(self, error: HubError) -> None:
        self.error = error
