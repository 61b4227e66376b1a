"""Where the server's time goes: the same request path run in-process, timed plainly and under cProfile.

Each batch goes through what the HTTP endpoint does with it, minus the socket: the JSON body is parsed
into ``LicenceBatchCreate``, ``ingest.ingest_batch`` runs in one transaction that is committed, and the
result is serialised as the response would be.
"""

from __future__ import annotations

import cProfile
import fnmatch
import inspect
import io
import pstats
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event

from bench.workload import Workload, interleave
from hub.context import Hub
from hub.registry import ingest
from hub.registry.schemas import LicenceBatchCreate

T = TypeVar("T")

# Stages of one batch, each the cumulative time of a function on the request path:
# (glob on the file path, function name, label, nesting depth for the report).
STAGES: list[tuple[str, str, str, int]] = [
    ("*/bench/profiling.py", "_parse_request", "parse the JSON body into LicenceBatchCreate", 0),
    ("*/hub/registry/ingest*.py", "ingest_batch", "ingest.ingest_batch (checks + writes)", 0),
    ("*/hub/registry/ingest*.py", "request_digest", "request_digest (model_dump + json + sha256)", 1),
    ("*/hub/registry/ingest*.py", "prepare", "per-operation checks (prepare)", 1),
    ("*/hub/contract/sdjwt.py", "parse", "sdjwt.parse (split, base64, JSON)", 2),
    ("*/hub/contract/sdjwt.py", "verify_issuer_signature", "ES256 signature check", 2),
    ("*/hub/contract/sdjwt.py", "resolve_disclosures", "resolve_disclosures (digests)", 2),
    ("*/hub/registry/ingest*.py", "_check_claims", "_check_claims (field rules)", 2),
    ("*/hub/contract/identifiers.py", "check_citizen_id", "check_citizen_id (stdnum)", 3),
    ("*/hub/contract/identifiers.py", "check_uscc", "check_uscc (stdnum)", 3),
    ("*/hub/kit/blind_index.py", "of", "blind indexes (HMAC)", 2),
    ("*/hub/registry/ingest*.py", "_apply", "_apply (lookups, state, inserts)", 1),
    ("*/hub/registry/repository.py", "licences_by_serial", "SELECT existing licences", 2),
    ("*/hub/registry/repository.py", "used_status_slots", "SELECT used status slots", 2),
    ("*/hub/registry/ingest*.py", "_add_version", "BatchWriter._add_version (sealing, versions)", 2),
    ("*/storage/sealing.py", "seal", "AES-GCM sealing of credentials", 3),
    ("*/hub/registry/repository.py", "insert_licences", "INSERT licences … RETURNING", 2),
    ("*/hub/registry/repository.py", "insert_versions", "INSERT licence versions", 2),
    ("*/hub/registry/repository.py", "save_feed_batch", "save_feed_batch (result JSON row, flush)", 1),
    ("*/bench/profiling.py", "timed_commit", "COMMIT", 0),
    ("*/bench/profiling.py", "serialise_response", "serialise the response", 0),
]


def _parse_request(body: bytes) -> LicenceBatchCreate:
    return LicenceBatchCreate.model_validate_json(body)


@dataclass
class Clock:
    seconds: float = 0.0


# Wall time inside COMMIT, which the statement timer's cursor events do not see; reset before a timed run.
commits = Clock()


def timed_commit(session: Any) -> None:
    """The endpoint's COMMIT, timed into ``commits`` (and a stage of its own under cProfile)."""
    started = time.perf_counter()
    session.commit()
    commits.seconds += time.perf_counter() - started


def serialise_response(read: Any) -> bytes:
    """The response body as FastAPI serialises a response model."""
    return type(read).model_validate(read).model_dump_json().encode()


_TAKES_PUSHER = "pusher" in inspect.signature(ingest.ingest_batch).parameters


def _one_batch(hub: Hub, body: bytes, pushers: dict[str, str]) -> int:
    batch = _parse_request(body)
    session = hub.session_factory()
    try:
        if _TAKES_PUSHER:  # the endpoint passes the authenticated department client
            from hub.access import repository as access_repository

            pusher = access_repository.get_client(session, pushers[batch.department])
            read = ingest.ingest_batch(session, hub, batch, pusher=pusher)
        else:
            read = ingest.ingest_batch(session, hub, batch)
        timed_commit(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    serialise_response(read)
    if read.accepted != len(batch.operations):
        problems = [r.problem for r in read.results if r.problem][:3]
        raise RuntimeError(f"in-process ingest rejected operations: {problems}")
    return read.accepted


def ingest_body(hub: Hub, body: bytes, pushers: dict[str, str]) -> int:
    """One batch body through the endpoint's work, in-process, committed: the accepted count (every
    operation must be accepted). ``pushers`` maps department ids to their client ids."""
    return _one_batch(hub, body, pushers)


def _orders(workload: Workload) -> list[tuple[str, int, int, bytes]]:
    return [item for feeds in workload.clients for item in interleave(feeds)]


def warm_up(hub: Hub, workload: Workload, pushers: dict[str, str]) -> None:
    """Ingest a small feed first, untimed: module imports, key and lookup caches of the hub object."""
    for _, _, _, body in _orders(workload):
        _one_batch(hub, body, pushers)


def _statement_kind(statement: str) -> str:
    words = statement.split()
    statement = " ".join(words)
    head = " ".join(words[:2]).upper()
    if head.startswith("INSERT INTO"):
        return f"INSERT INTO {words[2].strip(chr(34))}" + (
            " … RETURNING" if " RETURNING " in statement else ""
        )
    if head.startswith("UPDATE"):
        return f"UPDATE {words[1].strip(chr(34))}"
    if head.startswith("SELECT") and " FROM " in statement:
        table = statement.split(" FROM ", 1)[1].split()[0].strip(chr(34))
        return f"SELECT … FROM {table}" + (" FOR UPDATE" if "FOR UPDATE" in statement else "")
    return " ".join(words[:3])


class StatementTimer:
    """Wall time inside ``cursor.execute`` per kind of statement: the driver's work plus the round trip
    and the database server's work."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.parameters: dict[str, int] = defaultdict(int)

    def _before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        took = time.perf_counter() - conn.info["bench_started"].pop()
        kind = _statement_kind(statement)
        self.seconds[kind] += took
        self.calls[kind] += 1
        if isinstance(parameters, dict):
            self.parameters[kind] += len(parameters)
        elif isinstance(parameters, (list, tuple)):
            self.parameters[kind] += sum(
                len(p) if isinstance(p, (dict, list, tuple)) else 1 for p in parameters
            )

    def __enter__(self) -> StatementTimer:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def time_in_process(hub: Hub, workload: Workload, pushers: dict[str, str]) -> dict[str, Any]:
    """The request path without HTTP, one batch at a time, no profiler: licences/s, and how much of it
    is spent inside SQL statements and COMMIT. ``pushers`` maps department ids to their client ids."""
    orders = _orders(workload)
    licences = 0
    with StatementTimer(hub.engine) as timer:
        commits.seconds = 0.0
        start = time.perf_counter()
        for _, _, _, body in orders:
            licences += _one_batch(hub, body, pushers)
        seconds = time.perf_counter() - start
        commit_seconds = commits.seconds
    statements = sorted(
        (
            {
                "statement": kind,
                "calls": timer.calls[kind],
                "parameters": timer.parameters[kind],
                "seconds": took,
                "share": took / seconds,
                "us_per_licence": took / licences * 1e6,
            }
            for kind, took in timer.seconds.items()
        ),
        key=lambda row: row["seconds"],
        reverse=True,
    )
    in_sql = sum(timer.seconds.values())
    return {
        "batches": len(orders),
        "licences": licences,
        "seconds": seconds,
        "per_second": licences / seconds,
        "sql_seconds": in_sql,
        "commit_seconds": commit_seconds,
        "python_seconds": seconds - in_sql - commit_seconds,
        "statements": statements,
    }


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    for marker in ("/hub/", "/storage/", "/bench/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.split(marker, 1)[1]
    return filename


Raw = dict[tuple[str, int, str], tuple[int, int, float, float, Any]]  # pstats: (file, line, name) -> figures


def run_profiled(work: Callable[[], T]) -> tuple[T, float, pstats.Stats, Raw]:
    """``work()`` under cProfile: its result, the wall seconds it took, the stats and their raw table."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    result = work()
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler, stream=io.StringIO())
    return result, wall, stats, stats.stats  # type: ignore[attr-defined]


def stage_rows(
    raw: Raw, stages: list[tuple[str, str, str, int]], wall: float, count: int, unit: str
) -> list[dict[str, Any]]:
    """Each stage (glob on the file path, function, label, depth) with the cumulative time of the
    functions it names: seconds, share of ``wall`` and µs per one of ``count`` (the key ``unit``)."""
    cumulative: dict[tuple[str, str], float] = defaultdict(float)
    for (filename, _, name), (_, _, _, ct, _) in raw.items():
        norm = filename.replace("\\", "/")
        for pattern, func, _, _ in stages:
            if name == func and fnmatch.fnmatch(norm, pattern):
                cumulative[(pattern, func)] += ct
    return [
        {
            "stage": label,
            "depth": depth,
            "seconds": cumulative.get((pattern, func), 0.0),
            "share": cumulative.get((pattern, func), 0.0) / wall if wall else 0.0,
            unit: cumulative.get((pattern, func), 0.0) / count * 1e6 if count else 0.0,
        }
        for pattern, func, label, depth in stages
    ]


def where(filename: str, line: int) -> str:
    """A profiled function's place, short: ``built-in``, or the file below its package root and the line."""
    return "built-in" if filename == "~" else f"{_short(filename)}:{line}"


def profile_in_process(
    hub: Hub, workload: Workload, pushers: dict[str, str], *, top: int = 25, dump: Path | None = None
) -> dict[str, Any]:
    """cProfile the request path on the workload's batches: stage breakdown and top functions."""
    orders = _orders(workload)
    licences, wall, stats, raw = run_profiled(
        lambda: sum(_one_batch(hub, body, pushers) for _, _, _, body in orders)
    )
    if dump is not None:
        stats.dump_stats(str(dump))
    total = wall
    stages = stage_rows(raw, STAGES, total, licences, "us_per_licence")

    def row(key: tuple[str, int, str], value: tuple[int, int, float, float, Any]) -> dict[str, Any]:
        filename, line, name = key
        calls, _, tt, ct, _ = value
        return {
            "function": name,
            "where": where(filename, line),
            "calls": calls,
            "tottime_s": tt,
            "cumtime_s": ct,
            "tottime_share": tt / total if total else 0.0,
        }

    by_tottime = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    by_cumtime = sorted(
        ((k, v) for k, v in raw.items() if not k[2].startswith("<") or k[0] != "~"),
        key=lambda kv: kv[1][3],
        reverse=True,
    )[:top]
    return {
        "batches": len(orders),
        "licences": licences,
        "seconds_under_profiler": wall,
        "profiled_seconds": total,
        "stages": stages,
        "top_tottime": [row(k, v) for k, v in by_tottime],
        "top_cumtime": [row(k, v) for k, v in by_cumtime],
    }
