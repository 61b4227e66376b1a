"""Lookups against the registry's size: one PostgreSQL database grown 10,000 → 100,000 → 1,000,000
licences, lookups measured at each size with the same concurrency and window, and the hub's cold start on
the prepared database.

1. **Dataset, offline, through the hub's own code.** Loading a million licences through HTTP ingest would
   take a quarter of an hour, so the rows are built as ingest builds them and written with ``COPY``:
   credentials from ``hub.contract.issuing.build_credential`` (the department's ES256 key, bound to the
   hub's holder key), sealed with the hub's keyring (``Keyring.seal``, AAD = the licence id, as
   ``ingest_writer.BatchWriter``), blind indexes from the hub's ``BlindIndex`` on the holder and
   number claims (as ``ingest_checks``), SHA-256 of the credential, status slots, validity. Worker
   processes build and ``COPY`` their own chunks (``licence``, then ``licence_version``) in one
   transaction each; ids are assigned up front, the sequence is set afterwards, then ``ANALYZE``. Lookups
   therefore read real sealed credentials, and every answer's presentation is verifiable.
2. **At each size**: ``hub serve`` is started on the prepared database (cold start = spawn to the first
   ``/readyz`` 200, and to the first lookup answered), 31 lookups are checked in full, then lookups at a
   fixed concurrency for a fixed window (``bench.load``), the same requests as ``bench.lookups``; the
   server's resident memory is sampled during the window. The server is stopped before the next growth.
3. **Target**: p50 at the largest size ≤ 1.3 × p50 at the smallest.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import access, load, lookups, server, workload
from hub.context import build_hub
from hub.demo import seed_catalog

SIZES = (10_000, 100_000, 1_000_000)
TARGET_GROWTH = 1.3  # p50 at the largest size <= 1.3 x p50 at the smallest
CHUNK = 2_000  # licences a worker builds and COPYs in one transaction

Log = Callable[[str], None]


def _silent(_: str) -> None:
    pass


@dataclass
class SizeConfig:
    sizes: tuple[int, ...] = SIZES
    concurrency: int = 8
    seconds: float = 8.0
    warmup_s: float = 1.5
    max_requests: int = 200_000
    signers: int = field(default_factory=lambda: max(1, min(2, os.cpu_count() or 1)))  # 0: in-process
    chunk: int = CHUNK
    cold_start_runs: int = 3  # of the bare endpoint app
    seed: int = 2027


# Building rows -----------------------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(spec: dict[str, Any]) -> None:
    import base64

    from joserfc.jwk import ECKey

    from hub.kit.blind_index import BlindIndex
    from storage.sealing import Keyring

    _worker.clear()
    _worker.update(
        spec,
        key=ECKey.import_key(spec["private_jwk"]),
        keyring=Keyring.from_spec(spec["data_keys"]),
        blind=BlindIndex(base64.b64decode(spec["blind_index_key"])),
        types=workload.licence_types(),
    )


LICENCE_COLUMNS = (
    "id",
    "department_id",
    "type_code",
    "serial",
    "holder_index",
    "number_index",
    "current_version",
    "current_licence_id",
    "status",
    "status_list",
    "status_index",
    "valid_from",
    "valid_until",
    "created_at",
    "updated_at",
)
VERSION_COLUMNS = (
    "licence_id",
    "licence_pk",
    "version",
    "issuer_kid",
    "credential_sealed",
    "credential_sha256",
    "issued_at",
    "valid_from",
    "valid_until",
    "feed_sequence",
    "created_at",
)


def _build_chunk(job: tuple[int, int, int]) -> int:
    """Build licences ``start..end`` (global indexes; citizen ``i // 2`` holds an ID card and a household
    register) and COPY them; returns the count. Runs in a worker process set up by ``_init_worker``."""
    from hub.contract.issuing import build_credential
    from hub.contract.licence_id import LicenceId
    from hub.contract.status import STATUS_LIST_SIZE
    from hub.demo_data import sample_values

    start, end, sequence = job
    w = _worker
    rng = random.Random(w["seed"] * 1_000_003 + start)
    now = int(time.time())
    stamp = datetime.fromtimestamp(now, UTC)
    valid_from, valid_until, issued_at = now - 400 * 86400, now + 3650 * 86400, now - 60
    licences, versions = [], []
    for index in range(start, end):
        code = (lookups.ID_CARD, lookups.HOUSEHOLD)[index % 2]
        holder = w["holders"](index // 2)
        spec = w["types"][code]
        serial = f"{index // 2 + 1:08d}"
        licence_id = LicenceId(code, w["uscc"], serial, 1)
        values = sample_values(spec, holder, rng)
        credential = build_credential(
            licence_type=spec,
            licence_id=licence_id,
            values=values,
            issuer=w["issuer"],
            key=w["key"],
            kid=w["kid"],
            alg="ES256",
            holder_jwk=w["holder_jwk"],
            hub_url=w["public_url"],
            department_id=w["department_id"],
            status_list=index // STATUS_LIST_SIZE,
            status_index=index % STATUS_LIST_SIZE,
            valid_from=valid_from,
            valid_until=valid_until,
            issued_at=issued_at,
        )
        text = str(licence_id)
        raw = credential.encode()
        vf, vu = datetime.fromtimestamp(valid_from, UTC), datetime.fromtimestamp(valid_until, UTC)
        licences.append(
            (
                index + 1,
                w["department_id"],
                code,
                serial,
                w["blind"].of(spec["holder_kind"], str(values[spec["holder_field"]])),
                w["blind"].of(f"number:{code}", str(values[spec["number_field"]])),
                1,
                text,
                "01",
                index // STATUS_LIST_SIZE,
                index % STATUS_LIST_SIZE,
                vf,
                vu,
                stamp,
                stamp,
            )
        )
        versions.append(
            (
                text,
                index + 1,
                1,
                w["kid"],
                w["keyring"].seal(raw, aad=text.encode()),
                hashlib.sha256(raw).hexdigest(),
                datetime.fromtimestamp(issued_at, UTC),
                vf,
                vu,
                sequence,
                stamp,
            )
        )
    with psycopg.connect(w["libpq"]) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY licence ({', '.join(LICENCE_COLUMNS)}) FROM STDIN") as copy:
            for row in licences:
                copy.write_row(row)
        with cur.copy(f"COPY licence_version ({', '.join(VERSION_COLUMNS)}) FROM STDIN") as copy:
            for row in versions:
                copy.write_row(row)
    return end - start


class _Holders:
    """Citizen number ``i`` of the dataset, the same in every process (a fixed seeded list, extended)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.numbers: list[str] = []

    def __call__(self, i: int) -> str:
        if i >= len(self.numbers):
            self.numbers = lookups.citizens(max(i + 1, 2 * len(self.numbers), 1024), self.seed)
        return self.numbers[i]


def grow(
    spec: dict[str, Any], start: int, end: int, *, signers: int, chunk: int, log: Log = _silent
) -> dict[str, Any]:
    """Licences ``start..end`` built and COPYed by ``signers`` worker processes (0: in this process)."""
    jobs = [(s, min(end, s + chunk), s // chunk + 1) for s in range(start, end, chunk)]
    began = time.perf_counter()
    done = 0
    next_report = began + 20
    if signers == 0:
        _init_worker(spec)
        for job in jobs:
            done += _build_chunk(job)
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=signers, mp_context=context, initializer=_init_worker, initargs=(spec,)
        ) as pool:
            for count in pool.map(_build_chunk, jobs):
                done += count
                if time.perf_counter() > next_report:
                    log(f"[sizes] built {start + done:,} / {end:,} licences")
                    next_report += 20
    seconds = time.perf_counter() - began
    return {"licences": done, "seconds": seconds, "per_second": done / seconds if seconds else 0.0}


def _finish_growth(libpq: str, count: int) -> dict[str, Any]:
    began = time.perf_counter()
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("SELECT setval(pg_get_serial_sequence('licence', 'id'), %s)", (count,))
        conn.execute("VACUUM (ANALYZE) licence")
        conn.execute("ANALYZE licence_version")
        row = conn.execute(
            "SELECT (SELECT count(*) FROM licence), pg_total_relation_size('licence'), "
            "pg_total_relation_size('licence_version'), pg_database_size(current_database())"
        ).fetchone()
    assert row is not None
    return {
        "licences_in_database": int(row[0]),
        "licence_table_bytes": int(row[1]),
        "licence_version_table_bytes": int(row[2]),
        "database_bytes": int(row[3]),
        "analyze_seconds": time.perf_counter() - began,
    }


# Servers ---------------------------------------------------------------------------------------------------


class HubServe(server.HubServer):
    """``hub serve`` (the command an operator runs: migrations, keys, then uvicorn) on the config's
    database, with the benchmark's worker count."""

    def command(self) -> list[str]:
        script = Path(sys.executable).with_name("hub")
        head = [str(script)] if script.exists() else [sys.executable, "-m", "hub.cli"]
        return [
            *head,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(server.worker_count()),
        ]


def cold_start(
    process: server.HubServer, first_request: Callable[[httpx.Client], int] | None = None
) -> dict[str, Any]:
    """Start ``process`` and time spawn → first ``/readyz`` 200 (polled every 10 ms) and, when given,
    → the first answer of ``first_request`` (which returns the HTTP status)."""
    began = time.perf_counter()
    process.start(poll_s=0.01)
    ready = time.perf_counter() - began
    result: dict[str, Any] = {"ready_s": ready}
    if first_request is not None:
        with httpx.Client(base_url=process.base_url, timeout=30) as client:
            status = first_request(client)
        result["first_answer_s"] = time.perf_counter() - began
        result["first_answer_status"] = status
    result["rss_bytes_idle"] = load.process_rss(process.pid)
    return result


def bare_cold_start(cfg: server.ServerConfig, workdir: Path, runs: int = 3) -> dict[str, Any]:
    """The bare endpoint app's cold start under the same uvicorn command line (median of ``runs``)."""
    times, rss = [], []
    for n in range(runs):
        bare = server.HubServer(
            cfg,
            workdir / f"bare-cold-{n}" / "uvicorn.log",
            app="bench.bare_app:create_app",
            port=server.free_port(),
        )
        try:
            measured = cold_start(bare)
            times.append(measured["ready_s"])
            rss.append(measured["rss_bytes_idle"])
        finally:
            bare.stop()
    times.sort()
    return {"ready_s": times[len(times) // 2], "runs": times, "rss_bytes_idle": max(rss)}


# The run ---------------------------------------------------------------------------------------------------


def verdict(levels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    sizes = sorted(int(s) for s in levels)
    if len(sizes) < 2:
        return {"measured": False}
    small, large = levels[str(sizes[0])], levels[str(sizes[-1])]
    ratio = large["lookups"]["latency_s"]["p50"] / small["lookups"]["latency_s"]["p50"]
    return {
        "measured": True,
        "description": f"lookup p50 at {sizes[-1]:,} licences <= {TARGET_GROWTH} x p50 at {sizes[0]:,}",
        "smallest": sizes[0],
        "largest": sizes[-1],
        "ratio": ratio,
        "threshold": TARGET_GROWTH,
        "met": ratio <= TARGET_GROWTH and large["lookups"]["errors"] == 0,
    }


def run_sizes(
    config: SizeConfig, pg_admin_url: str, log: Log = _silent, workdir_root: Path | None = None
) -> dict[str, Any]:
    """Grow one PostgreSQL database through ``config.sizes`` and measure lookups at each size."""
    import tempfile

    sizes = sorted(set(config.sizes))
    result: dict[str, Any] = {
        "sizes": sizes,
        "concurrency": config.concurrency,
        "seconds": config.seconds,
        "warmup_s": config.warmup_s,
        "workers": server.worker_count(),
    }
    with (
        tempfile.TemporaryDirectory(prefix="hub-bench-sizes-", dir=workdir_root) as tmp,
        server.postgres_database(pg_admin_url) as database_url,
    ):
        workdir = Path(tmp)
        cfg = server.ServerConfig.fresh(database_url, workdir)
        settings = cfg.settings()
        hub = build_hub(settings)
        try:
            seed_catalog(hub)
            [department] = workload.register_departments(
                hub, [("bench-sizes-police", "police")], seed=config.seed
            )
            service = access.register_service(
                hub, [(lookups.ID_CARD, lookups.TIER)], purposes=[lookups.PURPOSE]
            )
            holder_jwk = dict(hub.signer.jwks["keys"][0])
        finally:
            hub.close()
        libpq = server.libpq(database_url)
        spec = {
            "private_jwk": department.private_jwk,
            "kid": department.kid,
            "uscc": department.uscc,
            "issuer": department.issuer,
            "department_id": department.id,
            "holder_jwk": holder_jwk,
            "public_url": cfg.public_url,
            "data_keys": settings.data_keys,
            "blind_index_key": settings.blind_index_key,
            "libpq": libpq,
            "seed": config.seed,
            "holders": _Holders(config.seed),
        }
        result["method"] = (
            "offline: build_credential + Keyring.seal + BlindIndex as ingest does, COPY by "
            f"{config.signers or 'no'} worker process(es), {config.chunk:,} licences a transaction"
        )
        loaded = 0
        levels: dict[str, dict[str, Any]] = {}
        for size in sizes:
            log(f"[sizes] growing the registry {loaded:,} -> {size:,} licences")
            growth = grow(spec, loaded, size, signers=config.signers, chunk=config.chunk, log=log)
            loaded = size
            growth.update(_finish_growth(libpq, loaded))
            log(
                f"[sizes] {loaded:,} licences ({growth['database_bytes'] / 2**30:.2f} GiB database), "
                f"built at {growth['per_second']:,.0f}/s"
            )
            holders = [spec["holders"](i) for i in range(loaded // 2)]
            levels[str(size)] = _measure(config, cfg, workdir, service, holders, growth, size, log)
        result["levels"] = levels
        result["bare_cold_start"] = bare_cold_start(cfg, workdir, runs=config.cold_start_runs)
    result["target"] = verdict(levels)
    return result


def _measure(
    config: SizeConfig,
    cfg: server.ServerConfig,
    workdir: Path,
    service: access.ServiceClient,
    holders: list[str],
    growth: dict[str, Any],
    size: int,
    log: Log,
) -> dict[str, Any]:
    hub = HubServe(cfg, workdir / f"serve-{size}" / "hub.log")
    requests = lookups.Requests(f"127.0.0.1:{cfg.port}", holders, service.minted, config.seed + size, "cold")

    def first_lookup(client: httpx.Client) -> int:
        body, _ = requests.body(0)
        headers = {"Authorization": service.minted, "Content-Type": "application/json"}
        return client.post("/v1/lookups", content=body, headers=headers).status_code

    try:
        started = cold_start(hub, first_lookup)
        authorization, _ = access.fetch_service_token(cfg.public_url, service)
        lookups._validate(
            cfg.public_url, lookups.Requests(hub.base_url, holders, authorization, size, "check"), 31
        )
        measured = load.run_level(
            hub.base_url,
            lookups.Requests(f"127.0.0.1:{cfg.port}", holders, authorization, config.seed + size, f"s{size}"),
            config.concurrency,
            seconds=config.seconds,
            warmup_s=config.warmup_s,
            max_requests=config.max_requests,
            check=lookups.check_lookup,
            server_pid=hub.pid,
        )
    finally:
        hub.stop()
    latency = measured["latency_s"]
    log(
        f"[sizes] {size:>9,} licences: {measured['ok_per_second']:,.0f} lookups/s at {config.concurrency} "
        f"clients, p50 {latency['p50'] * 1000:.1f} ms, p99 {latency['p99'] * 1000:.1f} ms, "
        f"{measured['errors']} failed; cold start {started['ready_s']:.2f} s"
    )
    return {"licences": size, "growth": growth, "cold_start": started, "lookups": measured}
