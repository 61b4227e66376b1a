"""The audit log's figures: appends/s, proofs (RFC 9162 inclusion and consistency) and tree-head signing
at N leaves (default 1,000,000), and the audit append's share of a lookup's time (target ≤ 20%).

Runs on a fresh PostgreSQL database ``bench_audit_<random>`` (``HUB_BENCH_DATABASE_URL``, default the
local ``postgres`` server), migrated by ``build_hub`` (``hub.db.upgrade``) and dropped afterwards.

1. Fill: the Merkle node table is filled directly to N synthetic leaves — leaf ``i`` hashes the 8-byte
   big-endian ``i`` (RFC 9162 leaf prefix 0x00), every complete subtree is hashed in Python (prefix 0x01)
   and all nodes go in with one ``COPY audit_node``; the counter row is set to N. No ``audit_event`` rows
   back these leaves (proofs read only nodes), so ``hub audit verify`` is not meaningful on this database.
   Appending through the hub at ~1 ms a leaf would take far longer than the bench's budget.
2. Proofs at N: ~200 random inclusion and consistency proofs through ``hub.audit.log`` (each checked with
   ``hub.audit.merkle``'s verifier, untimed), ``GET /v1/audit/proofs/inclusion`` in-process, and signing a
   tree head (``heads.sign_head``: root over N leaves + ES256) in its own transaction.
3. Appends: ``hub.audit.service.record`` of a lookup-shaped event, one transaction per event, from 1 and
   8 writer threads, on top of the N-leaf log.
4. Share: ``POST /v1/lookups`` in-process (FastAPI TestClient, one at a time) with ``audit.record`` and
   ``lookups.service.lookup`` wrapped in timers. The share is record's time over the request's; the
   commit the event rides on is counted in the request, not in the append.

    python -m bench.audit_bench [--quick] [--leaves N] [--out DIR]   # alone; `python -m bench` runs it too
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

from bench import access, machine, server, workload
from bench.workload import HOUSEHOLD, ID_CARD
from hub.audit import heads, log, merkle
from hub.audit import service as audit
from hub.context import Hub, build_hub
from hub.demo import seed_catalog
from storage.database import transaction

TARGET_SHARE = 0.20
HERE = Path(__file__).resolve().parent


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1e3, 3),
        "max_ms": round(max(values) * 1e3, 3),
        "count": len(values),
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# -- 1. fill -------------------------------------------------------------------------------------------------


def fill(database_url: str, leaves: int) -> dict[str, Any]:
    """N synthetic leaves and every complete subtree above them, with one COPY (see the module doc)."""
    start = time.perf_counter()
    level = [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(leaves)]
    depth = rows = 0
    with psycopg.connect(server.libpq(database_url)) as conn:
        conn.execute("TRUNCATE audit_node, audit_tree_state, audit_event, audit_tree_head CASCADE")
        with conn.cursor().copy("COPY audit_node (level, position, hash) FROM STDIN") as copy:
            while level:
                for position, digest in enumerate(level):
                    copy.write_row((depth, position, digest))
                rows += len(level)
                level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
                depth += 1
        conn.execute("INSERT INTO audit_tree_state (id, size) VALUES (1, %s)", (leaves,))
        conn.commit()
    with psycopg.connect(server.libpq(database_url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_node")
    return {"leaves": leaves, "nodes": rows, "seconds": round(time.perf_counter() - start, 1)}


# -- 2. proofs and heads -------------------------------------------------------------------------------------


def proofs(hub: Hub, size: int, requests: int, seed: int = 1) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from hub.main import create_app

    rng = random.Random(seed)
    inclusion: list[float] = []
    consistency: list[float] = []
    with hub.read_session_factory() as s:
        root_s, _ = _timed(lambda: log.root(s, size))
        for _ in range(requests):
            m = rng.randrange(size)
            n = rng.randrange(m + 1, size + 1)
            dt, p = _timed(lambda m=m, n=n: log.inclusion_proof(s, m, n))
            inclusion.append(dt)
            assert merkle.verify_inclusion(m, n, p.leaf_hash, p.path, log.root(s, n)), (m, n)
        for _ in range(requests):
            m = rng.randrange(1, size)
            n = rng.randrange(m, size + 1)
            dt, c = _timed(lambda m=m, n=n: log.consistency_proof(s, m, n))
            consistency.append(dt)
            assert merkle.verify_consistency(m, n, log.root(s, m), log.root(s, n), c.path), (m, n)
    http: list[float] = []
    with TestClient(create_app(hub=hub)) as client:
        for _ in range(requests):
            m = rng.randrange(size)
            dt, r = _timed(
                lambda m=m: client.get(
                    "/v1/audit/proofs/inclusion", params={"leaf_index": m, "tree_size": size}
                )
            )
            assert r.status_code == 200, r.text
            http.append(dt)
    signing: list[float] = []
    for _ in range(5):
        start = time.perf_counter()
        with transaction(hub.session_factory) as s:
            head = heads.sign_head(s, hub)
        signing.append(time.perf_counter() - start)
        assert head.tree_size == size
    return {
        "tree_size": size,
        "root_ms": round(root_s * 1e3, 3),
        "inclusion": _ms(inclusion),
        "consistency": _ms(consistency),
        "inclusion_http": _ms(http),
        "sign_head": _ms(signing),
    }


# -- 3. appends ----------------------------------------------------------------------------------------------


def _append(hub: Hub, i: int) -> None:
    with transaction(hub.session_factory) as s:
        audit.record(
            s,
            action="lookup",
            outcome="released",
            actor_kind="client",
            actor_id="bench-client",
            holder_index="h" * 64,
            purpose="MZCFBG",
            case_id=f"case-{i}",
            licence_ids=["1.2.156.3005.2.11100000000013127D001.11410100MA44B0Y60K.00000001.001.X"],
            detail={
                "consent": False,
                "released": [{"type": "11100000000013127D001", "tier": 1}],
                "refused": [],
            },
        )


def appends(hub: Hub, per_thread: int, thread_counts: tuple[int, ...] = (1, 8)) -> dict[str, Any]:
    for i in range(min(50, per_thread)):  # warm the pool and the caches
        _append(hub, i)
    out: dict[str, Any] = {}
    for threads in thread_counts:
        n = per_thread * threads if threads > 1 else per_thread
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda i: _append(hub, i), range(n)))
        dt = time.perf_counter() - start
        out[str(threads)] = {
            "events": n,
            "seconds": round(dt, 2),
            "appends_per_s": round(n / dt),
            "ms_per_transaction": round(dt / n * threads * 1e3, 3),
        }
    with hub.read_session_factory() as s:  # the appended leaves sit on the synthetic ones, provably
        size = audit.repository.committed_size(s)
        p = log.inclusion_proof(s, size - 1, size)
        assert merkle.verify_inclusion(size - 1, size, p.leaf_hash, p.path, log.root(s, size))
    out["tree_size_after"] = size
    return out


# -- 4. share of a lookup ------------------------------------------------------------------------------------


def share(hub: Hub, lookups: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    import hub.lookups.service as lookups_service
    from hub.main import create_app

    seed_catalog(hub)
    [police] = workload.register_departments(hub, [("bench-audit-police", "police")], seed=1)
    [pusher] = access.register_pushers(hub, [police.id])
    service = access.register_service(hub, [(ID_CARD, 2)], purposes=["MZCFBG"])
    citizen = "410105198605141237"
    types, rng, now = workload.licence_types(), random.Random(7), int(time.time())
    holder_jwk = dict(hub.signer.jwks["keys"][0])
    credentials = [
        workload.sign_credential(
            police,
            types[code],
            citizen,
            1,
            index,
            holder_jwk=holder_jwk,
            public_url=hub.settings.public_url,
            rng=rng,
            now=now,
        )
        for index, code in enumerate((ID_CARD, HOUSEHOLD))
    ]
    recorded: list[float] = []
    served: list[float] = []
    original_record, original_lookup = audit.record, lookups_service.lookup

    def timed_record(*a: Any, **k: Any) -> Any:
        dt, result = _timed(lambda: original_record(*a, **k))
        recorded.append(dt)
        return result

    def timed_lookup(*a: Any, **k: Any) -> Any:
        dt, result = _timed(lambda: original_lookup(*a, **k))
        served.append(dt)
        return result

    totals: list[float] = []
    with TestClient(create_app(hub=hub)) as client:
        batch = {
            "department": police.id,
            "sequence": 1,
            "operations": [{"op": "issue", "credential": c} for c in credentials],
        }
        assert pusher.minted, "no push token minted"
        accepted = client.post(
            "/v1/licences/batch", json=batch, headers={"Authorization": pusher.minted}
        ).json()
        assert accepted["accepted"] == 2, accepted
        headers = {"Authorization": service.minted}
        body = {"holder_id": citizen, "types": [ID_CARD], "purpose": "MZCFBG", "case_id": "C"}
        audit.record = timed_record
        lookups_service.lookup = timed_lookup
        try:
            warm = min(50, lookups)
            for i in range(lookups + warm):
                if i == warm:  # warm-up done
                    recorded.clear()
                    served.clear()
                    totals.clear()
                dt, r = _timed(
                    lambda i=i: client.post(
                        "/v1/lookups", json={**body, "nonce": f"n-{i:012d}"}, headers=headers
                    )
                )
                assert r.status_code == 200 and r.json()["released"], r.text
                totals.append(dt)
        finally:
            audit.record = original_record
            lookups_service.lookup = original_lookup
    assert len(recorded) == len(totals) == len(served), (len(recorded), len(totals), len(served))
    request_share = sum(recorded) / sum(totals)
    return {
        "lookups": len(totals),
        "request": _ms(totals),
        "service_lookup": _ms(served),
        "audit_record": _ms(recorded),
        "share_of_request": round(request_share, 4),
        "share_of_service_lookup": round(sum(recorded) / sum(served), 4),
        "target": TARGET_SHARE,
        "meets_target": request_share <= TARGET_SHARE,
    }


# -- report --------------------------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> str:
    f, p, a, s, m = result["fill"], result["proofs"], result["appends"], result["share"], result["machine"]
    lines = [
        "# Audit log bench",
        "",
        f"`python -m bench.audit_bench{' --quick' if result['quick'] else ''} --leaves {f['leaves']}` "
        f"on {m['date']}: {m['cpu_model']}, {m['cores_usable']}/{m['cores']} cores, {m['ram_gib']} GiB, "
        f"{m['python']}, PostgreSQL {m['postgresql']}; commit {m['git'].get('commit')}"
        f"{' (dirty)' if m['git'].get('dirty') else ''}.",
        "",
        "## Proofs at N leaves",
        "",
        f"Filled to {f['leaves']:,} leaves ({f['nodes']:,} stored nodes) in {f['seconds']} s by hashing "
        "synthetic leaves (leaf i = SHA-256(0x00 ‖ i as 8 bytes)) and their subtrees in Python and loading "
        "them with one "
        "`COPY audit_node`; no event rows back them. Times are in-process, "
        f"{p['inclusion']['count']} random requests each.",
        "",
        "| at N leaves | median ms | max ms |",
        "|---|---:|---:|",
        f"| inclusion proof (`log.inclusion_proof`) | {p['inclusion']['median_ms']} | "
        f"{p['inclusion']['max_ms']} |",
        f"| consistency proof (`log.consistency_proof`) | {p['consistency']['median_ms']} | "
        f"{p['consistency']['max_ms']} |",
        f"| `GET /v1/audit/proofs/inclusion` (TestClient) | {p['inclusion_http']['median_ms']} | "
        f"{p['inclusion_http']['max_ms']} |",
        "| sign a tree head (root over N + ES256, own transaction; 5 runs) | "
        f"{p['sign_head']['median_ms']} | "
        f"{p['sign_head']['max_ms']} |",
        f"| root over N (once, cold) | {p['root_ms']} | |",
        "",
        "## Appends",
        "",
        "`hub.audit.service.record` of a lookup-shaped event, one committed transaction per event, on the "
        f"N-leaf log (tree size {a['tree_size_after']:,} after).",
        "",
        "| writer threads | events | appends/s | ms per transaction per thread |",
        "|---:|---:|---:|---:|",
    ]
    for threads in ("1", "8"):
        row = a[threads]
        lines.append(
            f"| {threads} | {row['events']} | {row['appends_per_s']:,} | {row['ms_per_transaction']} |"
        )
    verdict = "meets" if s["meets_target"] else "misses"
    lines += [
        "",
        "## Audit append's share of a lookup",
        "",
        f"{s['lookups']} `POST /v1/lookups` in-process (TestClient, one at a time, after 50 warm-up), with "
        "`audit.record` and `lookups.service.lookup` timed by wrappers. The commit the event rides on is in "
        "the request's time, not the append's.",
        "",
        "| | median ms | max ms |",
        "|---|---:|---:|",
        f"| whole request | {s['request']['median_ms']} | {s['request']['max_ms']} |",
        f"| `service.lookup` | {s['service_lookup']['median_ms']} | {s['service_lookup']['max_ms']} |",
        f"| `audit.record` inside it | {s['audit_record']['median_ms']} | {s['audit_record']['max_ms']} |",
        "",
        f"**Share of the request: {s['share_of_request']:.1%}** (of `service.lookup` alone: "
        f"{s['share_of_service_lookup']:.1%}); target ≤ {TARGET_SHARE:.0%}: **{verdict} it**.",
        "",
    ]
    return "\n".join(lines)


def run(
    admin_url: str,
    *,
    leaves: int,
    quick: bool,
    log: Callable[[str], None] = print,
    counts: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    """Fill, proofs, appends and share on a fresh database (dropped afterwards); the figures as a dict.
    ``counts``: (proof requests, appends per writer thread, lookups timed), else by ``quick``."""
    requests, per_thread, lookups = counts or ((50, 200, 100) if quick else (200, 1000, 400))
    result: dict[str, Any] = {
        "quick": quick,
        "machine": machine.describe(server.postgres_version(admin_url)),
    }
    with (
        server.postgres_database(admin_url, prefix="bench_audit") as url,
        tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp,
    ):
        hub = build_hub(server.ServerConfig.fresh(url, Path(tmp)).settings())  # migrates (hub.db.upgrade)
        try:
            result["fill"] = fill(url, leaves)
            log(f"[audit] filled {leaves:,} leaves in {result['fill']['seconds']} s")
            result["proofs"] = proofs(hub, leaves, requests)
            log(f"[audit] proofs: inclusion median {result['proofs']['inclusion']['median_ms']} ms")
            result["appends"] = appends(hub, per_thread)
            log(
                f"[audit] appends/s: {result['appends']['1']['appends_per_s']:,} (1 thread), "
                f"{result['appends']['8']['appends_per_s']:,} (8 threads)"
            )
            result["share"] = share(hub, lookups)
            log(f"[audit] share of a lookup: {result['share']['share_of_request']:.1%}")
        finally:
            hub.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small N and few requests (a smoke run)")
    parser.add_argument(
        "--leaves", type=int, default=None, help="leaves to fill (default 1,000,000; quick 20,000)"
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where audit-results.{md,json} go")
    args = parser.parse_args(argv)
    leaves = args.leaves or (20_000 if args.quick else 1_000_000)
    result = run(server.pg_admin_url(), leaves=leaves, quick=args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "audit-results.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "audit-results.md").write_text(report(result))
    print(report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
