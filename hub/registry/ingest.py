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
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.access.models import Client
from hub.audit import service as audit
from hub.audit import supervision
from hub.audit.models import AuditEvent
from hub.context import Hub
from hub.contract.status import LicenceStatus, status_list_path
from hub.errors import (
    Conflict,
    Forbidden,
    HubError,
    NotFound,
    PayloadTooLarge,
    SequenceGap,
    field_error,
)
from hub.kit.time import utcnow
from hub.registry import repository
from hub.registry.ingest_checks import OperationChecker
from hub.registry.ingest_rules import (
    CheckContext,
    ConflictingIssuer,
    InvalidClaims,
    Jurisdiction,
    KeyRules,
    Prepared,
    PreparedCredential,
    PreparedStatus,
    Rejected,
    TypeRules,
    VersionConflict,
)
from hub.registry.models import Department, DepartmentKey, FeedBatch, LicenceType
from hub.registry.schemas import LicenceBatchCreate, LicenceBatchRead, OperationResult
from storage.database import plan_each_execution

log = logging.getLogger("hub.registry.ingest")

TERMINAL_STATUSES = {LicenceStatus.ANNULLED, LicenceStatus.CANCELLED, LicenceStatus.REVOKED}


def request_digest(batch: LicenceBatchCreate) -> str:
    """What makes two batches the same: feed, sequence and each operation's signed content, in order.

    The credentials and statements are signed compact strings, so hashing them as they are is exact and
    avoids re-serialising the whole batch."""
    digest = hashlib.sha256(f"{batch.department}\x1f{batch.sequence}".encode())
    for operation in batch.operations:
        content = f"\x1e{operation.op}\x1f{operation.credential or ''}\x1f{operation.statement or ''}"
        digest.update(content.encode())
    return digest.hexdigest()


def ingest_batch(
    session: Session, hub: Hub, batch: LicenceBatchCreate, *, pusher: Client
) -> LicenceBatchRead:
    """Apply one batch of a department feed; see the module docstring for the rules.

    ``pusher`` is the authenticated client: only a department's own client writes to its feed."""
    if pusher.kind != "department" or pusher.department_id != batch.department:
        raise Forbidden(
            f"client {pusher.client_id} may not push to the feed of {batch.department!r}",
            errors=[field_error("department", "not the calling client's department")],
        )
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
    if department.status != "active":
        raise Forbidden(
            f"department {department.id!r} is {department.status}: a second admin has not approved it",
            errors=[field_error("department", f"department is {department.status}")],
        )
    plan_each_execution(session)
    # The checks need no stored state but the department's keys, authorizations and the catalog, so
    # they start (on the worker pool's processes) before the feed is locked.
    operations = [(operation.op, operation.credential, operation.statement) for operation in batch.operations]
    context = load_context(session, hub, department)
    with hub.checks.check(OperationChecker(context, hub.blind_index), operations) as checking:
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
            replayed = {"department": department.id, "sequence": batch.sequence}
            log.info("licence.batch.replayed", extra=replayed)
            return LicenceBatchRead.model_validate({**stored.result, "replayed": True})
        if batch.sequence != feed.last_sequence + 1:
            raise SequenceGap(
                f"expected sequence {feed.last_sequence + 1}, got {batch.sequence}",
                errors=[field_error("sequence", f"expected {feed.last_sequence + 1}")],
                expected_sequence=feed.last_sequence + 1,
            )
        one_per_holder = {code for code, rules in context.types.items() if rules.one_per_holder}
        writer = _BatchWriter(
            session, hub, department, batch.sequence, [op for op, _, _ in operations], one_per_holder
        )
        for chunk in checking:
            writer.apply(chunk)
    results = writer.results
    for type_code, holder_index, other in writer.conflicts:
        supervision.conflicting_issuer(session, department, type_code, holder_index, other)

    accepted = sum(r.outcome == "accepted" for r in results)
    event = _audit(session, pusher, department, batch.sequence, writer.type_codes, results)
    read = LicenceBatchRead(
        department=department.id,
        sequence=batch.sequence,
        accepted=accepted,
        rejected=len(results) - accepted,
        results=results,
        audit_leaf_index=event.leaf_index,
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


AUDITED_REJECTIONS = 50


def _audit(
    session: Session, pusher: Client, department: Department, sequence: int, type_codes: set[str],
    results: list[OperationResult],
) -> AuditEvent:  # fmt: skip
    """One audit event per batch: the licences written, the count of each operation and outcome, and
    the first rejections' problem codes (the full results are kept with the feed's batch)."""
    counts: dict[str, int] = {}
    for result in results:
        key = f"{result.op}.{result.outcome}"
        counts[key] = counts.get(key, 0) + 1
    rejections = [
        {"index": r.index, "type": str((r.problem or {}).get("type", "")).rsplit("/", 1)[-1]}
        for r in results
        if r.outcome == "rejected"
    ]
    return audit.record(
        session, action="ingest.batch", outcome="accepted" if not rejections else "partial",
        actor_kind="client", actor_id=pusher.client_id, client_id=pusher.client_id,
        department_id=department.id, region_code=department.region_code, type_codes=sorted(type_codes),
        licence_ids=[r.licence_id for r in results if r.outcome == "accepted" and r.licence_id],
        detail={"sequence": sequence, "operations": counts, "rejected": rejections[:AUDITED_REJECTIONS]},
    )  # fmt: skip


def load_context(session: Session, hub: Hub, department: Department) -> CheckContext:
    """What the checks of a batch of ``department`` read, as plain values: the checks then need no
    database and can run in other processes."""
    return CheckContext(
        department_id=department.id,
        issuer=department.issuer,
        uscc=department.uscc,
        kind=department.kind,
        keys={k.kid: _key_rules(k) for k in repository.department_keys(session, department.id)},
        types={t.code: _type_rules(t) for t in repository.list_licence_types(session)},
        hub_jwks={k["kid"]: k for k in hub.signer.jwks["keys"]},
        # Verifiers follow this URI: it must be the hub's own status list of this department.
        list_prefix=hub.settings.public_url + status_list_path(department.id, 0).rsplit("/", 1)[0] + "/",
        jurisdictions=_jurisdictions(session, department),
        known_regions=frozenset(repository.region_parents(session)),
    )


def _type_rules(row: LicenceType) -> TypeRules:
    return TypeRules(
        code=row.code,
        name_en=row.name_en,
        classification=row.classification,
        issuer_kind=row.issuer_kind,
        holder_kind=row.holder_kind,
        holder_field=row.holder_field,
        number_field=row.number_field,
        one_per_holder=bool(row.one_per_holder),
        fields={f["name"]: dict(f) for f in row.fields},
    )


def _key_rules(row: DepartmentKey) -> KeyRules:
    return KeyRules(row.kid, row.alg, dict(row.public_jwk), row.status, row.retired_at, row.compromised_since)


def _jurisdictions(session: Session, department: Department) -> dict[str, tuple[Jurisdiction, ...]]:
    parents = repository.region_parents(session)
    found: dict[str, list[Jurisdiction]] = {}
    for row in repository.issuing_authorizations_in_force(session, department.id, utcnow()):
        assert row.id is not None
        found.setdefault(row.type_code, []).append(
            Jurisdiction(
                authorization_id=row.id,
                code=row.jurisdiction_code,
                regions=frozenset(repository.region_subtree(session, row.jurisdiction_code)),
                covers_unknown=parents.get(row.jurisdiction_code) is None,
            )
        )
    return {code: tuple(rows) for code, rows in found.items()}


class _BatchWriter:
    """Applies checked operations in order against the stored licences, a chunk at a time: each chunk's
    licences are read in one query, its operations applied to the batch's running state, and its rows
    written at the chunk's end (a licence an earlier chunk created is updated like any stored one).

    A chunk of new licences only (a department's bulk load) is written without first looking for stored
    licences with its serials or status-list slots: the unique constraints on both refuse a clash. Then
    the chunk is undone (to a savepoint, and in the running state) and applied again with the lookups,
    which reject just the clashing operations, as do all the batch's later chunks."""

    def __init__(
        self, session: Session, hub: Hub, department: Department, sequence: int, op_names: list[str],
        one_per_holder: set[str],
    ) -> None:  # fmt: skip
        self.session, self.hub, self.department, self.sequence = session, hub, department, sequence
        self.op_names = op_names
        self.one_per_holder = one_per_holder
        self.held_elsewhere: dict[tuple[str, str], str] = {}
        self.conflicts: list[tuple[str, str, str]] = []  # type code, holder index, the other department
        self.state: dict[tuple[str, str], dict[str, Any]] = {}
        self.used_slots: set[tuple[int, int]] = set()
        self.used_jtis: set[str] = set()
        self.results: list[OperationResult] = []
        self.type_codes: set[str] = set()
        self.now = utcnow()
        self.unchecked_issues = True  # new licences go in without looking for clashes first

    def apply(self, chunk: list[Prepared | HubError]) -> None:
        if self.unchecked_issues and all(
            isinstance(p, PreparedCredential) and p.op == "issue" for p in chunk
        ):
            before = (len(self.results), set(self.state), set(self.used_slots), set(self.type_codes))
            try:
                with self.session.begin_nested():
                    self._apply(chunk, look_up=False)
                return
            except IntegrityError:  # a serial or a slot already stored
                results, keys, self.used_slots, self.type_codes = before
                del self.results[results:]
                for key in self.state.keys() - keys:
                    del self.state[key]
                self.unchecked_issues = False
        self._apply(chunk, look_up=True)

    def _apply(self, chunk: list[Prepared | HubError], *, look_up: bool) -> None:
        session, department = self.session, self.department
        checked = [p for p in chunk if not isinstance(p, HubError)]
        credentials = [p for p in checked if isinstance(p, PreparedCredential)]
        issues = [p for p in credentials if p.op == "issue"]
        if look_up:
            keys = {(p.licence_id.type_code, p.licence_id.serial) for p in checked}
            stored = repository.licences_by_serial(session, department.id, keys - self.state.keys())
            self.state.update((k, dict(v)) for k, v in stored.items())
            self.used_slots |= repository.used_status_slots(
                session, department.id, (p.status_slot for p in issues)
            )
        single = [(p.type_code, p.holder_index) for p in issues if p.type_code in self.one_per_holder]
        if single:
            self.held_elsewhere.update(repository.valid_elsewhere(session, department.id, single, self.now))
        attachments = repository.existing_attachments(
            session, (d for p in credentials for d in p.attachments)
        )
        self.used_jtis |= repository.existing_statement_ids(
            session, (p.jti for p in checked if isinstance(p, PreparedStatus))
        )

        change = _Change(created={}, touched=set(), versions=[], status_changes=[])
        for item in chunk:
            if isinstance(item, HubError):
                index = len(self.results)
                self.results.append(_rejection(index, self.op_names[index], item))
                continue
            try:
                self.results.append(_apply_one(item, self, change, attachments))
            except Rejected as rejected:
                self.results.append(_rejection(item.index, item.op, rejected.error))
            else:
                if isinstance(item, PreparedCredential):
                    self.type_codes.add(item.type_code)
        self._write(change)

    def _write(self, change: _Change) -> None:
        session, state = self.session, self.state
        department_id = self.department.id
        ids = repository.insert_licences(
            session, [{**state[k], "department_id": department_id} for k in change.created]
        )
        for key, licence_pk in ids.items():
            state[key]["id"] = licence_pk
        repository.update_licences(session, [state[k] for k in change.touched if k not in change.created])
        repository.insert_versions(
            session, [{**row, "licence_pk": state[key]["id"]} for key, row in change.versions]
        )
        repository.insert_status_changes(
            session, [{**row, "licence_pk": state[key]["id"]} for key, row in change.status_changes]
        )


@dataclass
class _Change:
    """What a chunk of operations changed, to be written at its end."""

    created: dict[tuple[str, str], None]  # a set that keeps the order the licences were issued in
    touched: set[tuple[str, str]]
    versions: list[tuple[tuple[str, str], dict[str, Any]]]
    status_changes: list[tuple[tuple[str, str], dict[str, Any]]]


def _rejection(index: int, op: str, error: HubError) -> OperationResult:
    return OperationResult(index=index, op=op[:16], outcome="rejected", problem=error.to_problem())


def _apply_one(
    item: Prepared, writer: _BatchWriter, change: _Change, known_attachments: set[str]
) -> OperationResult:
    """One checked operation against the batch's running state; :class:`Rejected` if it conflicts."""
    hub, state, sequence, now = writer.hub, writer.state, writer.sequence, writer.now
    used_slots, used_jtis = writer.used_slots, writer.used_jtis
    created, touched, versions, changes = (
        change.created,
        change.touched,
        change.versions,
        change.status_changes,
    )
    where = f"operations[{item.index}]"
    key = (item.licence_id.type_code, item.licence_id.serial)
    current = state.get(key)
    licence_id = str(item.licence_id)

    if isinstance(item, PreparedStatus):
        if current is None:
            raise Rejected(
                NotFound(
                    f"no licence {licence_id}", errors=[field_error(f"{where}.licence_id", "unknown licence")]
                )
            )
        if item.jti in used_jtis:
            raise Rejected(
                Conflict(
                    "this status statement was already applied",
                    errors=[field_error(f"{where}.jti", "replayed")],
                )
            )
        if LicenceStatus(current["status"]) in TERMINAL_STATUSES and item.status != current["status"]:
            ended = LicenceStatus(current["status"])
            raise Rejected(
                Conflict(
                    f"licence is {ended.label_en} ({ended.value}); an ended licence does not come back, "
                    "issue a new licence instead",
                    errors=[field_error(f"{where}.status", f"{ended.value} is final")],
                )
            )
        if item.licence_id.version > current["current_version"]:
            raise Rejected(
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
                    "reason_code": item.reason_code,
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
            status_reason_code=item.reason_code,
            status_changed_at=item.issued_at,
            updated_at=now,
        )
        touched.add(key)
        return OperationResult(
            index=item.index, op="status", outcome="accepted", licence_id=licence_id,
            version=item.licence_id.version, status=item.status.value,
        )  # fmt: skip

    missing = [d for d in item.attachments if d not in known_attachments]
    if missing:
        raise Rejected(
            InvalidClaims(
                "the credential references attachments that were never uploaded",
                errors=[field_error(f"{where}.credential", f"unknown attachment {d}") for d in missing],
            )
        )
    if item.op == "issue":
        other = writer.held_elsewhere.get((item.type_code, item.holder_index))
        if other is not None:
            writer.conflicts.append((item.type_code, item.holder_index, other))
            raise Rejected(
                ConflictingIssuer(
                    f"the holder has a valid {item.type_code} from department {other!r}; a person holds one "
                    "at a time (the other must be cancelled first)",
                    errors=[field_error(f"{where}.credential", "holder already holds a valid one elsewhere")],
                )
            )
        if current is not None:
            raise Rejected(
                VersionConflict(
                    f"licence {licence_id} already exists (version {current['current_version']:03d})",
                    errors=[field_error(f"{where}.licence_id", "already issued; use update")],
                )
            )
        if item.status_slot in used_slots:
            raise Rejected(
                Conflict(
                    f"status list {item.status_slot[0]} index {item.status_slot[1]} is already used",
                    errors=[field_error(f"{where}.credential.status", "index in use by another licence")],
                )
            )
        used_slots.add(item.status_slot)
        current = state[key] = {
            "type_code": item.type_code,
            "serial": item.licence_id.serial,
            "status": LicenceStatus.VALID.value,
            "status_reason": None,
            "status_reason_code": None,
            "status_changed_at": None,
            "status_list": item.status_slot[0],
            "status_index": item.status_slot[1],
            "withheld": None,
            "created_at": now,
        }
        created[key] = None
        previous_licence_id = item.previous_licence_id
    else:
        if current is None:
            raise Rejected(
                NotFound(
                    f"no licence {item.licence_id.with_version(1)} to update",
                    errors=[field_error(f"{where}.licence_id", "unknown licence; issue it first")],
                )
            )
        expected = current["current_version"] + 1
        if item.licence_id.version != expected:
            raise Rejected(
                VersionConflict(
                    f"expected version {expected:03d}, got {item.licence_id.version:03d}",
                    errors=[field_error(f"{where}.licence_id", f"version must be {expected:03d}")],
                )
            )
        if LicenceStatus(current["status"]) in TERMINAL_STATUSES:
            raise Rejected(
                Conflict(
                    f"licence is {LicenceStatus(current['status']).label_en}; issue a new licence instead",
                    errors=[field_error(f"{where}.licence_id", "licence is no longer in force")],
                )
            )
        if (current["status_list"], current["status_index"]) != item.status_slot:
            raise Rejected(
                Conflict(
                    "a new version keeps the licence's status list entry",
                    errors=[field_error(f"{where}.credential.status", "differs from the licence's entry")],
                )
            )
        previous_licence_id = current["current_licence_id"]
        if item.previous_licence_id not in (None, previous_licence_id):
            raise Rejected(
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
        withheld=None,  # a new version signed by a key in force replaces one a compromised key signed
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
