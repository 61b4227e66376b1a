"""Timed HTTP posting of pre-built batches to a running hub: one client, or several concurrent ones."""

from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.workload import Workload, interleave


@dataclass
class BatchTiming:
    client: int
    department: str
    sequence: int
    operations: int
    started: float  # seconds since the phase started
    seconds: float
    status: int
    accepted: int


@dataclass
class ClientResult:
    timings: list[BatchTiming] = field(default_factory=list)
    error: str | None = None


def _post_all(
    base_url: str,
    client_number: int,
    order: list[tuple[str, int, int, bytes]],
    auth: dict[str, str],
    barrier: threading.Barrier,
    epoch: list[float],
    out: ClientResult,
) -> None:
    headers = {"content-type": "application/json"}
    try:
        with httpx.Client(base_url=base_url, timeout=300.0, headers=headers) as client:
            client.get("/healthz")  # open the connection before the clock starts
            barrier.wait()
            for department, sequence, operations, body in order:
                extra = {"authorization": auth[department]} if department in auth else None
                sent = time.perf_counter()
                response = client.post("/v1/licences/batch", content=body, headers=extra)
                took = time.perf_counter() - sent
                accepted = -1
                if response.status_code == 200:
                    accepted = int(json.loads(response.content)["accepted"])
                out.timings.append(
                    BatchTiming(
                        client_number,
                        department,
                        sequence,
                        operations,
                        sent - epoch[0],
                        took,
                        response.status_code,
                        accepted,
                    )
                )
                if response.status_code != 200 or accepted != operations:
                    detail = response.text[:2000]
                    out.error = f"{department} #{sequence}: HTTP {response.status_code}, accepted {accepted}"
                    out.error += f"/{operations}: {detail}"
                    return
    except Exception as exc:  # reported, not raised: the other client threads must still finish
        out.error = f"client {client_number}: {type(exc).__name__}: {exc}"
        barrier.abort()


def post_workload(base_url: str, workload: Workload, auth: dict[str, str] | None = None) -> dict[str, Any]:
    """Post every batch of the workload, each client one batch at a time, and time it.

    ``auth`` holds the ``Authorization`` header of each department's adapter. Bodies are serialised
    before the clock starts; the clock runs from the moment all clients are
    connected until the last response of the slowest client has arrived.
    """
    orders = [interleave(feeds) for feeds in workload.clients]
    results = [ClientResult() for _ in orders]
    epoch = [0.0]
    barrier = threading.Barrier(len(orders) + 1)
    threads = [
        threading.Thread(
            target=_post_all, args=(base_url, i, order, auth or {}, barrier, epoch, results[i]), daemon=True
        )
        for i, order in enumerate(orders)
    ]
    for thread in threads:
        thread.start()
    epoch[0] = time.perf_counter()
    barrier.wait()
    epoch[0] = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - epoch[0]
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError("ingest failed: " + "; ".join(errors))
    timings = sorted((t for r in results for t in r.timings), key=lambda t: t.started)
    licences = sum(t.accepted for t in timings)
    latencies = [t.seconds for t in timings]
    return {
        "clients": len(orders),
        "feeds": len(workload.feeds),
        "batches": len(timings),
        "licences": licences,
        "seconds": wall,
        "per_second": licences / wall,
        "batch_latency_s": {
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": max(latencies),
            "mean": statistics.fmean(latencies),
        },
        "batches_detail": [
            {
                "client": t.client,
                "department": t.department,
                "sequence": t.sequence,
                "operations": t.operations,
                "started_s": round(t.started, 4),
                "seconds": round(t.seconds, 4),
            }
            for t in timings
        ],
    }


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default), without numpy."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
