"""Lookups against their ceiling: ``POST /v1/lookups`` on a registry holding N licences, beside a bare
FastAPI endpoint returning a body of the same size, served by the same uvicorn command line, in the same
run, at the same concurrencies.

1. **Dataset.** A fresh database; the catalog, the service items, one police bureau with an ES256 key and
   its department client are seeded directly. N licences for N/2 citizens (a resident ID card and a
   household register each) are signed by worker processes (``build_credential``, bound to the hub's
   holder key) and written through the real ingest, **in-process**: ``ingest.ingest_batch`` on batches of
   500 parsed from the JSON bodies an adapter would post, one committed transaction per batch, as the
   endpoint does — no HTTP, to save time. Then ``ANALYZE``.
2. **Servers.** The hub (``uvicorn hub.main:create_app``) and the bare app (``bench.bare_app``), with the
   same flags and worker count (``bench.server.HubServer``).
3. **Caller.** A city admin registers an approval service (``client_secret_basic``) and grants it the ID
   card up to T2 for the service item ``MZCFBG`` (民族成分变更) in Zhengzhou; its token comes from
   ``POST /oauth/token`` with scope ``licence:<ID card>:t2`` (refetched before each level).
4. **Levels.** At 1, 8, 32 and 64 concurrent connections: the bare endpoint, then lookups, each a warm-up
   and a measured window (``bench.load``). Every lookup asks for a random holder among the loaded
   citizens, the ID card at T2, purpose ``MZCFBG``, a new case id and a fresh nonce; the bare endpoint gets
   the very same requests.
5. **Target**: lookups >= 0.25 x the bare endpoint's requests/s at 32 clients, with p99 <= 100 ms.
   When it is not met, the server is sampled with py-spy during one more, untimed, lookup level and the
   request path is timed and cProfiled in-process (``bench.lookup_profile``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import json
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench import access, load, lookup_profile, profiling, server, spy, verification, workload
from hub.context import build_hub
from hub.demo import seed_catalog
from hub.demo_data import citizen_id

ID_CARD = workload.ID_CARD
HOUSEHOLD = workload.HOUSEHOLD
PURPOSE = "MZCFBG"  # 民族成分变更: needs the ID card and the household register
TIER = 2
TARGET_RATIO = 0.25
TARGET_P99_S = 0.100
TARGET_CONCURRENCY = 32
CONCURRENCIES = (1, 8, 32, 64)

Log = Callable[[str], None]


def _silent(_: str) -> None:
    pass


@dataclass
class LookupConfig:
    licences: int = 100_000
    concurrencies: tuple[int, ...] = CONCURRENCIES
    seconds: float = 6.0  # measured window per level and server
    warmup_s: float = 1.5
    max_requests: int = 200_000  # per level and server
    backend: str = "postgres"
    batch_size: int = workload.BATCH_SIZE
    signers: int = field(default_factory=lambda: max(1, min(2, os.cpu_count() or 1)))  # 0: in-process
    profile: str = "auto"  # "auto": when the target is not met; "always"; "never"
    profile_seconds: float = 6.0
    profile_lookups: int = 400  # in-process, for each of the timed and the cProfile run
    recovery_timeout_s: float = 60.0  # after a level with failures, how long to wait for the hub to answer
    prefill: bool = True  # measure POST /v1/prefill (and its bare endpoint) at every level too
    verify_seconds: float = 2.0  # offline verification: seconds of each timed loop
    seed: int = 2026


# Dataset ---------------------------------------------------------------------------------------------


def citizens(count: int, seed: int) -> list[str]:
    """``count`` distinct citizen numbers of Zhengzhou counties."""
    rng = random.Random(seed)
    seen: set[str] = set()
    found: list[str] = []
    while len(found) < count:
        number = citizen_id(rng)
        if number not in seen:
            seen.add(number)
            found.append(number)
    return found


def dataset_items(licences: int, holders: list[str], seed: int) -> list[tuple[str, str]]:
    """(type code, holder) of every licence: an ID card and a household register per citizen (the last
    citizen only an ID card when N is odd), in a shuffled feed order."""
    items = [(code, h) for h in holders for code in (ID_CARD, HOUSEHOLD)][:licences]
    random.Random(seed).shuffle(items)
    return items


def _sign_chunk(job: dict[str, Any]) -> list[str]:
    """Sign one batch's credentials (in a worker process)."""
    department: workload.Department = job["department"]
    types = workload.licence_types()
    rng = random.Random(job["seed"])
    now = int(time.time())
    return [
        workload.sign_credential(
            department,
            types[code],
            holder,
            serial,
            index,
            holder_jwk=job["holder_jwk"],
            public_url=job["public_url"],
            rng=rng,
            now=now,
        )
        for code, holder, serial, index in job["items"]
    ]


def _jobs(
    items: list[tuple[str, str]],
    department: workload.Department,
    *,
    holder_jwk: dict[str, Any],
    public_url: str,
    batch_size: int,
    seed: int,
) -> Iterator[dict[str, Any]]:
    serials = {code: itertools.count(1) for code in (ID_CARD, HOUSEHOLD)}
    numbered = [(code, holder, next(serials[code]), i) for i, (code, holder) in enumerate(items)]
    # the private JWK goes to the signer processes, not the imported key object
    unkeyed = dataclasses.replace(department, _key=None)
    for n, start in enumerate(range(0, len(numbered), batch_size)):
        yield {
            "items": numbered[start : start + batch_size],
            "department": unkeyed,
            "holder_jwk": holder_jwk,
            "public_url": public_url,
            "seed": seed * 100_003 + n,
        }


class _InlinePool:
    """``signers=0``: sign in this process when asked for the result (tiny smoke runs)."""

    def __enter__(self) -> _InlinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, fn: Callable[[Any], Any], job: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_result(fn(job))
        return future


def load_dataset(
    hub: Any,
    department: workload.Department,
    pusher_client_id: str,
    items: list[tuple[str, str]],
    *,
    holder_jwk: dict[str, Any],
    public_url: str,
    batch_size: int,
    signers: int,
    seed: int,
    log: Log = _silent,
) -> dict[str, Any]:
    """Sign in ``signers`` worker processes while this process ingests, batch after batch, in order."""
    jobs = _jobs(
        items, department, holder_jwk=holder_jwk, public_url=public_url, batch_size=batch_size, seed=seed
    )
    pushers = {department.id: pusher_client_id}
    started = time.perf_counter()
    ingest_seconds = 0.0
    accepted = 0
    sequence = 0
    window = 2 * signers + 2  # batches signed ahead; bounds memory
    next_report = time.perf_counter() + 15
    context = multiprocessing.get_context("spawn")
    pool_or_none = (
        concurrent.futures.ProcessPoolExecutor(max_workers=signers, mp_context=context) if signers else None
    )
    with pool_or_none or _InlinePool() as pool:
        pending = [pool.submit(_sign_chunk, job) for job in itertools.islice(jobs, window)]
        while pending:
            credentials = pending.pop(0).result()
            job = next(jobs, None)
            if job is not None:
                pending.append(pool.submit(_sign_chunk, job))
            sequence += 1
            body = json.dumps(
                {
                    "department": department.id,
                    "sequence": sequence,
                    "operations": [{"op": "issue", "credential": c} for c in credentials],
                },
                separators=(",", ":"),
            ).encode()
            t0 = time.perf_counter()
            accepted += profiling.ingest_body(hub, body, pushers)
            ingest_seconds += time.perf_counter() - t0
            if time.perf_counter() > next_report:
                log(f"[lookups] loaded {accepted:,} / {len(items):,} licences")
                next_report += 15
    seconds = time.perf_counter() - started
    return {
        "licences": accepted,
        "batches": sequence,
        "seconds": seconds,
        "per_second": accepted / seconds,
        "ingest_seconds": ingest_seconds,
        "signer_processes": signers,
        "method": (
            f"in-process hub.registry.ingest.ingest_batch, batches of {batch_size} parsed from JSON bodies, "
            "one committed transaction each, credentials signed "
            + (f"by {signers} worker process(es) meanwhile" if signers else "in the same process")
        ),
    }


# Requests ----------------------------------------------------------------------------------------------


class Requests:
    """Lookup requests: a random loaded holder, the ID card at T2, purpose MZCFBG, a new case id and a
    fresh nonce each; the same bytes go to the bare endpoint."""

    path = "/v1/lookups"

    def __init__(self, host: str, holders: list[str], authorization: str, seed: int, prefix: str) -> None:
        self.host = host
        self.holders = holders
        self.authorization = authorization
        self.rng = random.Random(seed)
        self.prefix = prefix

    def body(self, n: int) -> tuple[bytes, str]:
        holder = self.rng.choice(self.holders)
        body = {
            "holder_id": holder,
            "types": [{"type_code": ID_CARD, "tier": TIER}],
            "purpose": PURPOSE,
            "case_id": f"BENCH-{self.prefix}-{n:07d}",
            "nonce": os.urandom(12).hex(),
        }
        return json.dumps(body, separators=(",", ":")).encode(), holder

    def __call__(self, n: int) -> tuple[bytes, str]:
        body, holder = self.body(n)
        headers = {"Authorization": self.authorization, "Content-Type": "application/json"}
        return load.http_request("POST", self.path, self.host, headers, body), holder


class PrefillRequests(Requests):
    """Prefill requests: the service item MZCFBG for a random loaded holder (its ID card and household
    register at T2 fill the form), a new case id and a fresh nonce each."""

    path = "/v1/prefill"

    def body(self, n: int) -> tuple[bytes, str]:
        holder = self.rng.choice(self.holders)
        body = {
            "service_item": PURPOSE,
            "holder_id": holder,
            "case_id": f"BENCH-{self.prefix}-{n:07d}",
            "nonce": os.urandom(12).hex(),
        }
        return json.dumps(body, separators=(",", ":")).encode(), holder


def check_prefill(holder: str, status: int, body: bytes) -> None:
    """A prefill answer must be complete: both materials obtained, the form's ID number the holder's."""
    if status != 200:
        raise RuntimeError(f"prefill answered HTTP {status}: {body[:500]!r}")
    answer = json.loads(body)
    if not answer.get("complete") or len(answer.get("presentations") or []) != 2:
        raise RuntimeError(f"prefill incomplete: {[m.get('outcome') for m in answer.get('materials', [])]}")
    if (answer["form"].get("applicant_id_number") or {}).get("value") != holder:
        raise RuntimeError("the prefilled ID number is not the holder's")


def check_lookup(holder: str, status: int, body: bytes) -> None:
    """A lookup answer must release exactly the holder's ID card at T2 and refuse nothing."""
    if status != 200:
        raise RuntimeError(f"lookup answered HTTP {status}: {body[:500]!r}")
    answer = json.loads(body)
    released = answer.get("released") or []
    if answer.get("refused") or len(released) != 1:
        raise RuntimeError(f"lookup released {len(released)} licence(s), refused {answer.get('refused')}")
    licence = released[0]
    if licence["type_code"] != ID_CARD or licence["tier"] != TIER:
        raise RuntimeError(f"released {licence['type_code']} at T{licence['tier']}")
    if licence["claims"].get("id_number") != holder or "~" not in licence["presentation"]:
        raise RuntimeError("the released ID card is not the holder's, or carries no presentation")


def check_bare(expected: bytes) -> load.Check:
    def check(_: Any, status: int, body: bytes) -> None:
        if status != 200 or len(body) != len(expected):
            raise RuntimeError(f"bare endpoint answered HTTP {status} with {len(body)} bytes")

    return check


def _db_pids(database_url: str) -> Callable[[], list[int]] | None:
    if make_url(database_url).get_backend_name() != "postgresql":
        return None
    libpq = server.libpq(database_url)

    def pids() -> list[int]:
        with psycopg.connect(libpq, connect_timeout=5, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchall()
        return [int(r[0]) for r in rows]

    return pids


def _analyze(database_url: str) -> None:
    if make_url(database_url).get_backend_name() == "postgresql":
        with psycopg.connect(server.libpq(database_url), connect_timeout=5, autocommit=True) as conn:
            conn.execute("ANALYZE")


def _validate(
    base_url: str,
    requests: Requests,
    count: int,
    samples: list[verification.Sample] | None = None,
    aud: str = "",
) -> list[bytes]:
    """``count`` lookups (or prefills) through httpx, each checked in full; their answers (for the bare
    body). ``samples`` collects (presentation, ``aud``, nonce) of every released licence."""
    prefill = isinstance(requests, PrefillRequests)
    bodies = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for n in range(count):
            body, holder = requests.body(n)
            response = client.post(
                requests.path,
                content=body,
                headers={"Authorization": requests.authorization, "Content-Type": "application/json"},
            )
            (check_prefill if prefill else check_lookup)(holder, response.status_code, response.content)
            bodies.append(response.content)
            if samples is not None:
                answer = response.json()
                nonce = json.loads(body)["nonce"]
                for released in answer.get("presentations" if prefill else "released", []):
                    samples.append((released["presentation"], aud, nonce))
    return bodies


# The run -----------------------------------------------------------------------------------------------


def verdict(levels: dict[str, dict[str, Any]], concurrency: int = TARGET_CONCURRENCY) -> dict[str, Any]:
    key = str(concurrency)
    if key not in levels:
        return {"measured": False, "concurrency": concurrency}
    level = levels[key]
    ratio = level["lookups"]["ok_per_second"] / level["bare"]["per_second"]
    p99 = level["lookups"]["latency_s"]["p99"]
    errors = level["lookups"]["errors"]
    return {
        "measured": True,
        "description": (
            f"lookups >= {TARGET_RATIO} x the bare endpoint's requests/s at {concurrency} concurrent "
            f"clients, with p99 <= {TARGET_P99_S * 1000:.0f} ms"
        ),
        "concurrency": concurrency,
        "threshold_ratio": TARGET_RATIO,
        "threshold_p99_s": TARGET_P99_S,
        "ratio": ratio,
        "p99_s": p99,
        "errors": errors,
        "ratio_met": ratio >= TARGET_RATIO,
        "p99_met": p99 <= TARGET_P99_S,
        "met": ratio >= TARGET_RATIO and p99 <= TARGET_P99_S and errors == 0,
    }


def run_lookups(
    config: LookupConfig, pg_admin_url: str, log: Log = _silent, keep_dir: Path | None = None
) -> dict[str, Any]:
    """Everything of the lookups phase, in a temporary directory and database removed afterwards."""
    result: dict[str, Any] = {"backend": config.backend}
    with (
        tempfile.TemporaryDirectory(prefix="hub-bench-lookups-") as tmp,
        server.database(config.backend, Path(tmp), pg_admin_url) as database_url,
    ):
        workdir = Path(tmp)
        result["database"] = (
            "SQLite file (WAL)" if config.backend == "sqlite" else "PostgreSQL, fresh database"
        )
        cfg = server.ServerConfig.fresh(database_url, workdir)
        log(
            "[lookups] seeding catalog, service items, a police bureau and an approval service "
            f"({config.backend})"
        )
        hub = build_hub(cfg.settings())
        try:
            seed_catalog(hub)
            [department] = workload.register_departments(
                hub, [("bench-lookups-police", "police")], seed=config.seed
            )
            [pusher] = access.register_pushers(hub, [department.id])
            # the lookups ask for the ID card; the prefill of MZCFBG takes the household register too
            service = access.register_service(hub, [(ID_CARD, TIER), (HOUSEHOLD, TIER)], purposes=[PURPOSE])
            holder_jwk = dict(hub.signer.jwks["keys"][0])
            pool = hub.engine.pool  # the server builds the same engine from the same settings
            if hasattr(pool, "size") and hasattr(pool, "_max_overflow"):
                result["pool"] = {
                    "size": pool.size(),
                    "max_overflow": pool._max_overflow,
                    "timeout": pool.timeout(),
                }
            holders = citizens((config.licences + 1) // 2, config.seed)
            items = dataset_items(config.licences, holders, config.seed)
            log(
                f"[lookups] loading {len(items):,} licences for {len(holders):,} citizens "
                f"(signing in {config.signers} process(es), in-process ingest)"
            )
            dataset = load_dataset(
                hub,
                department,
                pusher.client_id,
                items,
                holder_jwk=holder_jwk,
                public_url=cfg.public_url,
                batch_size=config.batch_size,
                signers=config.signers,
                seed=config.seed,
                log=log,
            )
            from hub.registry.models import Licence

            with hub.session_factory() as session:
                dataset["licences_in_database"] = int(
                    session.scalar(select(func.count()).select_from(Licence)) or 0
                )
            dataset["citizens"] = len(holders)
            result["dataset"] = dataset
            log(
                f"[lookups] loaded {dataset['licences']:,} licences in {dataset['seconds']:.0f} s "
                f"({dataset['per_second']:,.0f}/s)"
            )
        finally:
            hub.close()
        _analyze(database_url)
        db_pids = _db_pids(database_url)

        hub_server = server.HubServer(cfg, workdir / "server" / "uvicorn.log")
        hub_host = f"127.0.0.1:{cfg.port}"
        with hub_server:
            authorization, result["token"] = access.fetch_service_token(cfg.public_url, service)
            checking = Requests(hub_host, holders, authorization, config.seed, "check")
            samples: list[verification.Sample] = []
            bodies = _validate(cfg.public_url, checking, 31, samples, aud=service.client_id)
            typical = sorted(bodies, key=len)[len(bodies) // 2]
            body_file = workdir / "bare-body.json"
            body_file.write_bytes(typical)
            result["response_bytes"] = {
                "median": len(typical),
                "min": min(len(b) for b in bodies),
                "max": max(len(b) for b in bodies),
            }
            prefills = _validate(
                cfg.public_url, PrefillRequests(hub_host, holders, authorization, config.seed, "pcheck"), 11
            )
            typical_prefill = sorted(prefills, key=len)[len(prefills) // 2]
            prefill_file = workdir / "bare-prefill-body.json"
            prefill_file.write_bytes(typical_prefill)
            result["prefill_response_bytes"] = {
                "median": len(typical_prefill),
                "min": min(len(b) for b in prefills),
                "max": max(len(b) for b in prefills),
            }
            log(f"[lookups] offline verification of {len(samples)} lookup presentations vs bare ES256")
            result["offline_verification"] = verification.measure(
                cfg.public_url, samples, min_seconds=config.verify_seconds
            )
            result["server_rss_idle_bytes"] = load.process_rss(hub_server.pid)
            bare = server.HubServer(
                cfg,
                workdir / "bare" / "uvicorn.log",
                app="bench.bare_app:create_app",
                port=server.free_port(),
                extra_env={"BENCH_BARE_BODY": str(body_file), "BENCH_BARE_PREFILL_BODY": str(prefill_file)},
            )
            # background work of the idle hub (the audit supervisor's thread, say) is in its CPU figures
            idle = load.process_cpu(hub_server.pid)
            time.sleep(2.0)
            result["server_idle_cpu_cores"] = (load.process_cpu(hub_server.pid) - idle) / 2.0
            with bare:
                result["servers"] = {
                    "hub": _shown_command(hub_server.command()),
                    "bare": _shown_command(bare.command()),
                    "workers": server.worker_count(),
                }
                levels: dict[str, dict[str, Any]] = {}
                measure = _Levels(config, bare, hub_server, holders, db_pids, log)
                spied = False
                for c in config.concurrencies:
                    if not spied and c > TARGET_CONCURRENCY and _wants_profile(config, levels):
                        # profile while the hub is healthy, before loads beyond the target's
                        _spy_phase(
                            result, config, levels, hub_server, service, holders, workdir, keep_dir, log
                        )
                        spied = True
                    authorization, _ = access.fetch_service_token(cfg.public_url, service)
                    levels[str(c)] = measure.level(c, authorization, typical, typical_prefill)
                result["levels"] = levels
                if not spied and _wants_profile(config, levels):
                    _spy_phase(result, config, levels, hub_server, service, holders, workdir, keep_dir, log)
        # read after the server stopped: requests abandoned by a failed level end (and log) late
        result["server_log_problems"] = hub_server.log_problems()
        result["target"] = verdict(levels)
        if _wants_profile(config, levels):
            result["profiled_because"] = "asked" if config.profile == "always" else "target not met"
            log(f"[lookups] in-process request path: {config.profile_lookups} lookups timed, then cProfile")
            hub = build_hub(cfg.settings(), migrate=False)
            try:
                bearer = service.minted.split(" ", 1)[1]
                requests = Requests(hub_host, holders, service.minted, config.seed + 11, "inproc")
                result["in_process"] = lookup_profile.time_in_process(
                    hub, bearer, requests, config.profile_lookups
                )
                result["profile"] = lookup_profile.profile_in_process(
                    hub, bearer, requests, config.profile_lookups
                )
            except Exception as exc:  # the report keeps every figure measured so far
                result["profile_error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
                log(f"[lookups] in-process profile failed: {result['profile_error']}")
            finally:
                hub.close()
    return result


def _wants_profile(config: LookupConfig, levels: dict[str, dict[str, Any]]) -> bool:
    if config.profile == "always":
        return True
    if config.profile == "never":
        return False
    target = verdict(levels)
    return bool(target["measured"] and not target["met"])


@dataclass
class _Levels:
    """The bare endpoint and the hub, measured side by side at each concurrency with requests of the same
    kind (lookups, then prefill)."""

    config: LookupConfig
    bare: server.HubServer
    hub: server.HubServer
    holders: list[str]
    db_pids: Callable[[], list[int]] | None
    log: Log

    def _against_bare(
        self,
        c: int,
        requests: type[Requests],
        authorization: str,
        check: load.Check,
        typical: bytes,
        *,
        seeds: tuple[int, int],
        prefixes: tuple[str, str],
    ) -> tuple[dict[str, Any], dict[str, Any], float]:
        """At ``c`` clients the bare endpoint (answering ``typical``), then the hub (``seeds`` and
        ``prefixes``: of the bare endpoint's requests, of the hub's): both measurements and the hub's
        answered requests/s over the bare endpoint's. After failures the hub is given time to answer
        again: an overloaded hub may still be working off abandoned requests."""
        config = self.config
        measured_bare = load.run_level(
            self.bare.base_url,
            requests(f"127.0.0.1:{self.bare.port}", self.holders, authorization, seeds[0], prefixes[0]),
            c,
            seconds=config.seconds,
            warmup_s=config.warmup_s,
            max_requests=config.max_requests,
            check=check_bare(typical),
            server_pid=self.bare.pid,
        )
        measured = load.run_level(
            self.hub.base_url,
            requests(f"127.0.0.1:{self.hub.port}", self.holders, authorization, seeds[1], prefixes[1]),
            c,
            seconds=config.seconds,
            warmup_s=config.warmup_s,
            max_requests=config.max_requests,
            check=check,
            server_pid=self.hub.pid,
            db_pids=self.db_pids,
        )
        if measured["errors"]:
            measured["recovered_after_s"] = self.hub.wait_responsive(timeout=config.recovery_timeout_s)
        return measured_bare, measured, measured["ok_per_second"] / measured_bare["per_second"]

    def level(
        self, c: int, authorization: str, typical: bytes, typical_prefill: bytes | None = None
    ) -> dict[str, Any]:
        """One concurrency: the bare endpoint, then lookups, with the same kind of requests; then the
        same for prefill (when ``config.prefill``)."""
        seed = self.config.seed
        measured_bare, measured, ratio = self._against_bare(
            c,
            Requests,
            authorization,
            check_lookup,
            typical,
            seeds=(seed + c, seed + 1000 + c),
            prefixes=(f"bare{c}", f"c{c}"),
        )
        if measured["errors"]:
            measured["recovery_timeout_s"] = self.config.recovery_timeout_s
        self.log(
            f"[lookups] {c:>2} clients: bare {measured_bare['per_second']:,.0f}/s "
            f"p50 {measured_bare['latency_s']['p50'] * 1000:.1f} ms "
            f"p99 {measured_bare['latency_s']['p99'] * 1000:.1f} ms | "
            f"lookups {measured['ok_per_second']:,.0f}/s "
            f"p50 {measured['latency_s']['p50'] * 1000:.1f} ms "
            f"p99 {measured['latency_s']['p99'] * 1000:.1f} ms, "
            f"{measured['errors']} failed | ratio {ratio:.2f}"
            + (
                f" | answered again after {measured['recovered_after_s']:.0f} s"
                if measured.get("recovered_after_s")
                else ""
            )
        )
        level: dict[str, Any] = {"bare": measured_bare, "lookups": measured, "ratio": ratio}
        if self.config.prefill and typical_prefill is not None:
            level["prefill"] = self.prefill_level(c, authorization, typical_prefill)
        return level

    def prefill_level(self, c: int, authorization: str, typical: bytes) -> dict[str, Any]:
        """Prefill of MZCFBG at one concurrency, beside the bare endpoint answering a prefill-sized
        body."""
        seed = self.config.seed
        measured_bare, measured, ratio = self._against_bare(
            c,
            PrefillRequests,
            authorization,
            check_prefill,
            typical,
            seeds=(seed + c, seed + 2000 + c),
            prefixes=(f"pbare{c}", f"p{c}"),
        )
        self.log(
            f"[prefill] {c:>2} clients: bare {measured_bare['per_second']:,.0f}/s | prefill "
            f"{measured['ok_per_second']:,.0f}/s p50 {measured['latency_s']['p50'] * 1000:.1f} ms "
            f"p99 {measured['latency_s']['p99'] * 1000:.1f} ms, {measured['errors']} failed | "
            f"ratio {ratio:.2f}"
        )
        return {"bare": measured_bare, "prefill": measured, "ratio": ratio}


def _spy_phase(
    result: dict[str, Any],
    config: LookupConfig,
    levels: dict[str, dict[str, Any]],
    hub_server: server.HubServer,
    service: access.ServiceClient,
    holders: list[str],
    workdir: Path,
    keep_dir: Path | None,
    log: Log,
) -> None:
    """py-spy on the hub during one more, untimed, level at the target's concurrency."""
    py_spy = spy.find_py_spy()
    if py_spy is None:
        result["server_profile_skipped"] = "py-spy not found next to the venv's Python or on PATH"
        return
    log(
        f"[lookups] py-spy on the server during {config.profile_seconds:.0f} s of lookups "
        f"at {TARGET_CONCURRENCY} clients (untimed)"
    )
    authorization, _ = access.fetch_service_token(hub_server.base_url, service)
    raw = workdir / "py-spy-lookups.txt"
    try:
        with spy.Recorder(py_spy, hub_server.pid, raw, nonblocking=True) as recorder:
            sampled = load.run_level(
                hub_server.base_url,
                Requests(f"127.0.0.1:{hub_server.port}", holders, authorization, config.seed + 7, "spy"),
                TARGET_CONCURRENCY,
                seconds=config.profile_seconds,
                warmup_s=0.0,
                max_requests=config.max_requests,
                check=check_lookup,
            )
    except RuntimeError as exc:  # py-spy could not attach (no ptrace rights)
        result["server_profile_skipped"] = str(exc)
        return
    summary = spy.summarise(
        raw,
        recorder.seconds,
        recorder.rate,
        sampled["requests"],
        classify=lookup_profile.classify,
        unit="request",
    )
    summary["per_second_while_sampled"] = sampled["per_second"]
    # the sampler slows the server: scale the shares by the CPU the server spent per lookup at the same
    # concurrency without a profiler
    timed = levels.get(str(TARGET_CONCURRENCY), {}).get("lookups", {}).get("cpu", {})
    if timed.get("server_ms_per_request") and levels[str(TARGET_CONCURRENCY)]["lookups"]["ok"]:
        summary["server_cpu_ms_per_lookup"] = timed["server_ms_per_request"]
        for row in summary["stages"]:
            row["us_est"] = row["share"] * timed["server_ms_per_request"] * 1000
    if keep_dir is not None:
        keep_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw, keep_dir / "server-profile-lookups.txt")
        summary["collapsed_stacks"] = "server-profile-lookups.txt"
    result["server_profile"] = summary


def _shown_command(command: list[str]) -> str:
    shown = [Path(command[0]).name, *command[1:]]
    if "--app-dir" in shown:
        i = shown.index("--app-dir")
        shown[i + 1] = "<repo>"
    return " ".join(shown)


def summary_line(result: dict[str, Any]) -> str:
    target = result.get("target") or {}
    if not target.get("measured"):
        return "lookups: target concurrency not measured"
    return (
        f"lookups at {target['concurrency']} clients: {target['ratio']:.2f} of the bare endpoint "
        f"(target {target['threshold_ratio']}), p99 {target['p99_s'] * 1000:.0f} ms "
        f"(target {target['threshold_p99_s'] * 1000:.0f} ms): {'MET' if target['met'] else 'NOT MET'}"
    )
