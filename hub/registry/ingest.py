"""Signed ingest of department feeds: ``POST /v1/licences/batch``.

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

from sqlalchemy.orm import Session

from hub.audit import service as audit
from hub.audit.alerts import raise_alert
from hub.audit.models import AuditEvent
from hub.context import Hub
from hub.contract.status import status_list_path
from hub.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, SequenceGap, field_error
from hub.kit.time import utcnow
from hub.registry import repository
from hub.registry.ingest_checks import OperationChecker
from hub.registry.ingest_rules import CheckContext, Jurisdiction, KeyRules, TypeRules
from hub.registry.ingest_writer import BatchWriter
from hub.registry.models import Department, DepartmentKey, FeedBatch, LicenceType
from hub.registry.schemas import LicenceBatchCreate, LicenceBatchRead, OperationResult
from hub.registry.service import FeedClient
from storage.database import plan_each_execution

log = logging.getLogger("hub.registry.ingest")


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
    session: Session, hub: Hub, batch: LicenceBatchCreate, *, pusher: FeedClient
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
        writer = BatchWriter(
            session, hub.keyring, department, batch.sequence, [op for op, _, _ in operations], one_per_holder
        )
        for chunk in checking:
            writer.apply(chunk)
    results = writer.results
    for type_code, holder_index, other in writer.conflicts:
        conflicting_issuer(session, department, type_code, holder_index, other)

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
    session: Session,
    pusher: FeedClient,
    department: Department,
    sequence: int,
    type_codes: set[str],
    results: list[OperationResult],
) -> AuditEvent:
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
        session,
        action="ingest.batch",
        outcome="accepted" if not rejections else "partial",
        actor_kind="client",
        actor_id=pusher.client_id,
        client_id=pusher.client_id,
        department_id=department.id,
        region_code=department.region_code,
        type_codes=sorted(type_codes),
        licence_ids=[r.licence_id for r in results if r.outcome == "accepted" and r.licence_id],
        detail={"sequence": sequence, "operations": counts, "rejected": rejections[:AUDITED_REJECTIONS]},
    )


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


def conflicting_issuer(
    session: Session, department: Department, type_code: str, holder_index: str, other_department: str
) -> None:
    """Raise the ``conflicting_issuer`` alert: ``department`` tried to issue a one-per-holder licence to
    a holder who has a valid one from ``other_department`` (ingest refused it). Ids and the blind index
    only."""
    raise_alert(
        session,
        rule="conflicting_issuer",
        severity="critical",
        subject_kind="department",
        subject_id=department.id,
        region_code=department.region_code,
        key=f"conflicting_issuer:{department.id}:{type_code}:{holder_index}",
        summary=f"{department.id} issued a {type_code} to a holder with a valid one from {other_department}",
        detail={"type_code": type_code, "holder_index": holder_index, "held_from": other_department},
    )
