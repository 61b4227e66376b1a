"""The sync engine: source records in, signed batches to the hub, local state and dead letters updated.

    read records since the cursor → map (pure) → check against the catalog → plan (issue / update /
    status / nothing) → sign → batches of N → outbox → push → apply the hub's results

A batch is written to the outbox before it is sent and applied to the local state, together with the
source cursor it reached, in one local transaction after the hub answered. A run that starts with a batch
still in the outbox sends it again first (see ``adapters.sdk.state``). While the hub ingests one batch,
the next is planned and signed (``adapters.sdk.pushing``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from adapters.sdk.hub_client import FeedCursor, HubClient, HubRefused
from adapters.sdk.issuing import Department, DepartmentSigner, check_key_registered
from adapters.sdk.keys import PrivateKey
from adapters.sdk.plan import LicenceState, PlanError, needs_new_licence, plan_steps
from adapters.sdk.pushing import Pusher, SyncAborted, SyncReport
from adapters.sdk.records import LicenceDraft, Mapper, MappingError, SourceRecord
from adapters.sdk.state import DeadLetter, LicenceKey, LocalState, OutboxBatch, state_to_json
from adapters.sdk.validation import problems_with
from hub.contract.status import STATUS_LIST_SIZE, LicenceStatus

log = logging.getLogger("adapters.sync")

ReadSource = Callable[[str | None], Iterable[SourceRecord]]


@dataclass
class _Batch:
    operations: list[dict[str, str]] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    raws: list[Any] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    cursor: str | None = None  # source position after the batch's last record
    slot_after: tuple[int, int] = (0, 0)  # next free status slot after the batch's last record
    records: int = 0


@dataclass(frozen=True)
class _PlannedOp:
    key: LicenceKey
    op: str
    operation: dict[str, str]  # as sent: {"op", "credential" | "statement"}
    after: LicenceState


def slot_serial(slot: tuple[int, int]) -> str:
    """A licence's serial, made of its status list slot: unique within the department, never personal,
    and free of collisions after a restart from the hub's cursor (which gives the next free slot)."""
    return f"{slot[0]:03d}{slot[1]:05d}"


class SyncEngine:
    def __init__(
        self,
        *,
        hub: HubClient,
        state: LocalState,
        department_id: str,
        signing_key: PrivateKey,
        mapper: Mapper,
        batch_size: int = 500,
        dry_run: bool = False,
        on_record: Callable[[SyncReport], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch size must be at least 1")
        self.hub = hub
        self.state = state
        self.department_id = department_id
        self.signing_key = signing_key
        self.mapper = mapper
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.on_record = on_record
        self.report = SyncReport(department=department_id, dry_run=dry_run)
        self._overlay: dict[LicenceKey, LicenceState] = {}
        self._slot = (0, 0)
        self.pusher = Pusher(hub, state, self.report)
        self._signer: DepartmentSigner | None = None

    # -- the run ---------------------------------------------------------------------------------------

    def run(self, read: ReadSource) -> SyncReport:
        """Push what changed in the source since the last run; see the module docstring."""
        started = time.monotonic()
        if not self.dry_run:
            self.state.lock()
        try:
            cursor = self._connect()
            log.info(
                "sync.started",
                extra={
                    "department": self.department_id,
                    "sequence": self.pusher.last_sequence,
                    "dry_run": self.dry_run,
                },
            )
            batch = _Batch(cursor=cursor, slot_after=self._slot)
            for record in read(cursor):
                planned, letters = self._plan_record(record)
                if batch.operations and len(batch.operations) + len(planned) > self.batch_size:
                    self._flush(batch)
                    batch = _Batch(cursor=batch.cursor, slot_after=batch.slot_after)
                self._add(batch, record, planned, letters)
            if batch.records:
                self._flush(batch)
            self.pusher.finish()
        finally:
            self.pusher.close()  # waits for a batch still in flight; its result is applied by the next run
        self.report.last_sequence = self.pusher.last_sequence
        self.report.seconds = round(time.monotonic() - started, 3)
        log.info("sync.finished", extra=self.report.as_dict())
        return self.report

    def _connect(self) -> str | None:
        """Check the department and key with the hub, line the local feed up with the hub's, and send
        a batch left in the outbox by an interrupted run. Returns the source cursor to read from."""
        department = Department.from_hub(self.hub.department(self.department_id))
        check_key_registered(self.hub.department_keys(self.department_id), self.signing_key, department.id)
        self._signer = DepartmentSigner(
            department, self.signing_key, hub_url=self.hub.public_url, holder_jwk=self.hub.holder_jwk()
        )
        feed = self.state.check_feed(self.department_id, self.hub.public_url)
        if self.dry_run and not self.hub.can_authenticate:
            # Without client credentials a dry run plans against the local state alone.
            hub_cursor = FeedCursor(self.department_id, feed.last_sequence if feed else 0, {})
        else:
            hub_cursor = self.hub.feed_cursor(self.department_id)
        if feed is None:
            slot = _next_free_slot(hub_cursor.next_status_index)
            if hub_cursor.last_sequence:
                self.report.adopted_at_sequence = hub_cursor.last_sequence
                log.warning(
                    "sync.feed.adopted",
                    extra={"department": self.department_id, "sequence": hub_cursor.last_sequence},
                )
            if self.dry_run:
                self.pusher.last_sequence, self._slot = hub_cursor.last_sequence, slot
                return None
            feed = self.state.create_feed(
                self.department_id,
                self.hub.public_url,
                last_sequence=hub_cursor.last_sequence,
                status_slot=slot,
            )
        pending = self.state.pending_batch()
        _check_in_step(feed.last_sequence, pending, hub_cursor.last_sequence, self.state)
        self.pusher.last_sequence, self._slot = feed.last_sequence, (feed.status_list, feed.next_status_index)
        if pending is not None and not self.dry_run:
            self.pusher.submit(pending, {})
            self.pusher.finish()
            feed = self.state.feed()
            assert feed is not None
        return feed.source_cursor

    # -- planning --------------------------------------------------------------------------------------

    def _plan_record(self, record: SourceRecord) -> tuple[list[_PlannedOp], list[DeadLetter]]:
        """Map, check and plan one record: the operations it needs and its dead letters."""
        self.report.records += 1
        try:
            drafts = self.mapper(record)
        except MappingError as exc:
            return [], [DeadLetter(record.key, "", "mapping", str(exc), dict(record.data))]
        planned: list[_PlannedOp] = []
        letters: list[DeadLetter] = []
        for draft in drafts:
            key = (draft.type_code, record.key, draft.part)
            try:
                problems = self._catalog_problems(draft)
                if problems:
                    raise PlanError("; ".join(problems))
                steps = self._plan(draft, key)
            except PlanError as exc:
                letters.append(
                    DeadLetter(record.key, draft.type_code, "mapping", str(exc), dict(record.data))
                )
                continue
            if not steps:
                self.report.unchanged += 1
            planned.extend(_PlannedOp(key, op, operation, after) for op, operation, after in steps)
        return planned, letters

    def _add(
        self, batch: _Batch, record: SourceRecord, planned: list[_PlannedOp], letters: list[DeadLetter]
    ) -> None:
        batch.records += 1
        batch.cursor = record.position
        batch.slot_after = self._slot
        batch.dead_letters.extend(letters)
        self.report.dead_letters += len(letters)
        if planned:
            batch.raws.append(dict(record.data))
        for step in planned:
            batch.operations.append(step.operation)
            batch.plan.append(
                {
                    "op": step.op,
                    "key": list(step.key),
                    "after": state_to_json(step.after),
                    "raw": len(batch.raws) - 1,
                }
            )
            self._overlay[step.key] = step.after
        if self.on_record:
            self.on_record(self.report)

    def _catalog_problems(self, draft: LicenceDraft) -> list[str]:
        if draft.problems:
            return list(draft.problems)
        if draft.valid_until and draft.valid_until.year < 1970:
            return ["validity ends before 1970, which a credential's exp cannot express (RFC 7519 §2)"]
        try:
            licence_type = self.hub.licence_type(draft.type_code)
        except HubRefused as exc:
            if exc.status == 404:
                return [f"licence type {draft.type_code} is not in the hub's catalog"]
            raise
        return problems_with(licence_type, draft.values)

    def _plan(self, draft: LicenceDraft, key: LicenceKey) -> list[tuple[str, dict[str, str], LicenceState]]:
        signer = self._signer
        assert signer is not None
        current = self._overlay.get(key) or self.pusher.in_flight.get(key) or self.state.licence(key)
        new_licence = None
        if needs_new_licence(draft, current):
            slot = self._allocate_slot()
            serial = slot_serial(slot)
            new_licence = LicenceState(
                serial=serial,
                version=1,
                licence_id=str(signer.licence_id(draft.type_code, serial, 1)),
                content_hash=draft.content_hash,
                status=LicenceStatus.VALID,
                status_list=slot[0],
                status_index=slot[1],
            )
        steps = plan_steps(
            draft, current, new_licence, lambda serial, v: str(signer.licence_id(draft.type_code, serial, v))
        )
        planned = []
        for step in steps:
            after = step.after
            if self.dry_run:
                operation: dict[str, str] = {"op": step.op}
            elif step.op == "status":
                statement = signer.status_statement(
                    after.licence_id, after.status, draft.status_reason, draft.status_reason_code
                )
                operation = {"op": "status", "statement": statement}
            else:
                previous = current.licence_id if current is not None else None
                credential = signer.credential(
                    self.hub.licence_type(draft.type_code),
                    draft,
                    signer.licence_id(draft.type_code, after.serial, after.version),
                    status_slot=(after.status_list, after.status_index),
                    previous_licence_id=previous,
                )
                operation = {"op": step.op, "credential": credential}
            planned.append((step.op, operation, after))
            current = after
        return planned

    def _allocate_slot(self) -> tuple[int, int]:
        status_list, index = self._slot
        if index >= STATUS_LIST_SIZE:
            status_list, index = status_list + 1, 0
        self._slot = (status_list, index + 1)
        return status_list, index

    # -- pushing ---------------------------------------------------------------------------------------

    def _flush(self, batch: _Batch) -> None:
        for entry in batch.plan:
            self._count_planned(entry["op"])
        if self.dry_run:
            return
        self.pusher.finish()  # the batch in flight was sent while this one was planned; apply it first
        outbox = None
        if batch.operations:
            sequence = self.pusher.last_sequence + 1
            body = {"department": self.department_id, "sequence": sequence, "operations": batch.operations}
            outbox = OutboxBatch(
                sequence=sequence,
                body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                plan={"department": self.department_id, "ops": batch.plan, "records": batch.raws},
                cursor_after=batch.cursor,
            )
        self.state.record_planned(
            outbox, cursor=batch.cursor, status_slot=batch.slot_after, dead_letters=batch.dead_letters
        )
        if batch.dead_letters:
            log.info(
                "sync.records.dead_lettered", extra={"count": len(batch.dead_letters), "stage": "mapping"}
            )
        if outbox is not None:
            self.pusher.submit(outbox, self._overlay)
        self._overlay = {}

    def _count_planned(self, op: str) -> None:
        if op == "issue":
            self.report.issued += 1
        elif op == "update":
            self.report.updated += 1
        else:
            self.report.status_changes += 1


def _next_free_slot(next_status_index: dict[int, int]) -> tuple[int, int]:
    if not next_status_index:
        return 0, 0
    status_list = max(next_status_index)
    index = next_status_index[status_list]
    return (status_list + 1, 0) if index >= STATUS_LIST_SIZE else (status_list, index)


def _check_in_step(local: int, pending: OutboxBatch | None, hub: int, state: LocalState) -> None:
    """The local feed and the hub's must agree, allowing for one batch the hub may have committed
    without this file knowing (it is in the outbox and will be sent again)."""
    allowed = {local, local + 1} if pending is not None else {local}
    if hub in allowed:
        return
    if hub > local:
        raise SyncAborted(
            f"the hub's feed is at sequence {hub}, {state.path} only at {local}: another adapter, or an "
            "older copy of this state file, pushed to this feed. Use the state file that pushed them."
        )
    raise SyncAborted(
        f"the hub's feed is at sequence {hub}, behind {state.path} at {local}: was the hub restored from "
        "a backup? Nothing was pushed."
    )
