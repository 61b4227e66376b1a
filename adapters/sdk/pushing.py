"""Sending outbox batches to the hub and applying its answers to the local state.

One batch is in flight at a time, sent from a background thread, so the engine plans and signs the next
batch while the hub ingests this one (signing and ingest take comparable time). The answer is applied in
the engine's thread before the next batch is written to the outbox, so the outbox never holds more than
one batch and the state file has one writer.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from adapters.sdk.hub_client import FeedConflict, HubClient, HubRefused
from adapters.sdk.plan import LicenceState
from adapters.sdk.state import DeadLetter, LicenceKey, LocalState, OutboxBatch, state_from_json

log = logging.getLogger("adapters.sync")


class SyncAborted(Exception):
    """The sync stopped; the local state is consistent and the next run continues from it."""


@dataclass
class SyncReport:
    department: str = ""
    dry_run: bool = False
    records: int = 0
    issued: int = 0
    updated: int = 0
    status_changes: int = 0
    unchanged: int = 0
    dead_letters: int = 0  # records (or licences of them) that failed mapping or the catalog check
    rejected: int = 0  # operations the hub rejected (also dead letters)
    batches: int = 0
    replayed_batches: int = 0
    last_sequence: int = 0
    adopted_at_sequence: int | None = None
    seconds: float = 0.0

    @property
    def operations(self) -> int:
        return self.issued + self.updated + self.status_changes

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "operations": self.operations}


class Pusher:
    def __init__(self, hub: HubClient, state: LocalState, report: SyncReport) -> None:
        self.hub = hub
        self.state = state
        self.report = report
        self.last_sequence = 0  # the last sequence the hub accepted and the state file recorded
        self.in_flight: dict[LicenceKey, LicenceState] = {}  # planned states of the batch in flight
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-push")
        self._sending: tuple[OutboxBatch, Future[dict[str, Any]], float] | None = None

    def submit(self, batch: OutboxBatch, planned: dict[LicenceKey, LicenceState]) -> None:
        """Send ``batch`` (already in the outbox) in the background; at most one batch is in flight."""
        self.finish()
        self.in_flight = planned
        self._sending = (batch, self._pool.submit(self.hub.push_batch, batch.body), time.monotonic())

    def finish(self) -> None:
        """Wait for the batch in flight, if any, and apply the hub's answer to the state file."""
        if self._sending is None:
            return
        batch, future, started = self._sending
        self._sending = None
        try:
            result = future.result()
        except FeedConflict as exc:
            raise SyncAborted(
                f"the hub refused batch {batch.sequence}: {exc}. "
                f"The batch stays in the outbox of {self.state.path}."
            ) from None
        except HubRefused as exc:
            # A 4xx means the hub stored nothing: drop the batch, so a fixed setup (a smaller --batch-size,
            # a re-enabled client) plans afresh from the same source cursor.
            self.state.discard_pending(batch)
            raise SyncAborted(
                f"the hub refused batch {batch.sequence}: {exc}. Nothing of it was stored."
            ) from None
        finally:
            self.in_flight = {}
        if result.get("sequence") != batch.sequence or len(result.get("results", [])) != len(
            batch.plan["ops"]
        ):
            raise SyncAborted(f"the hub answered batch {batch.sequence} with a result for another batch")
        accepted, rejected = self._apply(batch, result)
        self.last_sequence = batch.sequence
        self.report.batches += 1
        self.report.replayed_batches += bool(result.get("replayed"))
        log.info(
            "sync.batch.pushed",
            extra={
                "department": batch.plan.get("department"),
                "sequence": batch.sequence,
                "operations": len(batch.plan["ops"]),
                "accepted": accepted,
                "rejected": rejected,
                "replayed": bool(result.get("replayed")),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        if rejected and not accepted and rejected >= 5:
            raise SyncAborted(
                f"the hub rejected every operation of batch {batch.sequence} "
                f"(first: {problem_text(result['results'][0].get('problem') or {})}); "
                "they are in the dead-letter store; fix the cause before syncing again"
            )

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _apply(self, batch: OutboxBatch, result: dict[str, Any]) -> tuple[int, int]:
        """Turn the hub's per-operation results into licence states and dead letters, in order, so that
        an operation the hub rejected leaves no trace in the state of the ones after it."""
        ops = batch.plan["ops"]
        raws = batch.plan["records"]
        applied: dict[LicenceKey, LicenceState | None] = {}
        letters: list[DeadLetter] = []
        for entry, outcome in zip(ops, result["results"], strict=True):
            type_code, record_key, part = entry["key"]
            key: LicenceKey = (type_code, record_key, part)
            after = state_from_json(entry["after"])
            if key not in applied:
                applied[key] = self.state.licence(key)
            if outcome.get("outcome") != "accepted":
                self.report.rejected += 1
                reason = problem_text(outcome.get("problem") or {})
                letters.append(DeadLetter(record_key, type_code, "hub", reason, raws[entry["raw"]]))
                continue
            if outcome.get("licence_id") != after.licence_id:
                raise SyncAborted(
                    f"batch {batch.sequence}: the hub accepted {outcome.get('licence_id')}, "
                    f"this adapter planned {after.licence_id}"
                )
            current = applied[key]
            if entry["op"] == "issue" or current is None:
                applied[key] = after
            elif entry["op"] == "update":
                applied[key] = replace(
                    current,
                    version=after.version,
                    licence_id=after.licence_id,
                    content_hash=after.content_hash,
                )
            else:
                applied[key] = replace(current, status=after.status)
        accepted_states = [(k, s) for k, s in applied.items() if s is not None]
        self.state.record_applied(batch, accepted=accepted_states, dead_letters=letters)
        return len(ops) - len(letters), len(letters)


def problem_text(problem: dict[str, Any]) -> str:
    """A dead-letter reason from an RFC 9457 problem: title, detail and the fields named."""
    parts = [str(problem.get("title") or ""), str(problem.get("detail") or "")]
    fields = [
        f"{e.get('field')}: {e.get('reason')}" for e in problem.get("errors") or [] if isinstance(e, dict)
    ]
    text = " — ".join(p for p in parts if p)
    return text + (f" ({'; '.join(fields[:5])})" if fields else "")
