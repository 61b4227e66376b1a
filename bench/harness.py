"""The benchmark run: for each database backend, a fresh hub, pre-signed credentials, the ceiling on
those credentials, and timed HTTP ingest against a real server; then the report."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import access, ceiling, lookups, machine, posting, profiling, server, sizes, spy, workload
from hub.context import build_hub
from hub.demo import seed_catalog

TARGET_RATIO = 0.4  # the target: ingest on PostgreSQL >= 0.4 x the signature ceiling
BACKENDS = ("sqlite", "postgres")


@dataclass
class Config:
    backends: tuple[str, ...] = BACKENDS
    sequential_licences: int = 10_000  # per backend, posted by one client
    concurrent_licences: int = 10_000  # per backend, posted by `clients` concurrent clients
    clients: int = 2
    batch_size: int = workload.BATCH_SIZE
    rounds: int = 4  # each ingest phase is posted in this many rounds, a ceiling measured after each
    profile_licences: int = 2_000  # per profiled backend, for each of the plain and the cProfile run
    profile_backends: tuple[str, ...] = ("postgres",)
    py_spy: bool = True  # sample the server with py-spy when its executable is found
    keep_dir: Path | None = None  # where py-spy's collapsed stacks are kept (the report's folder)
    pg_admin_url: str = field(default_factory=server.pg_admin_url)
    seed: int = 2026
    lookups: lookups.LookupConfig | None = field(default_factory=lookups.LookupConfig)  # None: skip
    sizes: sizes.SizeConfig | None = None  # lookups against dataset size; None: skip
    audit_leaves: int | None = None  # the audit log's figures (bench.audit_bench) at N leaves; None: skip
    audit_quick: bool = False
    adapters: Any = None  # bench.adapters_sync.Config: each adapter's full sync; None: skip


Log = Callable[[str], None]


def _silent(_: str) -> None:
    pass


_database = server.database


def run_backend(backend: str, config: Config, log: Log = _silent) -> dict[str, Any]:
    """Everything measured on one backend, in a temporary directory and database removed afterwards."""
    result: dict[str, Any] = {"backend": backend}
    with (
        tempfile.TemporaryDirectory(prefix=f"hub-bench-{backend}-") as tmp,
        _database(backend, Path(tmp), config.pg_admin_url) as database_url,
    ):
        workdir = Path(tmp)
        result["database"] = "SQLite file (WAL)" if backend == "sqlite" else "PostgreSQL, fresh database"
        cfg = server.ServerConfig.fresh(database_url, workdir)
        profiled = backend in config.profile_backends and config.profile_licences > 0
        py_spy = spy.find_py_spy() if profiled and config.py_spy else None

        # Seed the catalog and the departments before the server starts; it reads them from the database.
        log(f"[{backend}] seeding catalog and departments")
        hub = build_hub(cfg.settings())
        try:
            seed_catalog(hub)
            wanted = workload.workload_departments("seq", 1)
            wanted += workload.workload_departments("conc", config.clients)
            if profiled:
                wanted += workload.workload_departments("warm", 1)
                wanted += workload.workload_departments("inproc", 1)
                wanted += workload.workload_departments("prof", 1)
            if py_spy:
                wanted += workload.workload_departments("spy", 1)
            departments = {d.id: d for d in workload.register_departments(hub, wanted, seed=config.seed)}
            pushers = access.register_pushers(hub, departments)
            holder_jwk = dict(hub.signer.jwks["keys"][0])
        finally:
            hub.close()

        log(f"[{backend}] signing credentials")
        started = time.perf_counter()

        def build(name: str, total: int, clients: int) -> workload.Workload:
            return workload.build_workload(
                name,
                total,
                clients,
                departments,
                holder_jwk=holder_jwk,
                public_url=cfg.public_url,
                seed=config.seed + len(name) + clients,
                batch_size=config.batch_size,
            )

        sequential = build("seq", config.sequential_licences, 1)
        concurrent = build("conc", config.concurrent_licences, config.clients)
        warm = build("warm", min(200, config.profile_licences), 1) if profiled else None
        in_process = build("inproc", config.profile_licences, 1) if profiled else None
        profile_run = build("prof", config.profile_licences, 1) if profiled else None
        spied = build("spy", config.profile_licences * 3, 1) if py_spy else None
        result["signing_seconds"] = time.perf_counter() - started

        posted_feeds = sequential.feeds + concurrent.feeds
        result["mix"] = _mix(posted_feeds)
        log(
            f"[{backend}] ceiling: joserfc ES256 verify over "
            f"{sum(len(f.credentials) for f in posted_feeds)} credentials"
        )
        result["ceiling"] = ceiling.signature_ceiling(posted_feeds, min_seconds=0.5)
        result["sdjwt_reference"] = ceiling.sdjwt_reference(posted_feeds, min_seconds=0.5)

        hub_server = server.HubServer(cfg, workdir / "server" / "uvicorn.log")
        with hub_server:
            jwks = httpx.get(f"{cfg.public_url}/.well-known/jwks.json", timeout=10).json()
            if not any(k.get("kid") == holder_jwk.get("kid") for k in jwks.get("keys", [])):
                raise RuntimeError("the server's holder key differs from the one credentials are bound to")
            auth, result["push_tokens"] = access.fetch_tokens(cfg.public_url, pushers)
            if auth and not result["push_tokens"].startswith("oauth"):
                log(f"[{backend}] push tokens: {result['push_tokens']}")
            # A shared machine's speed drifts by ±15 % within a minute, and not alike for one core and
            # two: each phase is posted in rounds, each round bracketed by the ceilings measured just
            # before and just after it; a round's ratio is against their mean, and the phase's ratio is
            # the median of its rounds'.
            ceilings = [result["ceiling"]["per_second"]]
            result["ingest"] = {}
            for phase, load in (("sequential", sequential), (f"concurrent_{config.clients}", concurrent)):
                log(f"[{backend}] posting {load.licences} licences, {len(load.clients)} client(s)")
                rounds = []
                count = max(1, min([config.rounds] + [len(workload.interleave(c)) for c in load.clients]))
                for k in range(count):
                    posted = posting.post_workload(cfg.public_url, load, auth, part=(k, count))
                    ceilings.append(ceiling.signature_ceiling(posted_feeds, min_seconds=0.5)["per_second"])
                    posted["ceiling_per_second"] = (ceilings[-2] + ceilings[-1]) / 2
                    posted["ratio_to_ceiling"] = posted["per_second"] / posted["ceiling_per_second"]
                    rounds.append(posted)
                measured = posting.merge_rounds(rounds)
                result["ingest"][phase] = measured
                ceiling_rate = measured["ceiling_per_second"]
                log(
                    f"[{backend}] {phase}: {measured['per_second']:.0f} licences/s "
                    f"({measured['ratio_to_ceiling']:.2f} of ceiling {ceiling_rate:.0f}/s)"
                )
            result["ceiling"]["measurements"] = ceilings
            result["ceiling"]["per_second"] = sum(ceilings) / len(ceilings)
            if py_spy and spied is not None:
                log(
                    f"[{backend}] py-spy on the server while posting {spied.licences} more licences (untimed)"
                )
                raw = workdir / "py-spy.txt"
                with spy.Recorder(py_spy, hub_server.pid, raw) as recorder:
                    spied_run = posting.post_workload(cfg.public_url, spied, auth)
                result["server_profile"] = spy.summarise(
                    raw, recorder.seconds, recorder.rate, spied_run["licences"]
                )
                result["server_profile"]["per_second_while_sampled"] = spied_run["per_second"]
                if config.keep_dir is not None:
                    config.keep_dir.mkdir(parents=True, exist_ok=True)
                    kept = config.keep_dir / f"server-profile-{backend}.txt"
                    shutil.copyfile(raw, kept)
                    result["server_profile"]["collapsed_stacks"] = kept.name

        if profiled:
            assert warm is not None and in_process is not None and profile_run is not None
            log(f"[{backend}] in-process request path: timing, then cProfile")
            hub = build_hub(cfg.settings(), migrate=False)
            try:
                clients = {p.department_id: p.client_id for p in pushers}
                profiling.warm_up(hub, warm, clients)
                timed = profiling.time_in_process(hub, in_process, clients)
                timed["ratio_to_ceiling"] = timed["per_second"] / result["ceiling"]["per_second"]
                result["in_process"] = timed
                result["profile"] = profiling.profile_in_process(hub, profile_run, clients)
            finally:
                hub.close()
    return result


def _mix(feeds: list[workload.Feed]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for feed in feeds:
        for code in feed.type_codes:
            counts[code] = counts.get(code, 0) + 1
    return counts


def run_bench(config: Config, log: Log = _silent) -> dict[str, Any]:
    """Measure every backend of the config and return the report (see bench/README.md for the keys)."""
    pg_version = None
    if (
        "postgres" in config.backends
        or (config.lookups and config.lookups.backend == "postgres")
        or config.sizes
        or config.audit_leaves
        or config.adapters
    ):
        try:
            pg_version = server.postgres_version(config.pg_admin_url)
        except Exception as exc:
            raise RuntimeError(
                f"PostgreSQL is not reachable at {config.pg_admin_url!r} "
                f"(set HUB_BENCH_DATABASE_URL, or run with --backends sqlite): {exc}"
            ) from None
    report: dict[str, Any] = {
        "issue": "#7 item 1: ingest, lookups and prefill, offline verification, audit appends, memory, "
        "cold start, lookups against registry size, adapters",
        "machine": machine.describe(pg_version),
        "config": {k: v for k, v in asdict(config).items() if k != "pg_admin_url"},
        "backends": {},
    }
    started = time.perf_counter()
    phases: dict[str, float] = {}
    report["phase_seconds"] = phases
    mark = time.perf_counter()

    def done(name: str) -> None:
        nonlocal mark
        phases[name] = time.perf_counter() - mark
        mark = time.perf_counter()

    for backend in config.backends:
        report["backends"][backend] = run_backend(backend, config, log)
        done(f"ingest_{backend}")
    if config.lookups is not None:
        report["lookups"] = lookups.run_lookups(config.lookups, config.pg_admin_url, log, config.keep_dir)
        done("lookups")
    for name, phase in (("sizes", _sizes_phase), ("audit", _audit_phase), ("adapters", _adapters_phase)):
        try:
            measured = phase(config, log)
        except Exception as exc:  # a late phase's failure keeps every figure measured before it
            report.setdefault("phase_errors", {})[name] = f"{type(exc).__name__}: {str(exc)[:1000]}"
            log(f"[{name}] FAILED: {report['phase_errors'][name]}")
            done(name)
            continue
        if measured is not None:
            report[name] = measured
            done(name)
    report["total_seconds"] = time.perf_counter() - started

    postgres = report["backends"].get("postgres")
    if postgres:
        ratio = postgres["ingest"]["sequential"]["ratio_to_ceiling"]
        best = max(p["ratio_to_ceiling"] for p in postgres["ingest"].values())
        report["target"] = {
            "description": f"ingest on PostgreSQL >= {TARGET_RATIO} x the signature-verification ceiling",
            "threshold": TARGET_RATIO,
            "sequential_ratio": ratio,
            "best_ratio": best,
            "met": ratio >= TARGET_RATIO,
        }
    return report


def _sizes_phase(config: Config, log: Log) -> dict[str, Any] | None:
    return sizes.run_sizes(config.sizes, config.pg_admin_url, log) if config.sizes is not None else None


def _audit_phase(config: Config, log: Log) -> dict[str, Any] | None:
    if not config.audit_leaves:
        return None
    from bench import audit_bench

    audit = audit_bench.run(
        config.pg_admin_url, leaves=config.audit_leaves, quick=config.audit_quick, log=log
    )
    audit.pop("machine", None)  # the report's machine
    return audit


def _adapters_phase(config: Config, log: Log) -> dict[str, Any] | None:
    if config.adapters is None:
        return None
    from bench import adapters_sync

    adapters = adapters_sync.run(config.adapters, log)
    if config.keep_dir is not None:  # keep the scaling table's earlier population sizes
        adapters_sync.merge_scaling(adapters, config.keep_dir / "results.json", key="adapters")
    return adapters
