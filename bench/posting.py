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


def post_workload(
    base_url: str, workload: Workload, auth: dict[str, str] | None = None, part: tuple[int, int] = (0, 1)
) -> dict[str, Any]:
    """Post every batch of the workload, each client one batch at a time, and time it.

    ``auth`` holds the ``Authorization`` header of each department's adapter. Bodies are serialised
    before the clock starts; the clock runs from the moment all clients are
    connected until the last response of the slowest client has arrived. ``part`` (k, n) posts only the
    k-th of n consecutive slices of each client's batches, so that a workload can be posted in rounds.
    """
    k, n = part
    orders = [
        order[len(order) * k // n : len(order) * (k + 1) // n] for order in map(interleave, workload.clients)
    ]
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
        "batch_latency_s": latency_summary(latencies),
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


def latency_summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
        "mean": statistics.fmean(latencies),
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


def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One phase posted in rounds (``post_workload``'s ``part``), each with its ``ceiling_per_second``
    and ``ratio_to_ceiling``: the totals over all rounds, and as the phase's ratio the median of the
    rounds' ratios (a round the machine slowed for, in the ingest or in a ceiling beside it, moves the
    median little)."""
    licences = sum(r["licences"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    details, offset = [], 0.0  # each round's batches on one clock: posting time, ceilings left out
    for r in rounds:
        details += [{**d, "started_s": round(d["started_s"] + offset, 4)} for d in r["batches_detail"]]
        offset += r["seconds"]
    latencies = [d["seconds"] for d in details]
    return {
        "clients": rounds[0]["clients"],
        "feeds": rounds[0]["feeds"],
        "batches": sum(r["batches"] for r in rounds),
        "licences": licences,
        "seconds": seconds,
        "per_second": licences / seconds,
        "batch_latency_s": latency_summary(latencies),
        "batches_detail": details,
        "ceiling_per_second": statistics.fmean(r["ceiling_per_second"] for r in rounds),
        "ratio_to_ceiling": statistics.median(r["ratio_to_ceiling"] for r in rounds),
        "rounds": [
            {
                key: r[key]
                for key in ("licences", "seconds", "per_second", "ceiling_per_second", "ratio_to_ceiling")
            }
            for r in rounds
        ],
    }
