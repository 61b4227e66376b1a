"""Registry rules other than ingest: regions, departments and their keys, the licence type catalog,
licence status, status list tokens (IETF Token Status List) and attachments."""

from __future__ import annotations

import base64
import logging
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol

from joserfc.jwk import JWKRegistry
from sqlalchemy.orm import Session

from hub.context import Hub
from hub.contract.identifiers import check_uscc
from hub.contract.licence_id import LicenceIdError, parse_licence_id
from hub.contract.status import STATUS_LIST_BITS, STATUS_LIST_SIZE, LicenceStatus, status_list_path
from hub.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    field_error,
)
from hub.kit.time import to_epoch, utcnow
from hub.registry import repository
from hub.registry.models import (
    Attachment,
    Department,
    DepartmentKey,
    IssuingAuthorization,
    LicenceType,
    Region,
)
from hub.registry.repository import CatalogType
from hub.registry.schemas import (
    FeedCursorRead,
    LicenceStatusRead,
    LicenceTypeRead,
    RegionRead,
    RegionSummary,
    StatusListRef,
)
from storage.objects import ObjectCorrupt, ObjectStoreError, ObjectTooLarge

log = logging.getLogger("hub.registry")


class FeedClient(Protocol):
    """The client pushing to or reading a department's feed (an OAuth client; the registry needs only
    these)."""

    client_id: str
    kind: str
    department_id: str | None


DEPARTMENT_KINDS = ("police", "commerce", "civil_affairs")
DEPARTMENT_ALGS = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
_DEPARTMENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


# Regions ---------------------------------------------------------------------------------------------


def seed_regions(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Add or rename regions (parents before children, as ``load_regions`` gives them)."""
    regions = [
        {"code": r["code"], "name": r["name"], "level": r["level"], "parent_code": r["parent"]} for r in rows
    ]
    repository.upsert_regions(session, regions)
    return len(regions)


def get_region(session: Session, code: str) -> RegionRead:
    """A region with its path from the root and its direct children."""
    region = repository.get_region(session, code)
    if region is None:
        raise NotFound(f"no region {code!r}")
    path = [region.code]
    parent = region.parent_code
    while parent:
        path.insert(0, parent)
        parent_row = repository.get_region(session, parent)
        parent = parent_row.parent_code if parent_row else None
    children = [
        RegionSummary(code=c.code, name=c.name, level=c.level)
        for c in repository.region_children(session, code)
    ]
    return RegionRead(
        code=region.code,
        name=region.name,
        level=region.level,
        parent_code=region.parent_code,
        path=path,
        children=children,
    )


def find_region(session: Session, code: str) -> Region | None:
    return repository.get_region(session, code)


def is_top_region(session: Session, code: str) -> bool:
    """Whether ``code`` is a region with no parent (the city)."""
    region = repository.get_region(session, code)
    return region is not None and region.parent_code is None


def region_subtree(session: Session, root: str) -> list[str]:
    """``root`` and every region below it (from the region tree cached in process)."""
    return repository.region_subtree(session, root)


def region_ancestors(session: Session, code: str) -> list[str]:
    """``code`` and its ancestors up to the root, nearest first (from the cached region tree)."""
    parents = repository.region_parents(session)
    chain: list[str] = []
    current: str | None = code
    while current and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def region_within(session: Session, code: str, root: str) -> bool:
    """Whether region ``code`` is ``root`` or lies below it."""
    return root in region_ancestors(session, code)


# Departments -----------------------------------------------------------------------------------------


def register_department(
    session: Session,
    *,
    id: str,
    name: str,
    kind: str,
    region_code: str,
    uscc: str,
    issuer: str,
    requested_by: int | None = None,
) -> Department:
    """Register an issuing department (its keys and issuing authorizations are added separately).

    Registered by the operator (``requested_by`` None) it is active at once; by an admin it is pending
    until a second admin approves it (``hub.access.service.approve_department``)."""
    errors = []
    if not _DEPARTMENT_ID.match(id):
        errors.append(field_error("id", "2-63 characters of a-z, 0-9 and '-'"))
    if kind not in DEPARTMENT_KINDS:
        errors.append(field_error("kind", f"one of {', '.join(DEPARTMENT_KINDS)}"))
    try:
        uscc = check_uscc(uscc)
    except ValueError as exc:
        errors.append(field_error("uscc", str(exc)))
    if repository.get_region(session, region_code) is None:
        errors.append(field_error("region_code", "unknown region"))
    if not issuer.startswith(("https://", "http://", "urn:")):
        errors.append(field_error("issuer", "must be a URI"))
    if errors:
        raise InvalidInput("invalid department", errors=errors)
    if repository.get_department(session, id) is not None:
        raise Conflict(f"department {id!r} already exists", errors=[field_error("id", "taken")])
    for column, value in (("uscc", uscc), ("issuer", issuer)):
        if repository.department_with(session, column, value) is not None:
            raise Conflict(f"another department has this {column}", errors=[field_error(column, "taken")])
    department = Department(
        id=id,
        name=name,
        kind=kind,
        region_code=region_code,
        uscc=uscc,
        issuer=issuer,
        status="active" if requested_by is None else "pending",
        requested_by=requested_by,
    )
    session.add(department)
    session.flush()
    log.info("department.registered", extra={"department": id})
    return department


def add_department_key(
    session: Session,
    department_id: str,
    public_jwk: dict[str, Any],
    *,
    requested_by: int | None = None,
    rotation: bool = False,
) -> DepartmentKey:
    """Register a department's public signing key (ES256 on P-256 or EdDSA on Ed25519).

    Added by the operator (``requested_by`` None) it is active at once; by an admin it is pending until
    a second admin approves it. A ``rotation`` key retires the department's other active keys when it
    becomes active."""
    if repository.get_department(session, department_id) is None:
        raise NotFound(f"no department {department_id!r}")
    jwk = {k: v for k, v in public_jwk.items() if k in ("kty", "crv", "x", "y", "kid", "alg", "use")}
    if "d" in public_jwk:
        raise InvalidInput(
            "that is a private key; register only the public part", errors=[field_error("jwk.d", "private")]
        )
    alg = jwk.get("alg") or ("EdDSA" if jwk.get("kty") == "OKP" else "ES256")
    expected = DEPARTMENT_ALGS.get(alg)
    if expected is None or (jwk.get("kty"), jwk.get("crv")) != expected:
        raise InvalidInput(
            "department keys are ES256 (EC P-256) or EdDSA (OKP Ed25519)",
            errors=[field_error("jwk", "unsupported key type or curve")],
        )
    try:
        key = JWKRegistry.import_key(jwk)
    except Exception as exc:  # joserfc raises several types for bad key material
        raise InvalidInput(
            f"not a usable public key: {exc}", errors=[field_error("jwk", "invalid key")]
        ) from None
    kid = jwk.get("kid") or key.thumbprint()
    if repository.get_department_key(session, kid) is not None:
        raise Conflict(f"key {kid!r} is already registered")
    jwk.update(kid=kid, alg=alg, use="sig")
    row = DepartmentKey(
        kid=kid,
        department_id=department_id,
        alg=alg,
        public_jwk=jwk,
        requested_by=requested_by,
        rotation=rotation,
        status="pending" if requested_by is not None else "active",
    )
    session.add(row)
    session.flush()
    if row.status == "active":
        activate_department_key(session, row)
    log.info("department.key.added", extra={"department": department_id, "kid": kid, "status": row.status})
    return row


def department_key(session: Session, department_id: str, kid: str) -> DepartmentKey:
    row = repository.get_department_key(session, kid)
    if row is None or row.department_id != department_id:
        raise NotFound(f"department {department_id!r} has no key {kid!r}")
    return row


def activate_department_key(session: Session, row: DepartmentKey) -> list[str]:
    """Make a key active; a rotation key retires the department's other active keys. Returns their kids."""
    row.status, row.activated_at = "active", utcnow()
    retired = []
    if row.rotation:
        for other in repository.department_keys(session, row.department_id):
            if other.kid != row.kid and other.status == "active":
                retire_department_key(session, row.department_id, other.kid)
                retired.append(other.kid)
    return retired


def retire_department_key(session: Session, department_id: str, kid: str) -> DepartmentKey:
    """Retire a key (planned rotation): from now on nothing it signed is taken in, whatever its ``iat``;
    what the hub received before stays valid."""
    row = department_key(session, department_id, kid)
    if row.status != "active":
        raise Conflict(f"key {kid!r} is {row.status}, not active")
    row.status, row.retired_at = "retired", utcnow()
    log.info("department.key.retired", extra={"department": department_id, "kid": kid})
    return row


def compromise_department_key(
    session: Session, department_id: str, kid: str, since: datetime | None
) -> tuple[DepartmentKey, int]:
    """Mark a key compromised from ``since`` (default now): it signs nothing more, and every licence
    whose current version it signed and that reached the hub, or claims to be signed, from ``since`` on
    is withheld (not released; invalid in its status list). Returns the key and how many were withheld."""
    row = department_key(session, department_id, kid)
    now = utcnow()
    if since is not None and since.tzinfo is None:
        raise InvalidInput(
            "give the time with a UTC offset", errors=[field_error("compromised_since", "no UTC offset")]
        )
    since = since or now
    if since > now:
        raise InvalidInput(
            "a key is compromised from a time that has come",
            errors=[field_error("compromised_since", "in the future")],
        )
    if row.status == "compromised" and row.compromised_since is not None and row.compromised_since <= since:
        return row, 0  # marked already, from as early or earlier
    row.status, row.compromised_since, row.compromised_at = "compromised", since, now
    session.flush()
    withheld = repository.withhold_signed_by(session, kid, since)
    log.warning(
        "department.key.compromised",
        extra={"department": department_id, "kid": kid, "since": since.isoformat(), "withheld": withheld},
    )
    return row, withheld


def _epoch_or_none(moment: datetime | None) -> int | None:
    return to_epoch(moment) if moment is not None else None


def department_jwks(session: Session, department_id: str) -> dict[str, Any]:
    """The department's keys that are or were in force, each with its state and times (NumericDate):
    ``status`` (active, retired, compromised), ``activated_at``, ``retired_at``, ``compromised_since``.
    A verifier trusts a retired key only for what it signed before ``retired_at`` and a compromised key
    only for what it signed before ``compromised_since`` (``hub.contract.verifier``)."""
    if repository.get_department(session, department_id) is None:
        raise NotFound(f"no department {department_id!r}")
    keys = []
    for key in repository.department_keys(session, department_id):
        if key.status == "pending":
            continue
        times = {
            "activated_at": _epoch_or_none(key.activated_at),
            "retired_at": _epoch_or_none(key.retired_at),
            "compromised_since": _epoch_or_none(key.compromised_since),
        }
        keys.append(dict(key.public_jwk, status=key.status, **{k: v for k, v in times.items() if v}))
    return {"keys": keys}


# Issuing authorizations -------------------------------------------------------------------------------


def authorize_issuing(
    session: Session,
    *,
    department_id: str,
    type_code: str,
    jurisdiction_code: str,
    valid_until: datetime,
    legal_basis: str,
    valid_from: datetime | None = None,
    requested_by: int | None = None,
) -> IssuingAuthorization:
    """Record an issuing authorization. The operator's (``requested_by`` None: migration, command line,
    demo) is in force at once; an admin's waits for a second admin (``hub.access.service``)."""
    department = repository.get_department(session, department_id)
    if department is None:
        raise InvalidInput("unknown department", errors=[field_error("department_id", "unknown")])
    licence_type = repository.get_licence_type(session, type_code)
    if licence_type is None:
        raise InvalidInput("unknown licence type", errors=[field_error("type_code", "not in the catalog")])
    if licence_type.classification == "state_secret":
        raise Forbidden("state-secret (涉密) licence types are never taken into the hub")
    if licence_type.issuer_kind != department.kind:
        raise InvalidInput(
            f"{type_code} is issued by {licence_type.issuer_kind} departments, not {department.kind}",
            errors=[field_error("type_code", "not of the department's kind")],
        )
    if repository.get_region(session, jurisdiction_code) is None:
        raise InvalidInput("unknown region", errors=[field_error("jurisdiction_code", "unknown region")])
    now = utcnow()
    for name, value in (("valid_from", valid_from), ("valid_until", valid_until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("give times with a UTC offset", errors=[field_error(name, "no UTC offset")])
    start = valid_from or now
    if valid_until <= max(start, now):
        raise InvalidInput(
            "valid_until must be later than now and valid_from",
            errors=[field_error("valid_until", "too early")],
        )
    operator = requested_by is None
    return repository.add_issuing_authorization(
        session,
        IssuingAuthorization(
            department_id=department_id,
            type_code=type_code,
            jurisdiction_code=jurisdiction_code,
            valid_from=start,
            valid_until=valid_until,
            legal_basis=legal_basis,
            status="active" if operator else "pending",
            requested_by=requested_by,
            approved_at=now if operator else None,
        ),
    )


def authorize_every_type(
    session: Session, department_id: str, *, jurisdiction_code: str, valid_until: datetime, legal_basis: str
) -> list[IssuingAuthorization]:
    """The operator's issuing authorizations for every catalog type of the department's kind (seeding:
    ``hub demo``, ``hub departments add --authorize``, tests and benchmarks)."""
    department = repository.get_department(session, department_id)
    if department is None:
        raise NotFound(f"no department {department_id!r}")
    return [
        authorize_issuing(
            session,
            department_id=department_id,
            type_code=t.code,
            jurisdiction_code=jurisdiction_code,
            valid_until=valid_until,
            legal_basis=legal_basis,
        )
        for t in repository.list_licence_types(session, department.kind)
        if t.classification != "state_secret"
    ]


# Licence types ---------------------------------------------------------------------------------------


def register_licence_type(session: Session, spec: dict[str, Any]) -> LicenceType:
    """Add or replace a catalog type. State-secret (涉密) types are refused: they never enter the hub."""
    if spec.get("classification") == "state_secret":
        raise Forbidden(
            "state-secret (涉密) licence types are never taken into the hub",
            errors=[field_error("classification", "state_secret is refused")],
        )
    try:
        checked = LicenceTypeRead.model_validate(spec)
    except ValueError as exc:
        raise InvalidInput(f"invalid licence type: {exc}") from None
    names = [f.name for f in checked.fields]
    errors = []
    if not re.fullmatch(r"[0-9A-Z]{1,32}", checked.code):
        errors.append(field_error("code", "upper-case letters and digits only"))
    if len(set(names)) != len(names):
        errors.append(field_error("fields", "duplicate field names"))
    for role in ("holder_field", "number_field"):
        if getattr(checked, role) not in names:
            errors.append(field_error(role, "names no field"))
    if checked.issuer_kind not in DEPARTMENT_KINDS:
        errors.append(field_error("issuer_kind", f"one of {', '.join(DEPARTMENT_KINDS)}"))
    if errors:
        raise InvalidInput("invalid licence type", errors=errors)
    values = checked.model_dump(exclude={"code"})
    row = repository.get_licence_type(session, checked.code)
    if row is None:
        row = LicenceType(code=checked.code, **values)
    for name, value in values.items():
        setattr(row, name, value)
    session.add(row)
    session.flush()
    repository.CATALOG_TYPES.invalidate(session)  # lookups read the catalog from an in-process cache
    return row


def list_licence_types(session: Session, issuer_kind: str | None = None) -> list[LicenceType]:
    return list(repository.list_licence_types(session, issuer_kind))


def list_departments(session: Session, kind: str | None = None) -> list[Department]:
    """The departments in force (approved), for the public catalog."""
    return [d for d in repository.list_departments(session, kind) if d.status == "active"]


def get_licence_type(session: Session, code: str) -> LicenceType:
    row = repository.get_licence_type(session, code)
    if row is None:
        raise NotFound(f"no licence type {code!r}")
    return row


def find_department(session: Session, department_id: str) -> Department | None:
    return repository.get_department(session, department_id)


def find_licence_type(session: Session, code: str) -> LicenceType | None:
    return repository.get_licence_type(session, code)


def catalog_type(session: Session, code: str) -> CatalogType | None:
    """Licence type ``code`` as cached in process for lookups (never mutated)."""
    return repository.catalog_type(session, code)


def department_keys(session: Session, department_id: str) -> list[DepartmentKey]:
    return list(repository.department_keys(session, department_id))


def find_issuing_authorization(session: Session, authorization_id: int) -> IssuingAuthorization | None:
    return repository.get_issuing_authorization(session, authorization_id)


def list_issuing_authorizations(session: Session, **filters: Any) -> list[IssuingAuthorization]:
    return list(repository.list_issuing_authorizations(session, **filters))


def holder_licences(session: Session, holder_index: str, type_code: str) -> list[Any]:
    """The holder's licences of a type with their current version, as a release reads them."""
    return list(repository.holder_licences(session, holder_index, type_code))


def find_attachment(session: Session, sha256: str) -> Attachment | None:
    return repository.get_attachment(session, sha256)


# Feeds -----------------------------------------------------------------------------------------------


def feed_cursor(session: Session, department_id: str, *, reader: FeedClient) -> FeedCursorRead:
    """Where a department's feed stands, so its adapter can resume after a crash."""
    if reader.department_id != department_id:
        raise Forbidden(
            f"client {reader.client_id} may not read the feed of {department_id!r}",
            errors=[field_error("department", "not the calling client's department")],
        )
    if repository.get_department(session, department_id) is None:
        raise NotFound(f"no department {department_id!r}")
    feed = repository.get_feed(session, department_id)
    last = feed.last_sequence if feed else 0
    return FeedCursorRead(
        department=department_id,
        last_sequence=last,
        next_sequence=last + 1,
        updated_at=feed.updated_at if feed else None,
        next_status_index={
            str(k): v for k, v in repository.next_status_indexes(session, department_id).items()
        },
    )


# Status ----------------------------------------------------------------------------------------------


def effective_status(stored: str, valid_until: Any, now: Any = None) -> LicenceStatus:
    """The status a verifier should act on: expiry is computed from validity, never stored."""
    status = LicenceStatus(stored)
    if status is LicenceStatus.VALID and valid_until is not None and valid_until <= (now or utcnow()):
        return LicenceStatus.LAPSED
    return status


def licence_status(session: Session, hub: Hub, licence_id: str) -> LicenceStatusRead:
    """Status, validity and version of a licence (T0: no personal field)."""
    try:
        parse_licence_id(licence_id)
    except LicenceIdError as exc:
        raise InvalidInput(str(exc), errors=[field_error("licence_id", str(exc))]) from None
    version = repository.get_version(session, licence_id)
    licence = repository.get_licence(session, version.licence_pk) if version else None
    if version is None or licence is None:
        raise NotFound(f"no licence {licence_id!r}")
    status = effective_status(licence.status, licence.valid_until)
    return LicenceStatusRead(
        licence_id=licence_id,
        current_licence_id=licence.current_licence_id,
        version=version.version,
        current_version=licence.current_version,
        type_code=licence.type_code,
        department=licence.department_id,
        status=status.value,
        status_label=status.label_en,
        status_reason_code=licence.status_reason_code,
        status_changed_at=licence.status_changed_at,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        status_list=StatusListRef(
            uri=hub.settings.public_url + status_list_path(licence.department_id, licence.status_list),
            idx=licence.status_index,
        ),
    )


def status_list_token(session: Session, hub: Hub, department_id: str, list_number: int) -> str:
    """A hub-signed Status List Token (draft-ietf-oauth-status-list) for one of a department's lists:
    2 bits per licence (0 valid, 1 invalid, 2 suspended), lapsed validity counted as invalid."""
    if repository.get_department(session, department_id) is None:
        raise NotFound(f"no department {department_id!r}")
    if not 0 <= list_number < 1_000_000:
        raise InvalidInput("list number out of range", errors=[field_error("list", "0..999999")])
    now = utcnow()
    per_byte = 8 // STATUS_LIST_BITS
    buffer = bytearray(STATUS_LIST_SIZE // per_byte)
    for index, stored, valid_until, withheld in repository.status_list_entries(
        session, department_id, list_number
    ):
        # A withheld licence (its signing key compromised) reads invalid, whatever its own status.
        value = 1 if withheld else effective_status(stored, valid_until, now).token_status
        buffer[index // per_byte] |= value << ((index % per_byte) * STATUS_LIST_BITS)
    encoded = base64.urlsafe_b64encode(zlib.compress(bytes(buffer), 9)).rstrip(b"=").decode()
    ttl = hub.settings.status_list_ttl_seconds
    payload = {
        "sub": hub.settings.public_url + status_list_path(department_id, list_number),
        "iss": hub.settings.public_url,
        "iat": to_epoch(now),
        "exp": to_epoch(now) + ttl,
        "ttl": ttl,
        "status_list": {"bits": STATUS_LIST_BITS, "lst": encoded},
    }
    return hub.signer.sign(payload, typ="statuslist+jwt")


# Data-key rotation ------------------------------------------------------------------------------------


def reseal_credentials(session: Session, hub: Hub, *, batch_size: int = 500) -> int:
    """Re-encrypt stored credentials sealed by an older data key with the active one, in batches.

    Run after putting a new key first in ``HUB_DATA_KEYS``; the old key can leave the keyring once this
    and ``hub keys reseal`` report nothing left to do."""
    count = 0
    for licence_id, sealed in repository.versions_sealed_with_other_keys(
        session, hub.keyring.active.kid, batch_size
    ):
        resealed = hub.keyring.reseal(sealed, aad=licence_id.encode())
        repository.set_sealed_credential(session, licence_id, resealed)
        count += 1
    return count


# Attachments -----------------------------------------------------------------------------------------


@dataclass
class AttachmentReseal:
    """What ``reseal_attachments`` did: objects (re)sealed, already sealed by the active key, and the
    digests it could not seal and why (missing, the store failing, or an object failing its integrity
    check: left as they are)."""

    resealed: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def reseal_attachments(session: Session, hub: Hub, *, batch_size: int = 500) -> AttachmentReseal:
    """Seal every stored attachment with the active data key: plain objects written before sealing
    (the migration) and objects sealed by an older key (rotation). Idempotent: a second run rewrites
    nothing. Only reads the database; the objects are rewritten in place under the same digest."""
    report = AttachmentReseal()
    for sha256 in repository.attachment_digests(session, batch_size):
        try:
            changed = hub.objects.reseal(sha256)
        except (ObjectStoreError, ObjectCorrupt) as exc:  # missing, unreachable, full, or corrupt
            log.error("attachment.reseal_failed", extra={"sha256": sha256, "reason": str(exc)})
            report.failed[sha256] = str(exc)
            continue
        if changed:
            report.resealed += 1
        else:
            report.unchanged += 1
    log.info("attachment.resealed", extra={"count": report.resealed, "failed": len(report.failed)})
    return report


_MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}


def store_attachment(
    session: Session, hub: Hub, stream: BinaryIO, media_type: str, department_id: str | None
) -> Attachment:
    """Stream a file into the object store, content-addressed, after checking its type and size."""
    media_type = media_type.split(";")[0].strip().lower()
    allowed = hub.settings.attachment_media_types
    if media_type not in allowed:
        raise UnsupportedMediaType(
            f"media type {media_type or '(none)'!r} is not accepted; use one of {', '.join(allowed)}",
            errors=[field_error("Content-Type", "not an accepted media type")],
        )
    head = stream.read(16)
    stream.seek(0)
    if not head.startswith(_MAGIC.get(media_type, (b"",))):
        raise UnsupportedMediaType(
            f"the content is not {media_type}",
            errors=[field_error("body", "content does not match Content-Type")],
        )
    if department_id is not None and repository.get_department(session, department_id) is None:
        raise NotFound(f"no department {department_id!r}", errors=[field_error("department", "unknown")])
    limit = hub.settings.max_attachment_bytes
    try:
        stored = hub.objects.put(stream, media_type=media_type, max_bytes=limit)
    except ObjectTooLarge:
        raise PayloadTooLarge(
            f"attachments are at most {limit} bytes", errors=[field_error("body", f"over {limit} bytes")]
        ) from None
    row = repository.add_attachment(
        session,
        Attachment(
            sha256=stored.sha256, size=stored.size, media_type=media_type, department_id=department_id
        ),
    )
    log.info("attachment.stored", extra={"sha256": row.sha256, "size": row.size})
    return row
