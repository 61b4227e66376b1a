"""The adapter's local state, one SQLite file per department feed.

- ``licence``: per source record (and licence type) the licence this adapter made of it: serial,
  version, licence id, content hash, status and status list slot.
- ``feed``: the hub feed's last accepted sequence, the source cursor that batch reached, and the next
  free status list slot.
- ``outbox``: a batch exactly as it is sent, written *before* it is pushed. If the adapter dies after
  the hub committed a batch but before this file recorded it, the next run pushes the same bytes with
  the same sequence and the hub answers with the stored result (``replayed``), so nothing is lost or
  applied twice.
- ``dead_letter``: source records that failed mapping or that the hub rejected, with the reason.

Each change of state is one SQLite transaction (WAL, ``synchronous=FULL``).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.sdk.plan import LicenceState
from hub.contract.status import LicenceStatus

SCHEMA_VERSION = "1"
LicenceKey = tuple[str, str, str]  # (type code, record key, part)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    department TEXT NOT NULL,
    hub TEXT NOT NULL,
    last_sequence INTEGER NOT NULL,
    source_cursor TEXT,
    status_list INTEGER NOT NULL,
    next_status_index INTEGER NOT NULL,
    adopted_at_sequence INTEGER,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS licence (
    type_code TEXT NOT NULL,
    record_key TEXT NOT NULL,
    part TEXT NOT NULL,
    serial TEXT NOT NULL,
    version INTEGER NOT NULL,
    licence_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    status_list INTEGER NOT NULL,
    status_index INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (type_code, record_key, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    sequence INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    plan TEXT NOT NULL,
    cursor_after TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_key TEXT NOT NULL,
    type_code TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    created_at TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS dead_letter_open ON dead_letter (record_key, type_code) WHERE resolved_at IS NULL;
"""


class StateError(Exception):
    """The state file cannot be used (another department's, another hub's, a newer format)."""


@dataclass(frozen=True)
class Feed:
    department: str
    hub: str
    last_sequence: int
    source_cursor: str | None
    status_list: int
    next_status_index: int
    adopted_at_sequence: int | None


@dataclass(frozen=True)
class OutboxBatch:
    sequence: int
    body: str  # the request body, byte for byte what was (or will be) sent
    plan: dict[str, Any]  # per operation: licence key, op, state after acceptance, raw record index
    cursor_after: str | None


@dataclass(frozen=True)
class DeadLetter:
    record_key: str
    type_code: str  # "" when the whole record failed
    stage: str  # "mapping" (never sent) or "hub" (rejected by the hub)
    reason: str
    raw: Any


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def state_to_json(state: LicenceState) -> dict[str, Any]:
    return {**asdict(state), "status": state.status.value}


def state_from_json(data: dict[str, Any]) -> LicenceState:
    return LicenceState(**{**data, "status": LicenceStatus(data["status"])})


class LocalState:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=5000")
        with self.transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            row = self.db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise StateError(f"{self.path}: state format {row[0]}, this adapter reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def lock(self) -> None:
        """Hold the file for this process: two syncs of one feed would race for the same sequence."""
        if self._lock_fd is not None or str(self.path) == ":memory:":
            return
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(f"another sync is running with {self.path}") from None
        self._lock_fd = fd

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- feed ------------------------------------------------------------------------------------------

    def feed(self) -> Feed | None:
        row = self.db.execute(
            "SELECT department, hub, last_sequence, source_cursor, status_list, next_status_index, "
            "adopted_at_sequence FROM feed WHERE id = 1"
        ).fetchone()
        return Feed(*row) if row else None

    def create_feed(
        self, department: str, hub: str, *, last_sequence: int, status_slot: tuple[int, int]
    ) -> Feed:
        """Start the feed record: at zero, or at the hub's cursor when the hub's feed is older than this
        file (``adopted_at_sequence`` records that)."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO feed VALUES (1, ?, ?, ?, NULL, ?, ?, ?, ?)",
                (department, hub, last_sequence, *status_slot, last_sequence or None, _now()),
            )
        feed = self.feed()
        assert feed is not None
        return feed

    def check_feed(self, department: str, hub: str) -> Feed | None:
        feed = self.feed()
        if feed is not None and (feed.department, feed.hub) != (department, hub):
            raise StateError(
                f"{self.path} holds the feed of {feed.department} at {feed.hub}, "
                f"not {department} at {hub}: use another --state file"
            )
        return feed

    # -- licences --------------------------------------------------------------------------------------

    def licence(self, key: LicenceKey) -> LicenceState | None:
        row = self.db.execute(
            "SELECT serial, version, licence_id, content_hash, status, status_list, status_index "
            "FROM licence WHERE type_code = ? AND record_key = ? AND part = ?",
            key,
        ).fetchone()
        if row is None:
            return None
        serial, version, licence_id, content_hash, status, status_list, status_index = row
        return LicenceState(
            serial, version, licence_id, content_hash, LicenceStatus(status), status_list, status_index
        )

    def licences(self) -> Iterator[tuple[LicenceKey, LicenceState]]:
        rows = self.db.execute(
            "SELECT type_code, record_key, part, serial, version, licence_id, content_hash, status, "
            "status_list, status_index FROM licence ORDER BY type_code, record_key, part"
        )
        for (
            type_code,
            record_key,
            part,
            serial,
            version,
            licence_id,
            content_hash,
            status,
            slot_list,
            index,
        ) in rows:
            state = LicenceState(
                serial, version, licence_id, content_hash, LicenceStatus(status), slot_list, index
            )
            yield (type_code, record_key, part), state

    # -- outbox ----------------------------------------------------------------------------------------

    def pending_batch(self) -> OutboxBatch | None:
        row = self.db.execute(
            "SELECT sequence, body, plan, cursor_after FROM outbox ORDER BY sequence LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return OutboxBatch(row[0], row[1], json.loads(row[2]), row[3])

    def record_planned(
        self,
        batch: OutboxBatch | None,
        *,
        cursor: str | None,
        status_slot: tuple[int, int],
        dead_letters: Iterable[DeadLetter],
    ) -> None:
        """Commit a planned batch to the outbox with the dead letters found while planning it and the
        slots it allocated. Without a batch (nothing to push) the source cursor advances at once."""
        with self.transaction():
            self._add_dead_letters(dead_letters)
            self.db.execute(
                "UPDATE feed SET status_list = ?, next_status_index = ?, updated_at = ? WHERE id = 1",
                (*status_slot, _now()),
            )
            if batch is None:
                self.db.execute("UPDATE feed SET source_cursor = ? WHERE id = 1", (cursor,))
                return
            self.db.execute(
                "INSERT INTO outbox VALUES (?, ?, ?, ?, ?)",
                (batch.sequence, batch.body, json.dumps(batch.plan, ensure_ascii=False), cursor, _now()),
            )

    def record_applied(
        self,
        batch: OutboxBatch,
        *,
        accepted: Iterable[tuple[LicenceKey, LicenceState]],
        dead_letters: Iterable[DeadLetter],
    ) -> None:
        """The hub's answer to ``batch``: new licence states, rejections as dead letters, the feed's
        sequence and source cursor moved on, the batch out of the outbox: all or nothing."""
        now = _now()
        with self.transaction():
            rows = [
                (
                    *key,
                    s.serial,
                    s.version,
                    s.licence_id,
                    s.content_hash,
                    s.status.value,
                    s.status_list,
                    s.status_index,
                    now,
                )
                for key, s in accepted
            ]
            self.db.executemany("INSERT OR REPLACE INTO licence VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            self.db.executemany(
                "UPDATE dead_letter SET resolved_at = ? "
                "WHERE record_key = ? AND type_code IN (?, '') AND resolved_at IS NULL",
                [(now, record_key, type_code) for type_code, record_key, *_ in rows],
            )
            self._add_dead_letters(dead_letters)
            self.db.execute(
                "UPDATE feed SET last_sequence = ?, source_cursor = ?, updated_at = ? WHERE id = 1",
                (batch.sequence, batch.cursor_after, now),
            )
            self.db.execute("DELETE FROM outbox WHERE sequence = ?", (batch.sequence,))

    def discard_pending(self, batch: OutboxBatch) -> None:
        """Forget a batch the hub refused as a whole (4xx: it stored nothing); its records are read again."""
        with self.transaction():
            self.db.execute("DELETE FROM outbox WHERE sequence = ?", (batch.sequence,))

    # -- dead letters ----------------------------------------------------------------------------------

    def _add_dead_letters(self, dead_letters: Iterable[DeadLetter]) -> None:
        now = _now()
        self.db.executemany(
            "INSERT INTO dead_letter (record_key, type_code, stage, reason, raw, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    d.record_key,
                    d.type_code,
                    d.stage,
                    d.reason[:2000],
                    json.dumps(d.raw, ensure_ascii=False),
                    now,
                )
                for d in dead_letters
            ],
        )

    def dead_letters(self, *, limit: int = 20, include_resolved: bool = False) -> list[dict[str, Any]]:
        where = "" if include_resolved else "WHERE resolved_at IS NULL"
        rows = self.db.execute(
            f"SELECT id, record_key, type_code, stage, reason, created_at, resolved_at FROM dead_letter "
            f"{where} ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        names = ("id", "record_key", "type_code", "stage", "reason", "created_at", "resolved_at")
        return [dict(zip(names, row, strict=True)) for row in rows]

    # -- reporting -------------------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        by_type_status = self.db.execute(
            "SELECT type_code, status, count(*), sum(version) FROM licence GROUP BY type_code, status"
        ).fetchall()
        dead = self.db.execute(
            "SELECT stage, count(*) FROM dead_letter WHERE resolved_at IS NULL GROUP BY stage"
        ).fetchall()
        pending = self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return {
            "licences": [
                {"type_code": t, "status": s, "licences": n, "versions": v} for t, s, n, v in by_type_status
            ],
            "dead_letters": dict(dead),
            "pending_batches": pending,
        }
