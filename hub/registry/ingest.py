"""Signed ingest of department feeds (DESIGN 5.1): ``POST /v1/licences/batch``.

A batch belongs to one department feed and carries the next sequence number. It is checked and applied
in one transaction: every operation is verified on its own (signature against the department's keys,
the type it may issue, the claims against the type's fields, identifier check digits), bad operations
are rejected with an RFC 9457 problem each, good ones are stored, and the result is kept so that a
replay of the same sequence returns it unchanged. The feed row is locked for the transaction, so two
batches of one feed never interleave, and a crash leaves the batch wholly present or wholly absent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.context import Hub
from hub.contract import sdjwt
from hub.contract.identifiers import check_citizen_id, check_uscc
from hub.contract.licence_id import LicenceId, LicenceIdError, parse_licence_id
from hub.contract.status import (
    CREDENTIAL_TYP,
    STATUS_CHANGE_TYP,
    STATUS_LIST_SIZE,
    LicenceStatus,
    status_list_path,
)
from hub.errors import (
    Conflict,
    Forbidden,
    HubError,
    InvalidInput,
    InvalidSignature,
    NotFound,
    PayloadTooLarge,
    SequenceGap,
    field_error,
)
from hub.kit.time import from_epoch, utcnow
from hub.registry import repository
from hub.registry.models import Department, DepartmentKey, FeedBatch, LicenceType
from hub.registry.schemas import LicenceBatchCreate, LicenceBatchRead, OperationResult

log = logging.getLogger("hub.registry.ingest")

# Claims the credential may carry in the clear besides tier-0 fields.
_PLAIN_CLAIMS = {
    "iss", "vct", "iat", "nbf", "exp", "licence_id", "previous_licence_id", "status", "cnf",
    "classification", "_sd", "_sd_alg",
}  # fmt: skip
_TERMINAL = {LicenceStatus.ANNULLED, LicenceStatus.CANCELLED, LicenceStatus.REVOKED}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_FIELD_CHARS = 4096


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


@dataclass
class _Prepared:
    """An operation that passed every check that needs no database state."""

    index: int
    op: str
    licence_id: LicenceId
    kid: str
    issued_at: datetime
    # credential operations
    compact: str = ""
    type: LicenceType | None = None
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
    jti: str = ""


class _Rejected(Exception):
    def __init__(self, error: HubError) -> None:
        self.error = error


def request_digest(batch: LicenceBatchCreate) -> str:
    canonical = json.dumps(batch.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def ingest_batch(session: Session, hub: Hub, batch: LicenceBatchCreate) -> LicenceBatchRead:
    """Apply one batch of a department feed; see the module docstring for the rules."""
    if len(batch.operations) > hub.settings.max_batch_operations:
        raise PayloadTooLarge(
            f"a batch holds at most {hub.settings.max_batch_operations} operations, "
            f"this one has {len(batch.operations)}",
            errors=[field_error("operations", f"at most {hub.settings.max_batch_operations} items")],
        )
    department = repository.get_department(session, batch.department)
    if department is None:
        raise NotFound(
            f"no department {batch.department!r}", errors=[field_error("department", "unknown department")]
        )
    digest = request_digest(batch)
    feed = repository.lock_feed(session, department.id)
    if batch.sequence <= feed.last_sequence:
        stored = repository.get_feed_batch(session, department.id, batch.sequence)
        if stored is None or stored.request_sha256 != digest:
            raise Conflict(
                f"sequence {batch.sequence} was already accepted with different content",
                errors=[field_error("sequence", "already used by a different batch")],
                expected_sequence=feed.last_sequence + 1,
            )
        log.info("licence.batch.replayed", extra={"department": department.id, "sequence": batch.sequence})
        return LicenceBatchRead.model_validate({**stored.result, "replayed": True})
    if batch.sequence != feed.last_sequence + 1:
        raise SequenceGap(
            f"expected sequence {feed.last_sequence + 1}, got {batch.sequence}",
            errors=[field_error("sequence", f"expected {feed.last_sequence + 1}")],
            expected_sequence=feed.last_sequence + 1,
        )

    checker = _OperationChecker(session, hub, department)
    prepared: list[_Prepared | HubError] = []
    for index, operation in enumerate(batch.operations):
        try:
            prepared.append(checker.prepare(index, operation.op, operation.credential, operation.statement))
        except _Rejected as rejected:
            prepared.append(rejected.error)
    op_names = [operation.op for operation in batch.operations]
    results = _apply(session, hub, department, batch.sequence, op_names, prepared)

    accepted = sum(r.outcome == "accepted" for r in results)
    read = LicenceBatchRead(
        department=department.id,
        sequence=batch.sequence,
        accepted=accepted,
        rejected=len(results) - accepted,
        results=results,
    )
    record = FeedBatch(
        department_id=department.id,
        sequence=batch.sequence,
        request_sha256=digest,
        accepted=read.accepted,
        rejected=read.rejected,
        result=read.model_dump(mode="json", exclude={"replayed"}),
        created_at=utcnow(),
    )
    repository.save_feed_batch(session, feed, record)
    log.info(
        "licence.batch.accepted",
        extra={
            "department": department.id,
            "sequence": batch.sequence,
            "accepted": read.accepted,
            "rejected": read.rejected,
        },
    )
    return read


class _OperationChecker:
    """Stateless checks of single operations, with what they need loaded once per batch."""

    def __init__(self, session: Session, hub: Hub, department: Department) -> None:
        self.hub = hub
        self.department = department
        self.keys: dict[str, DepartmentKey] = {
            k.kid: k for k in repository.department_keys(session, department.id)
        }
        self._key_objects: dict[str, Any] = {}
        self.types = {t.code: t for t in repository.list_licence_types(session)}
        self.hub_jwks = {k["kid"]: k for k in hub.signer.jwks["keys"]}
        self.list_prefix = status_list_path(department.id, 0).rsplit("/", 1)[0] + "/"

    # -- keys ------------------------------------------------------------------------------------------

    def _resolve_key(self, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        row = self.keys.get(kid) if isinstance(kid, str) else None
        if row is None:
            raise _Rejected(UnknownKey(f"kid {kid!r} is not a key of department {self.department.id!r}"))
        if header.get("alg") != row.alg:
            raise _Rejected(InvalidSignature(f"key {kid!r} is registered for {row.alg}"))
        if row.kid not in self._key_objects:
            from joserfc.jwk import JWKRegistry

            self._key_objects[row.kid] = JWKRegistry.import_key(dict(row.public_jwk))
        return self._key_objects[row.kid]

    def _check_key_time(self, kid: str, issued_at: datetime, where: str) -> None:
        row = self.keys[kid]
        if row.status == "retired" and row.retired_at is not None and issued_at > row.retired_at:
            raise _Rejected(
                InvalidSignature(
                    f"key {kid!r} was retired at {row.retired_at.isoformat()}; "
                    "it verifies only what it signed before",
                    errors=[field_error(where, "signed with a retired key after its retirement")],
                )
            )
        if row.status not in ("active", "retired"):
            raise _Rejected(InvalidSignature(f"key {kid!r} is {row.status}"))

    # -- operations ------------------------------------------------------------------------------------

    def prepare(self, index: int, op: str, credential: str | None, statement: str | None) -> _Prepared:
        where = f"operations[{index}]"
        if op in ("issue", "update"):
            if not credential:
                raise _Rejected(
                    InvalidInput(
                        f"{op} needs a credential", errors=[field_error(f"{where}.credential", "missing")]
                    )
                )
            return self._prepare_credential(index, op, credential, f"{where}.credential")
        if op == "status":
            if not statement:
                raise _Rejected(
                    InvalidInput(
                        "status needs a statement", errors=[field_error(f"{where}.statement", "missing")]
                    )
                )
            return self._prepare_status(index, statement, f"{where}.statement")
        raise _Rejected(
            InvalidInput(
                f"unknown operation {op!r}",
                errors=[field_error(f"{where}.op", "must be issue, update or status")],
            )
        )

    def _prepare_credential(self, index: int, op: str, compact: str, where: str) -> _Prepared:
        try:
            parsed = sdjwt.parse(compact)
        except sdjwt.SdJwtError as exc:
            raise _Rejected(
                MalformedCredential(str(exc), errors=[field_error(where, str(exc), exc.reason)])
            ) from None
        if parsed.kb_jwt:
            raise _Rejected(
                MalformedCredential(
                    "an issued credential carries no key-binding JWT",
                    errors=[field_error(where, "must end with '~' and hold no KB-JWT")],
                )
            )
        if parsed.header.get("typ") != CREDENTIAL_TYP:
            raise _Rejected(
                MalformedCredential(
                    f"header typ must be {CREDENTIAL_TYP}",
                    errors=[field_error(f"{where}.header.typ", "wrong type")],
                )
            )
        try:
            sdjwt.verify_issuer_signature(parsed, self._resolve_key)
        except sdjwt.SdJwtError as exc:
            raise _Rejected(
                InvalidSignature(str(exc), errors=[field_error(where, str(exc), exc.reason)])
            ) from None
        try:
            claims = sdjwt.resolve_disclosures(parsed)
        except sdjwt.SdJwtError as exc:
            # A disclosure the signed digests do not cover was altered or added: an integrity failure.
            integrity = exc.reason in ("disclosure_not_referenced", "duplicate_disclosure")
            error_cls = InvalidSignature if integrity else InvalidClaims
            raise _Rejected(
                error_cls(str(exc), errors=[field_error(f"{where}.disclosures", str(exc), exc.reason)])
            ) from None

        payload = parsed.payload
        if str(payload.get("classification", "")).lower() in ("state_secret", "涉密"):
            raise _Rejected(StateSecretRefused("state-secret (涉密) licences are never taken into the hub"))
        if payload.get("iss") != self.department.issuer:
            raise _Rejected(
                InvalidClaims(
                    f"iss must be the department's issuer {self.department.issuer!r}",
                    errors=[field_error(f"{where}.iss", "not this department's issuer")],
                )
            )
        licence_type = self._licence_type(payload.get("vct"), where)
        licence_id = self._licence_id(payload.get("licence_id"), licence_type, where)
        if op == "issue" and licence_id.version != 1:
            raise _Rejected(
                VersionConflict(
                    "an issue operation carries version 001; use update for later versions",
                    errors=[field_error(f"{where}.licence_id", "version must be 001 for issue")],
                )
            )
        if op == "update" and licence_id.version == 1:
            raise _Rejected(
                VersionConflict(
                    "an update carries version 002 or later",
                    errors=[field_error(f"{where}.licence_id", "version must be above 001 for update")],
                )
            )
        issued_at = self._epoch(payload, "iat", where, required=True)
        assert issued_at is not None
        valid_from = self._epoch(payload, "nbf", where)
        valid_until = self._epoch(payload, "exp", where)
        if valid_from and valid_until and valid_until <= valid_from:
            raise _Rejected(
                InvalidClaims("exp must be after nbf", errors=[field_error(f"{where}.exp", "not after nbf")])
            )
        kid = parsed.header["kid"]
        self._check_key_time(kid, issued_at, where)
        self._check_holder_binding(payload.get("cnf"), where)
        slot = self._status_slot(payload.get("status"), where)
        previous = payload.get("previous_licence_id")
        if previous is not None and not isinstance(previous, str):
            raise _Rejected(InvalidClaims("previous_licence_id must be a string"))
        attachments = self._check_claims(licence_type, payload, claims, parsed.disclosures, where)

        holder = claims[licence_type.holder_field]
        number = claims[licence_type.number_field]
        blind = self.hub.blind_index
        return _Prepared(
            index=index,
            op=op,
            licence_id=licence_id,
            kid=kid,
            issued_at=issued_at,
            compact=compact,
            type=licence_type,
            holder_index=blind.of(licence_type.holder_kind, str(holder)),
            number_index=blind.of(f"number:{licence_type.code}", str(number)),
            status_slot=slot,
            valid_from=valid_from,
            valid_until=valid_until,
            previous_licence_id=previous,
            attachments=attachments,
        )

    def _licence_type(self, vct: Any, where: str) -> LicenceType:
        licence_type = self.types.get(vct) if isinstance(vct, str) else None
        if licence_type is None:
            raise _Rejected(
                InvalidClaims(
                    f"unknown licence type {vct!r}",
                    errors=[field_error(f"{where}.vct", "not in the catalog")],
                )
            )
        if licence_type.classification == "state_secret":
            raise _Rejected(StateSecretRefused("state-secret (涉密) licences are never taken into the hub"))
        if licence_type.issuer_kind != self.department.kind:
            raise _Rejected(
                TypeNotIssuable(
                    f"a {self.department.kind} department may not issue {licence_type.code} "
                    f"({licence_type.name_en}), which {licence_type.issuer_kind} departments issue",
                    errors=[field_error(f"{where}.vct", "not issuable by this department")],
                )
            )
        return licence_type

    def _licence_id(self, value: Any, licence_type: LicenceType, where: str) -> LicenceId:
        try:
            licence_id = parse_licence_id(value)
        except LicenceIdError as exc:
            raise _Rejected(
                InvalidClaims(str(exc), errors=[field_error(f"{where}.licence_id", str(exc))])
            ) from None
        if licence_id.type_code != licence_type.code:
            raise _Rejected(
                InvalidClaims(
                    "licence_id names another type than vct",
                    errors=[field_error(f"{where}.licence_id", "type code differs from vct")],
                )
            )
        if licence_id.issuer_uscc != self.department.uscc:
            raise _Rejected(
                InvalidClaims(
                    "licence_id names another issuer than this department",
                    errors=[field_error(f"{where}.licence_id", "issuer USCC is not the department's")],
                )
            )
        return licence_id

    @staticmethod
    def _epoch(payload: dict[str, Any], name: str, where: str, required: bool = False) -> datetime | None:
        value = payload.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 32503680000:
            raise _Rejected(
                InvalidClaims(
                    f"{name} must be a NumericDate",
                    errors=[field_error(f"{where}.{name}", "not a NumericDate")],
                )
            )
        return from_epoch(value)

    def _check_holder_binding(self, cnf: Any, where: str) -> None:
        jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        hub_key = self.hub_jwks.get(jwk.get("kid")) if isinstance(jwk, dict) else None
        if not hub_key or any(jwk.get(k) != hub_key.get(k) for k in ("kty", "crv", "x", "y")):
            raise _Rejected(
                InvalidClaims(
                    "cnf.jwk must be one of the hub's holder keys (from /.well-known/jwks.json)",
                    errors=[field_error(f"{where}.cnf", "not bound to a hub key")],
                )
            )

    def _status_slot(self, status: Any, where: str) -> tuple[int, int]:
        ref = status.get("status_list") if isinstance(status, dict) else None
        uri, idx = (ref.get("uri"), ref.get("idx")) if isinstance(ref, dict) else (None, None)
        problem = None
        list_number = -1
        if not isinstance(uri, str) or not isinstance(idx, int) or isinstance(idx, bool):
            problem = "must be {status_list: {uri, idx}}"
        else:
            path = uri.split("://", 1)[-1]
            path = path[path.find("/") :] if "/" in path else ""
            tail = path[len(self.list_prefix) :] if path.startswith(self.list_prefix) else ""
            if not tail.isdigit():
                problem = f"uri must end in {self.list_prefix}<list number>"
            else:
                list_number = int(tail)
                if not 0 <= idx < STATUS_LIST_SIZE:
                    problem = f"idx must be within 0..{STATUS_LIST_SIZE - 1}"
        if problem:
            raise _Rejected(
                InvalidClaims(f"status: {problem}", errors=[field_error(f"{where}.status", problem)])
            )
        return list_number, int(idx)  # type: ignore[arg-type]

    def _check_claims(
        self,
        licence_type: LicenceType,
        payload: dict[str, Any],
        claims: dict[str, Any],
        disclosures: list[sdjwt.Disclosure],
        where: str,
    ) -> list[str]:
        fields = {f["name"]: f for f in licence_type.fields}
        errors = []
        disclosed = {d.name for d in disclosures}
        for name in payload:
            if name in _PLAIN_CLAIMS:
                continue
            spec = fields.get(name)
            if spec is None:
                errors.append(field_error(f"{where}.claims.{name}", "not a field of this licence type"))
            elif spec["tier"] > 0:
                errors.append(
                    field_error(f"{where}.claims.{name}", "personal field must be selectively disclosable")
                )
        for name in disclosed - fields.keys():
            errors.append(field_error(f"{where}.claims.{name}", "not a field of this licence type"))
        attachments: list[str] = []
        for name, spec in fields.items():
            if name not in claims:
                if spec.get("required"):
                    errors.append(field_error(f"{where}.claims.{name}", "required field missing"))
                continue
            if spec["tier"] > 0 and name not in disclosed:
                continue  # reported above as a plain personal claim
            reason = _field_problem(spec, claims[name])
            if reason:
                errors.append(field_error(f"{where}.claims.{name}", reason))
            elif spec["kind"] == "attachment":
                attachments.append(claims[name])
        if errors:
            raise _Rejected(
                InvalidClaims(
                    "; ".join(f"{e['field'].rsplit('.', 1)[-1]}: {e['reason']}" for e in errors[:5]),
                    errors=errors,
                )
            )
        return attachments

    # -- status statements -----------------------------------------------------------------------------

    def _prepare_status(self, index: int, statement: str, where: str) -> _Prepared:
        try:
            header, payload = sdjwt.verify_jws(statement, self._resolve_key, typ=STATUS_CHANGE_TYP)
        except sdjwt.SdJwtError as exc:
            error_cls = MalformedCredential if exc.reason == "malformed" else InvalidSignature
            raise _Rejected(error_cls(str(exc), errors=[field_error(where, str(exc), exc.reason)])) from None
        if payload.get("iss") != self.department.issuer:
            raise _Rejected(
                InvalidClaims(
                    "iss must be the department's issuer",
                    errors=[field_error(f"{where}.iss", "wrong issuer")],
                )
            )
        try:
            licence_id = parse_licence_id(payload.get("licence_id"))
        except LicenceIdError as exc:
            raise _Rejected(
                InvalidClaims(str(exc), errors=[field_error(f"{where}.licence_id", str(exc))])
            ) from None
        if licence_id.issuer_uscc != self.department.uscc:
            raise _Rejected(
                InvalidClaims(
                    "licence_id names another issuer", errors=[field_error(f"{where}.licence_id", "not ours")]
                )
            )
        try:
            status = LicenceStatus(payload.get("status"))
        except ValueError:
            raise _Rejected(
                InvalidClaims(
                    "status must be one of 01-07 or 99",
                    errors=[field_error(f"{where}.status", "unknown status code")],
                )
            ) from None
        jti = payload.get("jti")
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise _Rejected(
                InvalidClaims(
                    "jti must be a unique string of 8-128 characters",
                    errors=[field_error(f"{where}.jti", "missing or malformed")],
                )
            )
        reason = payload.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
            raise _Rejected(InvalidClaims("reason must be a string of at most 255 characters"))
        issued_at = self._epoch(payload, "iat", where, required=True)
        assert issued_at is not None
        self._check_key_time(header["kid"], issued_at, where)
        return _Prepared(
            index=index,
            op="status",
            licence_id=licence_id,
            kid=header["kid"],
            issued_at=issued_at,
            compact=statement,
            status=status,
            reason=reason,
            jti=jti,
        )


def _field_problem(spec: dict[str, Any], value: Any) -> str | None:
    kind = spec["kind"]
    if kind in ("string", "enum", "date", "id_number", "uscc", "attachment") and not isinstance(value, str):
        return "must be a string"
    if kind == "string" and len(value) > _MAX_FIELD_CHARS:
        return f"at most {_MAX_FIELD_CHARS} characters"
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return "must be an integer"
    if kind == "boolean" and not isinstance(value, bool):
        return "must be true or false"
    if kind == "enum" and value not in (spec.get("values") or []):
        return f"must be one of {', '.join(spec.get('values') or [])}"
    if kind == "date":
        try:
            if not _DATE.match(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            return "must be a date YYYY-MM-DD"
    if kind == "id_number":
        try:
            check_citizen_id(value)
        except ValueError as exc:
            return str(exc)
    if kind == "uscc":
        try:
            check_uscc(value)
        except ValueError as exc:
            return str(exc)
    if kind == "attachment" and not _SHA256.match(value):
        return "must be the lower-case hex SHA-256 of an uploaded attachment"
    return None


def _apply(
    session: Session,
    hub: Hub,
    department: Department,
    sequence: int,
    op_names: list[str],
    prepared: list[_Prepared | HubError],
) -> list[OperationResult]:
    """Apply checked operations in order against the stored licences, then write everything at once."""
    checked = [p for p in prepared if isinstance(p, _Prepared)]
    existing = repository.licences_by_serial(
        session, department.id, ((p.licence_id.type_code, p.licence_id.serial) for p in checked)
    )
    used_slots = repository.used_status_slots(
        session, department.id, (p.status_slot for p in checked if p.op == "issue")
    )
    known_attachments = repository.existing_attachments(session, (d for p in checked for d in p.attachments))
    used_jtis = repository.existing_statement_ids(session, (p.jti for p in checked if p.op == "status"))

    state: dict[tuple[str, str], dict[str, Any]] = {k: dict(v) for k, v in existing.items()}
    created: set[tuple[str, str]] = set()
    touched: set[tuple[str, str]] = set()
    versions: list[tuple[tuple[str, str], dict[str, Any]]] = []
    changes: list[tuple[tuple[str, str], dict[str, Any]]] = []
    results: list[OperationResult] = []
    now = utcnow()

    for item in prepared:
        if isinstance(item, HubError):
            index = len(results)
            results.append(_rejection(index, op_names[index], item))
            continue
        try:
            results.append(
                _apply_one(
                    item,
                    hub,
                    state,
                    created,
                    touched,
                    versions,
                    changes,
                    used_slots,
                    known_attachments,
                    used_jtis,
                    sequence,
                    now,
                )
            )
        except _Rejected as rejected:
            results.append(_rejection(item.index, item.op, rejected.error))

    new_rows = [{**state[k], "department_id": department.id} for k in state if k in created]
    ids = repository.insert_licences(session, new_rows)
    for key, licence_pk in ids.items():
        state[key]["id"] = licence_pk
    repository.update_licences(session, [state[k] for k in touched if k not in created])
    repository.insert_versions(session, [{**row, "licence_pk": state[key]["id"]} for key, row in versions])
    repository.insert_status_changes(
        session, [{**row, "licence_pk": state[key]["id"]} for key, row in changes]
    )
    return results


def _rejection(index: int, op: str, error: HubError) -> OperationResult:
    return OperationResult(index=index, op=op[:16], outcome="rejected", problem=error.to_problem())


def _apply_one(
    item: _Prepared,
    hub: Hub,
    state: dict[tuple[str, str], dict[str, Any]],
    created: set[tuple[str, str]],
    touched: set[tuple[str, str]],
    versions: list[tuple[tuple[str, str], dict[str, Any]]],
    changes: list[tuple[tuple[str, str], dict[str, Any]]],
    used_slots: set[tuple[int, int]],
    known_attachments: set[str],
    used_jtis: set[str],
    sequence: int,
    now: datetime,
) -> OperationResult:
    where = f"operations[{item.index}]"
    key = (item.licence_id.type_code, item.licence_id.serial)
    current = state.get(key)
    licence_id = str(item.licence_id)

    if item.op == "status":
        if current is None:
            raise _Rejected(
                NotFound(
                    f"no licence {licence_id}", errors=[field_error(f"{where}.licence_id", "unknown licence")]
                )
            )
        if item.jti in used_jtis:
            raise _Rejected(
                Conflict(
                    "this status statement was already applied",
                    errors=[field_error(f"{where}.jti", "replayed")],
                )
            )
        assert item.status is not None
        if item.licence_id.version > current["current_version"]:
            raise _Rejected(
                VersionConflict(
                    f"licence has no version {item.licence_id.version:03d}",
                    errors=[field_error(f"{where}.licence_id", "names a version not yet issued")],
                )
            )
        used_jtis.add(item.jti)
        changes.append(
            (
                key,
                {
                    "licence_id": licence_id,
                    "status": item.status.value,
                    "previous_status": current["status"],
                    "reason": item.reason,
                    "effective_at": item.issued_at,
                    "statement": item.compact,
                    "statement_jti": item.jti,
                    "issuer_kid": item.kid,
                    "feed_sequence": sequence,
                    "created_at": now,
                },
            )
        )
        current.update(
            status=item.status.value,
            status_reason=item.reason,
            status_changed_at=item.issued_at,
            updated_at=now,
        )
        touched.add(key)
        return OperationResult(
            index=item.index, op="status", outcome="accepted", licence_id=licence_id,
            version=item.licence_id.version, status=item.status.value,
        )  # fmt: skip

    assert item.type is not None
    missing = [d for d in item.attachments if d not in known_attachments]
    if missing:
        raise _Rejected(
            InvalidClaims(
                "the credential references attachments that were never uploaded",
                errors=[field_error(f"{where}.credential", f"unknown attachment {d}") for d in missing],
            )
        )
    if item.op == "issue":
        if current is not None:
            raise _Rejected(
                VersionConflict(
                    f"licence {licence_id} already exists (version {current['current_version']:03d})",
                    errors=[field_error(f"{where}.licence_id", "already issued; use update")],
                )
            )
        if item.status_slot in used_slots:
            raise _Rejected(
                Conflict(
                    f"status list {item.status_slot[0]} index {item.status_slot[1]} is already used",
                    errors=[field_error(f"{where}.credential.status", "index in use by another licence")],
                )
            )
        used_slots.add(item.status_slot)
        current = state[key] = {
            "type_code": item.type.code,
            "serial": item.licence_id.serial,
            "status": LicenceStatus.VALID.value,
            "status_reason": None,
            "status_changed_at": None,
            "status_list": item.status_slot[0],
            "status_index": item.status_slot[1],
            "created_at": now,
        }
        created.add(key)
        previous_licence_id = item.previous_licence_id
    else:
        if current is None:
            raise _Rejected(
                NotFound(
                    f"no licence {item.licence_id.with_version(1)} to update",
                    errors=[field_error(f"{where}.licence_id", "unknown licence; issue it first")],
                )
            )
        expected = current["current_version"] + 1
        if item.licence_id.version != expected:
            raise _Rejected(
                VersionConflict(
                    f"expected version {expected:03d}, got {item.licence_id.version:03d}",
                    errors=[field_error(f"{where}.licence_id", f"version must be {expected:03d}")],
                )
            )
        if LicenceStatus(current["status"]) in _TERMINAL:
            raise _Rejected(
                Conflict(
                    f"licence is {LicenceStatus(current['status']).label_en}; issue a new licence instead",
                    errors=[field_error(f"{where}.licence_id", "licence is no longer in force")],
                )
            )
        if (current["status_list"], current["status_index"]) != item.status_slot:
            raise _Rejected(
                Conflict(
                    "a new version keeps the licence's status list entry",
                    errors=[field_error(f"{where}.credential.status", "differs from the licence's entry")],
                )
            )
        previous_licence_id = current["current_licence_id"]
        if item.previous_licence_id not in (None, previous_licence_id):
            raise _Rejected(
                Conflict(
                    "previous_licence_id is not the current version",
                    errors=[
                        field_error(
                            f"{where}.credential.previous_licence_id", f"expected {previous_licence_id}"
                        )
                    ],
                )
            )
        touched.add(key)
    current.update(
        current_version=item.licence_id.version,
        current_licence_id=licence_id,
        holder_index=item.holder_index,
        number_index=item.number_index,
        valid_from=item.valid_from,
        valid_until=item.valid_until,
        updated_at=now,
    )
    credential = item.compact.encode()
    versions.append(
        (
            key,
            {
                "licence_id": licence_id,
                "version": item.licence_id.version,
                "previous_licence_id": previous_licence_id,
                "issuer_kid": item.kid,
                "credential_sealed": hub.keyring.seal(credential, aad=licence_id.encode()),
                "credential_sha256": hashlib.sha256(credential).hexdigest(),
                "issued_at": item.issued_at,
                "valid_from": item.valid_from,
                "valid_until": item.valid_until,
                "feed_sequence": sequence,
                "created_at": now,
            },
        )
    )
    return OperationResult(
        index=item.index, op=item.op, outcome="accepted", licence_id=licence_id,
        version=item.licence_id.version, status=current["status"],
    )  # fmt: skip
