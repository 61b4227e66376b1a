"""A closed-loop HTTP load generator for loopback servers: ``c`` keep-alive connections, each sending one
request and waiting for its answer before the next, for a bounded time and a bounded count.

Written on bare asyncio streams (HTTP/1.1, ``Content-Length`` or chunked answers) rather than httpx,
because on a 2-vCPU machine the client shares the cores with the server: httpx spends ~10x more CPU per
request, and would make the client, not the server, the ceiling. The client's CPU per request is
measured and reported beside the server's, so that the share it takes is visible.

Timing of a level: all connections are opened first; a warm-up (answers checked, not recorded); then a
measured window of ``seconds``: requests *sent* inside the window are recorded, and the level ends when
the window closes (or ``max_requests`` were sent) and every recorded request has its answer.
Requests/s = recorded answers / (last recorded answer - window start).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.posting import percentile

# make_request(n) -> (request bytes, context handed to check)
MakeRequest = Callable[[int], tuple[bytes, Any]]
# check(context, status, body) raises when the answer is wrong
Check = Callable[[Any, int, bytes], None]

REQUEST_TIMEOUT_S = 10.0  # an answer slower than this counts as failed (status 0)


class ProtocolError(Exception):
    pass


def http_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """An HTTP/1.1 request's bytes (keep-alive)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server closes the connection) of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if chunked:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from our servers
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(chunks), close
    if length is None:
        return status, await reader.read(), True
    return status, await reader.readexactly(length), close


@dataclass
class _Level:
    host: str
    port: int
    make_request: MakeRequest
    concurrency: int
    warmup_s: float
    seconds: float
    max_requests: int
    check: Check | None
    check_every: int
    counter: int = 0
    recorded: int = 0
    window_start: float = 0.0
    window_end: float = 0.0
    warm_checked: int = 0
    latencies: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    connection_errors: int = 0


async def _connect(level: _Level) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(level.host, level.port, limit=1 << 22)


async def _client(
    level: _Level, streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], started: asyncio.Event
) -> None:
    reader, writer = streams
    await started.wait()
    try:
        while True:
            n = level.counter
            level.counter += 1
            request, context = level.make_request(n)
            sent = time.perf_counter()
            if sent >= level.window_end:
                return
            in_window = sent >= level.window_start
            if in_window and level.recorded >= level.max_requests:
                level.window_end = min(level.window_end, sent)
                return
            if in_window:
                level.recorded += 1
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    writer.write(request)
                    status, body, close = await read_response(reader)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ProtocolError,
                TimeoutError,
            ) as exc:
                level.connection_errors += 1
                if len(level.errors) < 5:
                    level.errors.append(f"{type(exc).__name__}: {exc}")
                writer.close()
                reader, writer = await _connect(level)
                if in_window:
                    level.latencies.append(time.perf_counter() - sent)
                    level.finished.append(time.perf_counter())
                    level.statuses[0] += 1
                continue
            done = time.perf_counter()
            if in_window:
                level.latencies.append(done - sent)
                level.finished.append(done)
                level.sizes.append(len(body))
                level.statuses[status] += 1
                checking = level.check is not None and level.recorded % level.check_every == 0
            else:
                checking = level.check is not None and level.warm_checked < 20
                level.warm_checked += checking
            if status != 200 and len(level.errors) < 5:
                level.errors.append(f"HTTP {status}: {body[:300].decode(errors='replace')}")
            elif checking:
                assert level.check is not None
                level.check(context, status, body)
            if close:
                writer.close()
                reader, writer = await _connect(level)
    finally:
        writer.close()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children so far."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def process_rss(pid: int) -> int:
    """Resident memory (bytes) of a process and its children (uvicorn's workers, say)."""
    total = 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


class _Cpu:
    """CPU seconds of the client (this process), the server process tree, database backends, and the
    machine as a whole."""

    def __init__(self, server_pid: int | None, db_pids: Callable[[], list[int]] | None) -> None:
        self.server = psutil.Process(server_pid) if server_pid else None
        self.db_pids = db_pids
        self.db: dict[int, float] = {}

    def _server(self) -> float:
        return process_cpu(self.server.pid) if self.server is not None else 0.0

    def _db(self, pids: list[int]) -> dict[int, float]:
        found = {}
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
                found[pid] = times.user + times.system
            except psutil.Error:
                pass
        return found

    def snapshot(self) -> dict[str, Any]:
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return {
            "client": time.process_time(),
            "server": self._server(),
            "db": self._db(self.db_pids()) if self.db_pids else {},
            "machine_busy": busy,
            "wall": time.perf_counter(),
        }

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        wall = after["wall"] - before["wall"]
        db = sum(v - before["db"].get(pid, 0.0) for pid, v in after["db"].items())
        client = after["client"] - before["client"]
        server = after["server"] - before["server"]
        machine = after["machine_busy"] - before["machine_busy"]
        rss = after.get("rss") or [0]
        return {
            "server_rss_max_bytes": float(max(rss)),
            "server_rss_mean_bytes": float(sum(rss) / len(rss)),
            "wall_s": wall,
            "client_cpu_s": client,
            "server_cpu_s": server,
            "db_cpu_s": db,
            "machine_busy_s": machine,
            "other_cpu_s": max(0.0, machine - client - server - db),
        }


async def _run_level(level: _Level, cpu: _Cpu) -> dict[str, float]:
    streams = [await _connect(level) for _ in range(level.concurrency)]
    started = asyncio.Event()
    tasks = [asyncio.create_task(_client(level, s, started)) for s in streams]
    begin = time.perf_counter()
    level.window_start = begin + level.warmup_s
    level.window_end = level.window_start + level.seconds
    started.set()
    await asyncio.sleep(max(0.0, level.window_start - time.perf_counter()))
    before = await asyncio.to_thread(cpu.snapshot)
    rss: list[int] = []
    while (left := level.window_end - time.perf_counter()) > 0:
        await asyncio.sleep(min(0.25, left))
        if cpu.server is not None:
            rss.append(process_rss(cpu.server.pid))
    after = await asyncio.to_thread(cpu.snapshot)
    after["rss"] = rss
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S + 30):
            results = await asyncio.gather(*tasks, return_exceptions=True)
    except TimeoutError:
        for task in tasks:
            task.cancel()
        raise RuntimeError("a client did not finish within the level's time bound") from None
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return _Cpu.delta(before, after)


def run_level(
    base_url: str,
    make_request: MakeRequest,
    concurrency: int,
    *,
    seconds: float,
    warmup_s: float = 1.0,
    max_requests: int = 1_000_000,
    check: Check | None = None,
    check_every: int = 500,
    server_pid: int | None = None,
    db_pids: Callable[[], list[int]] | None = None,
) -> dict[str, Any]:
    """One level: ``concurrency`` connections for ``warmup_s`` + ``seconds``; see the module docstring.
    ``server_pid`` (and ``db_pids``) add the server's (and those database backends') CPU time over the
    measured window."""
    host, _, port = base_url.removeprefix("http://").rstrip("/").partition(":")
    level = _Level(
        host, int(port), make_request, concurrency, warmup_s, seconds, max_requests, check, check_every
    )
    cpu = asyncio.run(_run_level(level, _Cpu(server_pid, db_pids)))
    answered = len(level.latencies)
    if answered:
        wall = max(level.finished) - level.window_start
    else:  # every client was stuck on a request sent before the window: nothing answered in it
        wall = time.perf_counter() - level.window_start
        level.statuses[0] += concurrency
    ok = level.statuses.get(200, 0)
    per = 1000 / max(answered * cpu["wall_s"] / wall, 1.0)  # ms of CPU per request answered in the window
    return {
        "concurrency": concurrency,
        "requests": answered,
        "ok": ok,
        "errors": sum(n for status, n in level.statuses.items() if status != 200),
        "statuses": {str(k): v for k, v in sorted(level.statuses.items())},
        "error_samples": level.errors,
        "connection_errors": level.connection_errors,
        "seconds": wall,
        "per_second": answered / wall,
        "ok_per_second": ok / wall,
        # latencies of every request sent in the window, failed ones included (a timeout counts as the
        # timeout); when none was answered, every figure is the timeout
        "latency_s": {
            "p50": percentile(level.latencies, 50) if answered else REQUEST_TIMEOUT_S,
            "p90": percentile(level.latencies, 90) if answered else REQUEST_TIMEOUT_S,
            "p99": percentile(level.latencies, 99) if answered else REQUEST_TIMEOUT_S,
            "max": max(level.latencies) if answered else REQUEST_TIMEOUT_S,
            "mean": statistics.fmean(level.latencies) if answered else REQUEST_TIMEOUT_S,
        },
        "timeout_s": REQUEST_TIMEOUT_S,
        "response_bytes_mean": statistics.fmean(level.sizes) if level.sizes else 0.0,
        "cpu": {
            **cpu,
            "client_ms_per_request": cpu["client_cpu_s"] * per,
            "server_ms_per_request": cpu["server_cpu_s"] * per,
            "db_ms_per_request": cpu["db_cpu_s"] * per,
            "machine_busy_share": cpu["machine_busy_s"] / (cpu["wall_s"] * (psutil.cpu_count() or 1)),
            "other_cores": cpu["other_cpu_s"] / cpu["wall_s"],
        },
        # resident memory of the server's process tree, sampled every 0.25 s in the window
        "server_rss_bytes": {"max": cpu["server_rss_max_bytes"], "mean": cpu["server_rss_mean_bytes"]},
    }
