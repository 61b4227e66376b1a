"""Where a lookup's time goes: stages of ``POST /v1/lookups`` for py-spy samples of the running server, and
the same request path run in-process — timed with every SQL statement clocked, and under cProfile.

In-process, one lookup is what the endpoint does minus the socket and ASGI: the bearer token verified
(the route's ``current_service`` dependency: token, client and grants in force), the JSON body parsed into
``LookupCreate``, ``service.lookup`` in a session that is then committed, and the ``LookupRead`` serialised.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from bench import profiling
from bench.profiling import StatementTimer
from hub.context import Hub
from hub.lookups import service
from hub.lookups.schemas import LookupCreate
from hub.web import callers as deps

# Everything the request path runs is imported when the harness starts, as the server imports it when it
# starts: a tree edited during a run cannot mix old and new code in one measurement.

# py-spy: (file part, function, stage); the deepest frame of a sample that matches names the sample.
RULES: list[tuple[str, str, str]] = [
    ("hub/deps.py", "get_hub", "get_hub dependency"),
    ("hub/lookups/router.py", "post_lookup", "endpoint, other"),
    ("hub/web/callers.py", "verified_token", "access token, other"),
    ("hub/oauth/tokens.py", "verify", "access token: IssuedToken row"),
    ("hub/oauth/tokens.py", "decode", "access token: JWS check (ES256 verify)"),
    ("hub/web/callers.py", "client_caller", "caller: client row"),
    ("hub/web/callers.py", "service_caller", "caller: service check, other"),
    ("hub/access/repository.py", "active_grants", "grants in force (SELECT, twice a lookup)"),
    ("hub/lookups/service.py", "lookup", "service.lookup: other"),
    ("hub/lookups/repository.py", "get_service_item", "service item row"),
    ("hub/lookups/service.py", "resolve", "resolve requester + holder: other"),
    ("hub/contract/identifiers.py", "check_citizen_id", "holder: check_citizen_id (stdnum)"),
    ("hub/access/repository.py", "region_ancestors", "holder: region chain (SELECT per level)"),
    ("hub/kit/blind_index.py", "of", "holder: blind index (HMAC)"),
    ("hub/registry/repository.py", "get_licence_type", "licence type row"),
    ("hub/lookups/release.py", "release_type", "release_type: other"),
    ("hub/lookups/repository.py", "holder_licences", "holder's licences (SELECT … JOIN)"),
    ("storage/sealing.py", "open", "unseal credential (AES-GCM)"),
    ("hub/lookups/release.py", "_present", "presentation: other"),
    ("hub/contract/sdjwt.py", "parse", "presentation: sdjwt.parse"),
    ("hub/contract/sdjwt.py", "present", "presentation: sdjwt.present (select, KB-JWT)"),
    ("hub/contract/sdjwt.py", "sign_jws", "presentation: KB-JWT ES256 sign"),
    ("hub/lookups/release.py", "_note_attachments", "attachment releases"),
    ("hub/lookups/service.py", "_audit", "audit event: other"),
    ("hub/audit/service.py", "record", "audit event: record, other"),
    ("hub/audit/log.py", "append", "audit event: INSERT + Merkle leaf (log.append), other"),
    ("hub/audit/repository.py", "claim_leaf_index", "audit event: claim leaf index (row lock)"),
    ("hub/audit/repository.py", "get_nodes", "audit event: read Merkle nodes"),
    ("hub/audit/repository.py", "store_nodes", "audit event: store Merkle nodes"),
    ("hub/audit/metrics.py", "count_on_commit", "audit event: metrics"),
]

# When no rule matched: the framework around the endpoint. The first entry found anywhere in the stack
# names the sample, so that outer layers (the hub's middleware, uvicorn's protocol) come last.
FALLBACKS: list[tuple[str, str | None, str]] = [
    ("hub/db.py", "get_session", "COMMIT + session close (get_session)"),
    ("fastapi/routing.py", "serialize_response", "FastAPI: response validation + serialisation"),
    ("fastapi/dependencies/utils.py", "request_body_to_args", "FastAPI: request body validation"),
    ("fastapi/routing.py", "_get_body", "FastAPI: request body read + JSON decode"),
    ("anyio/", None, "thread pool hand-offs (anyio, a sync dependency or endpoint each)"),
    ("starlette/concurrency.py", None, "thread pool hand-offs (anyio, a sync dependency or endpoint each)"),
    ("h11/", None, "HTTP parsing and framing (h11)"),
    ("httptools", None, "HTTP parsing and framing (httptools)"),
    ("fastapi/dependencies/utils.py", "solve_dependencies", "FastAPI: dependency resolution, other"),
    ("fastapi/", None, "FastAPI / Starlette routing, other"),
    ("hub/kit/http.py", None, "hub middleware (body limit, metrics)"),
    ("starlette/middleware/sessions.py", None, "session middleware"),
    ("hub/", None, "hub, other"),
    ("starlette/", None, "FastAPI / Starlette routing, other"),
    ("prometheus_client/", None, "hub middleware (body limit, metrics)"),
    ("uvicorn/", None, "uvicorn, other"),
    ("asyncio/", None, "event loop (asyncio)"),
    ("selectors.py", None, "event loop (asyncio)"),
    ("threading.py", None, "threads, other"),
]


def classify(frames: list[tuple[str, str]]) -> str:
    """The stage of one py-spy sample (frames outermost first, as (function, file))."""
    label = None
    for name, file in frames:
        for part, func, stage in RULES:
            if name == func and part in file:
                label = stage
    if label is not None:
        return label
    for part, wanted, stage in FALLBACKS:
        if any(part in file and (wanted is None or name == wanted) for name, file in frames):
            return stage
    leaf = frames[-1][1] if frames else ""
    for part, what in (("sqlalchemy/", "SQLAlchemy"), ("psycopg/", "psycopg"), ("pydantic", "pydantic")):
        if part in leaf:
            return f"{what} (stack cut short)"
    return "other"


# In-process -------------------------------------------------------------------------------------------

STAGES: list[tuple[str, str, str, int]] = [
    ("*/hub/oauth/tokens.py", "verify", "access token: tokens.verify", 0),
    ("*/hub/oauth/tokens.py", "decode", "JWS check (ES256 verify)", 1),
    ("*/hub/web/callers.py", "client_caller", "caller: client row", 0),
    ("*/hub/web/callers.py", "service_caller", "caller: service check (grants in force)", 0),
    ("*/bench/lookup_profile.py", "_parse", "parse the JSON body into LookupCreate", 0),
    ("*/hub/lookups/service.py", "lookup", "service.lookup", 0),
    ("*/hub/lookups/repository.py", "get_service_item", "service item row", 1),
    ("*/hub/lookups/service.py", "resolve", "resolve requester + holder", 1),
    ("*/hub/contract/identifiers.py", "check_citizen_id", "check_citizen_id (stdnum)", 2),
    ("*/hub/access/repository.py", "region_ancestors", "region chain (SELECT per level)", 2),
    ("*/hub/kit/blind_index.py", "of", "blind index (HMAC)", 2),
    ("*/hub/registry/repository.py", "get_licence_type", "licence type row", 1),
    ("*/hub/lookups/release.py", "release_type", "release_type", 1),
    ("*/hub/lookups/repository.py", "holder_licences", "holder's licences (SELECT … JOIN)", 2),
    ("*/storage/sealing.py", "open", "unseal credential (AES-GCM)", 2),
    ("*/hub/lookups/release.py", "_present", "presentation", 2),
    ("*/hub/contract/sdjwt.py", "present", "sdjwt.present (select disclosures, KB-JWT sign)", 3),
    ("*/hub/lookups/service.py", "_audit", "audit event", 1),
    ("*/hub/audit/log.py", "append", "Merkle log append", 2),
    ("*/hub/access/repository.py", "active_grants", "active_grants (SELECT), both calls", 0),
    ("*/bench/profiling.py", "timed_commit", "COMMIT", 0),
    ("*/bench/profiling.py", "serialise_response", "serialise the response (LookupRead)", 0),
]


def _parse(body: bytes) -> Any:
    return LookupCreate.model_validate_json(body)


def one_lookup(hub: Hub, bearer: str, body: bytes) -> bytes:
    """The endpoint's work for one lookup, in-process; the response body."""
    session = hub.session_factory()
    try:
        # The route's own dependency: token and client in one query, then the service's grants in force.
        request = Request(
            {
                "type": "http",
                "method": "POST",
                "path": "/v1/lookups",
                "headers": [(b"authorization", f"Bearer {bearer}".encode())],
            }
        )
        caller = deps.current_service(request, session, hub)
        read = service.lookup(session, hub, caller, _parse(body))
        profiling.timed_commit(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    if len(read.released) != 1 or read.refused:
        raise RuntimeError(f"in-process lookup released {len(read.released)}, refused {read.refused}")
    return profiling.serialise_response(read)


def _bodies(requests: Any, count: int) -> list[bytes]:
    return [requests.body(n)[0] for n in range(count)]


PING = "(pool_pre_ping: a ping on each checkout)"


class _PingTimer:
    """Counts and times the engine's ``pool_pre_ping`` pings, which bypass the cursor events."""

    def __init__(self, engine: Any) -> None:
        self.dialect = engine.dialect
        self.calls = 0
        self.seconds = 0.0

    def __enter__(self) -> _PingTimer:
        original = type(self.dialect).do_ping

        def do_ping(dbapi_connection: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self.dialect, dbapi_connection)
            finally:
                self.calls += 1
                self.seconds += time.perf_counter() - started

        self.dialect.do_ping = do_ping
        return self

    def __exit__(self, *exc: object) -> None:
        del self.dialect.do_ping


def time_in_process(hub: Hub, bearer: str, requests: Any, count: int) -> dict[str, Any]:
    """``count`` lookups one after another, no profiler: lookups/s, and the time inside each kind of SQL
    statement (driver + round trip + database) and in COMMIT."""
    for body in _bodies(requests, min(50, count)):  # warm caches and the connection pool
        one_lookup(hub, bearer, body)
    bodies = _bodies(requests, count)
    with StatementTimer(hub.engine) as timer, _PingTimer(hub.engine) as pings:
        profiling.commits.seconds = 0.0
        start = time.perf_counter()
        cpu_start = time.process_time()
        for body in bodies:
            one_lookup(hub, bearer, body)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        commit_seconds = profiling.commits.seconds
    if pings.calls:  # a round trip of its own, outside cursor events: shown as a statement
        timer.seconds[PING] += pings.seconds
        timer.calls[PING] += pings.calls
    in_sql = sum(timer.seconds.values())
    statements: list[dict[str, Any]] = sorted(
        (
            {
                "statement": kind,
                "calls": timer.calls[kind],
                "per_lookup": timer.calls[kind] / count,
                "seconds": took,
                "us_per_lookup": took / count * 1e6,
                "share": took / seconds,
            }
            for kind, took in timer.seconds.items()
        ),
        key=lambda row: float(row["seconds"]),
        reverse=True,
    )
    return {
        "lookups": count,
        "seconds": seconds,
        "per_second": count / seconds,
        "us_per_lookup": seconds / count * 1e6,
        "cpu_us_per_lookup": cpu_seconds / count * 1e6,  # this process's CPU: the path without HTTP
        "sql_seconds": in_sql,
        "commit_seconds": commit_seconds,
        "python_seconds": seconds - in_sql - commit_seconds,
        "statements_per_lookup": sum(timer.calls.values()) / count,
        "statements": statements,
    }


def profile_in_process(hub: Hub, bearer: str, requests: Any, count: int, *, top: int = 25) -> dict[str, Any]:
    """cProfile of ``count`` lookups: the stage table (cumulative time of functions on the path) and the
    top functions by own time."""
    bodies = _bodies(requests, count)

    def lookups() -> None:
        for body in bodies:
            one_lookup(hub, bearer, body)

    _, wall, _, raw = profiling.run_profiled(lookups)
    by_tottime = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return {
        "lookups": count,
        "seconds_under_profiler": wall,
        "stages": profiling.stage_rows(raw, STAGES, wall, count, "us_per_lookup"),
        "top_tottime": [
            {
                "function": name,
                "where": profiling.where(filename, line),
                "calls": calls,
                "tottime_share": tt / wall,
                "cumtime_s": ct,
            }
            for (filename, line, name), (calls, _, tt, ct, _) in by_tottime
        ],
    }
