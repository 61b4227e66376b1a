"""Checks of single ingest operations that need no database state: signatures against the department's
keys, the licence type it may issue, the licence id, the claims against the type's fields and identifier
check digits. Each failure is a :class:`~hub.registry.ingest_rules.Rejected` carrying the problem to
report for that operation.

What the checks need is read once per batch into a :class:`~hub.registry.ingest_rules.CheckContext` of
plain values (by
``hub.registry.ingest.load_context``), so that the checks can run in the hub's worker processes
(``hub.kit.pool``) as well as in the request's own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.contract import sdjwt
from hub.contract.fields import field_problem
from hub.contract.identifiers import holder_region
from hub.contract.licence_id import LicenceId, LicenceIdError, parse_licence_id
from hub.contract.status import (
    CREDENTIAL_TYP,
    STATUS_CHANGE_TYP,
    STATUS_LIST_SIZE,
    LicenceStatus,
    StatusReason,
)
from hub.errors import HubError, InvalidInput, InvalidSignature, field_error
from hub.kit.blind_index import BlindIndex
from hub.kit.time import from_epoch
from hub.registry.ingest_rules import (
    CheckContext,
    InvalidClaims,
    KeyNotInForce,
    MalformedCredential,
    NotAuthorizedToIssue,
    Prepared,
    PreparedCredential,
    PreparedStatus,
    Rejected,
    StateSecretRefused,
    TypeNotIssuable,
    TypeRules,
    UnknownKey,
    VersionConflict,
)

# Claims the credential may carry in the clear besides tier-0 fields.
_PLAIN_CLAIMS = frozenset(
    {"iss", "iat", "nbf", "exp"}  # registered JWT claims (RFC 7519 §4.1)
    | {"vct", "status"}  # the type and the status list entry (draft-ietf-oauth-sd-jwt-vc §3.2.2)
    | {"cnf"}  # the holder's key (RFC 7800)
    | {"_sd", "_sd_alg"}  # the disclosures' digests and their hash algorithm (RFC 9901)
    | {"licence_id", "previous_licence_id", "classification"}  # the hub's licence contract
)
REASON_CODES = frozenset(code.value for code in StatusReason)


Operation = tuple[str, str | None, str | None]  # (op, credential, statement), as the batch holds them
Checked = Prepared | HubError


class OperationChecker:
    """Checks of single operations against one batch's :class:`CheckContext`; no database access.

    It is the :class:`hub.kit.pool.Checker` of a batch: the worker pool sends it, with the batch, to the
    worker processes that share the checking."""

    def __init__(self, context: CheckContext, blind_index: BlindIndex) -> None:
        self.context = context
        self.blind_index = blind_index
        self._key_objects: dict[str, Any] = {}

    def __reduce__(self) -> tuple[type[OperationChecker], tuple[CheckContext, BlindIndex]]:
        # Sent to a worker without the keys imported so far: each process imports those it uses.
        return OperationChecker, (self.context, self.blind_index)

    def check_each(self, operations: list[Operation], start: int = 0) -> list[Checked]:
        """Each ``(op, credential, statement)`` checked: the prepared operation, or the problem that
        rejects it. ``start`` is the index of the first one in its batch."""
        checked: list[Checked] = []
        for index, (op, credential, statement) in enumerate(operations, start):
            try:
                checked.append(self.prepare(index, op, credential, statement))
            except Rejected as rejected:
                checked.append(rejected.error)
        return checked

    def strip(self, result: Checked) -> Checked:
        """A worker sends a prepared operation back without the credential or statement: the hub has it."""
        if not isinstance(result, HubError):
            result.compact = ""
        return result

    def restore(self, result: Checked, operation: Operation) -> Checked:
        """The credential or statement back in a prepared operation a worker sent."""
        _, credential, statement = operation
        if isinstance(result, PreparedCredential):
            result.compact = credential or ""
        elif isinstance(result, PreparedStatus):
            result.compact = statement or ""
        return result

    # -- keys ------------------------------------------------------------------------------------------

    def _resolve_key(self, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        row = self.context.keys.get(kid) if isinstance(kid, str) else None
        if row is None:
            raise Rejected(
                UnknownKey(f"kid {kid!r} is not a key of department {self.context.department_id!r}")
            )
        if header.get("alg") != row.alg:
            raise Rejected(InvalidSignature(f"key {kid!r} is registered for {row.alg}"))
        if row.kid not in self._key_objects:
            from joserfc.jwk import JWKRegistry

            self._key_objects[row.kid] = JWKRegistry.import_key(dict(row.public_jwk))
        return self._key_objects[row.kid]

    def _check_key_in_force(self, kid: str, where: str) -> None:
        """Only an active key signs what the hub takes in. What reaches the hub after a key's retirement
        or compromise is refused whatever its ``iat``, which the signer chooses."""
        row = self.context.keys[kid]
        if row.status == "active":
            return
        when = {"retired": row.retired_at, "compromised": row.compromised_since}.get(row.status)
        since = f" since {when.isoformat()}" if when else ""
        then = "it awaits a second admin's approval" if row.status == "pending" else "it signs nothing new"
        raise Rejected(
            KeyNotInForce(
                f"key {kid!r} is {row.status}{since}; {then}",
                errors=[field_error(where, f"signed with a {row.status} key")],
            )
        )

    def _check_authorized(self, type_code: str, holder_region: str | None, where: str) -> int:
        """The id of an issuing authorization in force for ``type_code`` whose jurisdiction holds
        ``holder_region`` (any jurisdiction when None, as for a status change); else :class:`Rejected`."""
        jurisdictions = self.context.jurisdictions.get(type_code, ())
        for jurisdiction in jurisdictions:
            if holder_region is None or holder_region in jurisdiction.regions:
                return jurisdiction.authorization_id
            if jurisdiction.covers_unknown and holder_region not in self.context.known_regions:
                return jurisdiction.authorization_id
        held = ", ".join(f"#{j.authorization_id} over {j.code}" for j in jurisdictions) or "none"
        over = f" over region {holder_region}" if holder_region else ""
        raise Rejected(
            NotAuthorizedToIssue(
                f"department {self.context.department_id!r} holds no issuing authorization in force for "
                f"{type_code}{over} (its authorizations for this type: {held})",
                errors=[field_error(f"{where}.vct", f"no issuing authorization in force{over}")],
            )
        )

    # -- operations ------------------------------------------------------------------------------------

    def prepare(self, index: int, op: str, credential: str | None, statement: str | None) -> Prepared:
        where = f"operations[{index}]"
        if op in ("issue", "update"):
            if not credential:
                raise Rejected(
                    InvalidInput(
                        f"{op} needs a credential", errors=[field_error(f"{where}.credential", "missing")]
                    )
                )
            return self._prepare_credential(index, op, credential, f"{where}.credential")
        if op == "status":
            if not statement:
                raise Rejected(
                    InvalidInput(
                        "status needs a statement", errors=[field_error(f"{where}.statement", "missing")]
                    )
                )
            return self._prepare_status(index, statement, f"{where}.statement")
        raise Rejected(
            InvalidInput(
                f"unknown operation {op!r}",
                errors=[field_error(f"{where}.op", "must be issue, update or status")],
            )
        )

    def _prepare_credential(self, index: int, op: str, compact: str, where: str) -> PreparedCredential:
        try:
            parsed = sdjwt.parse(compact)
        except sdjwt.SdJwtError as exc:
            raise Rejected(
                MalformedCredential(str(exc), errors=[field_error(where, str(exc), exc.reason)])
            ) from None
        if parsed.kb_jwt:
            raise Rejected(
                MalformedCredential(
                    "an issued credential carries no key-binding JWT",
                    errors=[field_error(where, "must end with '~' and hold no KB-JWT")],
                )
            )
        if parsed.header.get("typ") != CREDENTIAL_TYP:
            raise Rejected(
                MalformedCredential(
                    f"header typ must be {CREDENTIAL_TYP}",
                    errors=[field_error(f"{where}.header.typ", "wrong type")],
                )
            )
        try:
            sdjwt.verify_issuer_signature(parsed, self._resolve_key)
        except sdjwt.SdJwtError as exc:
            raise Rejected(
                InvalidSignature(str(exc), errors=[field_error(where, str(exc), exc.reason)])
            ) from None
        try:
            claims = sdjwt.resolve_disclosures(parsed)
        except sdjwt.SdJwtError as exc:
            # A disclosure the signed digests do not cover was altered or added: an integrity failure.
            integrity = exc.reason in ("disclosure_not_referenced", "duplicate_disclosure")
            error_cls = InvalidSignature if integrity else InvalidClaims
            raise Rejected(
                error_cls(str(exc), errors=[field_error(f"{where}.disclosures", str(exc), exc.reason)])
            ) from None

        payload = parsed.payload
        if str(payload.get("classification", "")).lower() in ("state_secret", "涉密"):
            raise Rejected(StateSecretRefused("state-secret (涉密) licences are never taken into the hub"))
        if payload.get("iss") != self.context.issuer:
            raise Rejected(
                InvalidClaims(
                    f"iss must be the department's issuer {self.context.issuer!r}",
                    errors=[field_error(f"{where}.iss", "not this department's issuer")],
                )
            )
        licence_type = self._licence_type(payload.get("vct"), where)
        licence_id = self._licence_id(payload.get("licence_id"), licence_type, where)
        if op == "issue" and licence_id.version != 1:
            raise Rejected(
                VersionConflict(
                    "an issue operation carries version 001; use update for later versions",
                    errors=[field_error(f"{where}.licence_id", "version must be 001 for issue")],
                )
            )
        if op == "update" and licence_id.version == 1:
            raise Rejected(
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
            raise Rejected(
                InvalidClaims("exp must be after nbf", errors=[field_error(f"{where}.exp", "not after nbf")])
            )
        kid = parsed.header["kid"]
        self._check_key_in_force(kid, where)
        self._check_holder_binding(payload.get("cnf"), where)
        slot = self._status_slot(payload.get("status"), where)
        previous = payload.get("previous_licence_id")
        if previous is not None and not isinstance(previous, str):
            raise Rejected(InvalidClaims("previous_licence_id must be a string"))
        attachments = self._check_claims(licence_type, payload, claims, parsed.disclosures, where)

        holder = claims[licence_type.holder_field]
        number = claims[licence_type.number_field]
        self._check_authorized(licence_type.code, holder_region(licence_type.holder_kind, str(holder)), where)
        blind = self.blind_index
        return PreparedCredential(
            index=index,
            op=op,
            licence_id=licence_id,
            kid=kid,
            issued_at=issued_at,
            compact=compact,
            type_code=licence_type.code,
            holder_index=blind.of(licence_type.holder_kind, str(holder)),
            number_index=blind.of(f"number:{licence_type.code}", str(number)),
            status_slot=slot,
            valid_from=valid_from,
            valid_until=valid_until,
            previous_licence_id=previous,
            attachments=attachments,
        )

    def _licence_type(self, vct: Any, where: str) -> TypeRules:
        licence_type = self.context.types.get(vct) if isinstance(vct, str) else None
        if licence_type is None:
            raise Rejected(
                InvalidClaims(
                    f"unknown licence type {vct!r}",
                    errors=[field_error(f"{where}.vct", "not in the catalog")],
                )
            )
        if licence_type.classification == "state_secret":
            raise Rejected(StateSecretRefused("state-secret (涉密) licences are never taken into the hub"))
        if licence_type.issuer_kind != self.context.kind:
            raise Rejected(
                TypeNotIssuable(
                    f"a {self.context.kind} department may not issue {licence_type.code} "
                    f"({licence_type.name_en}), which {licence_type.issuer_kind} departments issue",
                    errors=[field_error(f"{where}.vct", "not issuable by this department")],
                )
            )
        return licence_type

    def _licence_id(self, value: Any, licence_type: TypeRules, where: str) -> LicenceId:
        try:
            licence_id = parse_licence_id(value)
        except LicenceIdError as exc:
            raise Rejected(
                InvalidClaims(str(exc), errors=[field_error(f"{where}.licence_id", str(exc))])
            ) from None
        if licence_id.type_code != licence_type.code:
            raise Rejected(
                InvalidClaims(
                    "licence_id names another type than vct",
                    errors=[field_error(f"{where}.licence_id", "type code differs from vct")],
                )
            )
        if licence_id.issuer_uscc != self.context.uscc:
            raise Rejected(
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
            raise Rejected(
                InvalidClaims(
                    f"{name} must be a NumericDate",
                    errors=[field_error(f"{where}.{name}", "not a NumericDate")],
                )
            )
        return from_epoch(value)

    def _check_holder_binding(self, cnf: Any, where: str) -> None:
        jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        hub_key = self.context.hub_jwks.get(str(jwk.get("kid"))) if isinstance(jwk, dict) else None
        if (
            not hub_key
            or not isinstance(jwk, dict)
            or any(jwk.get(k) != hub_key.get(k) for k in ("kty", "crv", "x", "y"))
        ):
            raise Rejected(
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
            prefix = self.context.list_prefix
            tail = uri[len(prefix) :] if uri.startswith(prefix) else ""
            if not tail.isdigit():
                problem = f"uri must end in {prefix}<list number>"
            else:
                list_number = int(tail)
                if not 0 <= idx < STATUS_LIST_SIZE:
                    problem = f"idx must be within 0..{STATUS_LIST_SIZE - 1}"
        if problem:
            raise Rejected(
                InvalidClaims(f"status: {problem}", errors=[field_error(f"{where}.status", problem)])
            )
        return list_number, int(idx)  # type: ignore[arg-type]

    def _check_claims(
        self,
        licence_type: TypeRules,
        payload: dict[str, Any],
        claims: dict[str, Any],
        disclosures: list[sdjwt.Disclosure],
        where: str,
    ) -> list[str]:
        fields = licence_type.fields
        errors = []
        disclosed = {d.name for d in disclosures if d.name is not None}
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
            reason = field_problem(spec, claims[name])
            if reason:
                errors.append(field_error(f"{where}.claims.{name}", reason))
            elif spec["kind"] == "attachment":
                attachments.append(claims[name])
        if errors:
            raise Rejected(
                InvalidClaims(
                    "; ".join(f"{e['field'].rsplit('.', 1)[-1]}: {e['reason']}" for e in errors[:5]),
                    errors=errors,
                )
            )
        return attachments

    # -- status statements -----------------------------------------------------------------------------

    def _prepare_status(self, index: int, statement: str, where: str) -> PreparedStatus:
        try:
            header, payload = sdjwt.verify_jws(statement, self._resolve_key, typ=STATUS_CHANGE_TYP)
        except sdjwt.SdJwtError as exc:
            error_cls = MalformedCredential if exc.reason == "malformed" else InvalidSignature
            raise Rejected(error_cls(str(exc), errors=[field_error(where, str(exc), exc.reason)])) from None
        if payload.get("iss") != self.context.issuer:
            raise Rejected(
                InvalidClaims(
                    "iss must be the department's issuer",
                    errors=[field_error(f"{where}.iss", "wrong issuer")],
                )
            )
        try:
            licence_id = parse_licence_id(str(payload.get("licence_id", "")))
        except LicenceIdError as exc:
            raise Rejected(
                InvalidClaims(str(exc), errors=[field_error(f"{where}.licence_id", str(exc))])
            ) from None
        if licence_id.issuer_uscc != self.context.uscc:
            raise Rejected(
                InvalidClaims(
                    "licence_id names another issuer", errors=[field_error(f"{where}.licence_id", "not ours")]
                )
            )
        try:
            status = LicenceStatus(str(payload.get("status")))
        except ValueError:
            raise Rejected(
                InvalidClaims(
                    "status must be one of 01-07 or 99",
                    errors=[field_error(f"{where}.status", "unknown status code")],
                )
            ) from None
        jti = payload.get("jti")
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise Rejected(
                InvalidClaims(
                    "jti must be a unique string of 8-128 characters",
                    errors=[field_error(f"{where}.jti", "missing or malformed")],
                )
            )
        reason = payload.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
            raise Rejected(
                InvalidClaims(
                    "reason must be a string of at most 255 characters",
                    errors=[field_error(f"{where}.reason", "not a string of at most 255 characters")],
                )
            )
        reason_code = payload.get("reason_code")
        if reason_code is not None and (not isinstance(reason_code, str) or reason_code not in REASON_CODES):
            raise Rejected(
                InvalidClaims(
                    f"reason_code must be one of {', '.join(sorted(REASON_CODES))}",
                    errors=[field_error(f"{where}.reason_code", "not a code of the status reason list")],
                )
            )
        issued_at = self._epoch(payload, "iat", where, required=True)
        assert issued_at is not None
        self._check_key_in_force(header["kid"], where)
        self._check_authorized(licence_id.type_code, None, where)
        return PreparedStatus(
            index=index,
            licence_id=licence_id,
            kid=header["kid"],
            issued_at=issued_at,
            compact=statement,
            status=status,
            reason=reason,
            reason_code=reason_code,
            jti=jti,
        )
