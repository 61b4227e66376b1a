"""Runs the checks of a batch's operations (``ingest_checks``) on several cores.

Checking is most of an ingest's cost: an ES256 signature, an SD-JWT's disclosures, the claims against the
licence type, check digits and blind indexes, for every operation, and none of it needs the database.
One Python process does that on one core at a time, so a large batch is shared out: it is sent once to
each worker process the pool can lend, then cut into small chunks that the workers and the request's own
process check from the front, whoever is free next. The request's process writes each chunk as soon as it
and every chunk before it are checked, and checks a chunk itself whenever it has nothing to write. So the
share of each adapts to how busy the machine is, and what is left to write once the last check is done is
a chunk or two.

The workers are started with the hub (or by the first batch large enough to share); a batch uses those
that are ready and free, and checks everything itself when there are none. A worker talks to the hub over
its own pipe, so it knows at once when the hub is gone (even killed by SIGKILL) and exits. When a worker
dies, its unfinished chunks are checked by the request's process and the pool is started anew for the
next batch; after ``MAX_BREAKS`` breaks in a row, checks stay in the request's process and an error is
logged. ``HUB_INGEST_WORKERS=0`` keeps every check in the request's process.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import pickle
import threading
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from hub.errors import HubError
from hub.kit import collector
from hub.kit.blind_index import BlindIndex
from hub.registry.ingest_checks import OperationChecker
from hub.registry.ingest_rules import CheckContext, Prepared, PreparedCredential

log = logging.getLogger("hub.registry.check_pool")

Operation = tuple[str, str | None, str | None]  # (op, credential, statement)
Checked = Prepared | HubError

# Below this many operations a chunk, sending it to another process costs more than it saves.
MIN_SHARE = 32
# A shared batch is cut into about this many chunks: small enough that the last ones to be written are
# short, large enough that each chunk's reads of stored licences stay few.
CHUNKS = 6
# Chunks sent ahead to each worker, so that it never waits for the request's process to send the next.
IN_FLIGHT = 2
# After this many pools in a row broke, checks stay in the request's process (and an error is logged).
MAX_BREAKS = 3

_READY = "ready"


def _serve(conn: Connection, blind_index: BlindIndex) -> None:
    """A worker's life: take a batch, then check the chunks of it it is asked for, until the hub's end of
    the pipe closes."""
    collector.settle()
    checker: OperationChecker | None = None
    operations: list[Operation] = []
    try:
        conn.send(_READY)
        while True:
            message = conn.recv()
            if message[0] == "batch":
                _, context, operations = message
                checker = OperationChecker(context, blind_index)
                continue
            _, start, stop = message
            assert checker is not None
            checked = checker.prepare_each(operations[start:stop], start)
            for item in checked:
                if not isinstance(item, HubError):
                    item.compact = ""  # the hub holds it already: do not send it back
            conn.send(checked)
    except (EOFError, OSError):
        return  # the hub process is gone, or closed the pool


class _Dead(Exception):
    """A worker's pipe closed: the process died."""


class _Worker:
    def __init__(self, blind_index: BlindIndex) -> None:
        # spawn, not fork: the hub process has threads (server, database pool) a fork would copy mid-flight.
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, blind_index), name="hub-check-worker", daemon=True
        )
        self.process.start()
        child.close()  # so that the worker's death closes the pipe for this process
        self.ready = False

    def is_ready(self) -> bool:
        """Whether it has started and waits for work; :class:`_Dead` if it died on the way."""
        if not self.ready and self.conn.poll():
            self.ready = self.receive() == _READY
        return self.ready

    def send(self, message: Any) -> None:
        try:
            if isinstance(message, bytes):
                self.conn.send_bytes(message)
            else:
                self.conn.send(message)
        except OSError:
            raise _Dead from None

    def receive(self) -> Any:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            raise _Dead from None

    def stop(self) -> None:
        self.conn.close()  # the worker's next read ends, and it exits
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=2)


class CheckPool:
    def __init__(self, workers: int, blind_index: BlindIndex) -> None:
        self.workers = workers
        self.blind_index = blind_index
        self._lock = threading.Lock()
        self._pool: list[_Worker] = []  # the running workers
        self._idle: list[_Worker] = []  # those not lent to a batch
        self._breaks = 0

    def check(self, context: CheckContext, operations: list[Operation]) -> Checking:
        """Start checking ``operations`` (on the workers at once); iterate the result for the checked
        chunks in operation order, and close it when done (``with``)."""
        return Checking(self, context, operations)

    def start(self) -> None:
        """Start the workers now rather than on the first large batch (the server does, at startup)."""
        with self._lock:
            self._start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker has started: False if the pool broke or it took longer."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._pool:
                    return False
                try:
                    if all(w.ready or (w in self._idle and self._ready(w)) for w in self._pool):
                        return True
                except _Dead:
                    return False
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def worker_pids(self) -> list[int]:
        """The running workers' process ids (none before the first large batch, or with 0 workers)."""
        with self._lock:
            return sorted(w.process.pid for w in self._pool if w.process.pid is not None)

    def close(self) -> None:
        with self._lock:
            pool, self._pool, self._idle = self._pool, [], []
        for worker in pool:
            worker.stop()

    # -- lending workers to batches (callers hold no lock) ---------------------------------------------

    def _lend(self) -> list[_Worker]:
        """The workers that are ready and free, taken out of the idle list; none if there are none."""
        with self._lock:
            self._start()
            try:
                lent = [w for w in self._idle if self._ready(w)]
            except _Dead:
                return []
            for worker in lent:
                self._idle.remove(worker)
            return lent

    def _give_back(self, workers: list[_Worker], used: bool) -> None:
        with self._lock:
            if used:
                self._breaks = 0
            for worker in workers:
                if worker in self._pool:
                    self._idle.append(worker)
                else:  # the pool was dropped (or closed) while the batch had it
                    worker.stop()

    def _lost(self, worker: _Worker) -> None:
        """A worker died (killed, out of memory): drop its pool once; the next batch starts a new one."""
        with self._lock:
            if worker in self._pool:
                self._drop()

    # -- with the lock held ----------------------------------------------------------------------------

    def _start(self) -> None:
        if self._pool or not self.workers or self._breaks >= MAX_BREAKS:
            return
        started: list[_Worker] = []
        try:
            for _ in range(self.workers):
                started.append(_Worker(self.blind_index))
        except Exception:  # no process can be started here (limits, memory): check in-process for good
            for worker in started:
                worker.stop()
            self._breaks = MAX_BREAKS
            log.exception("ingest.check_pool.given_up", extra={"workers": self.workers})
            return
        self._pool, self._idle = started, list(started)
        log.info("ingest.check_pool.started", extra={"workers": self.workers})

    def _ready(self, worker: _Worker) -> bool:
        try:
            return worker.is_ready()
        except _Dead:
            self._drop()
            raise

    def _drop(self) -> None:
        idle, self._pool, self._idle = self._idle, [], []
        self._breaks += 1
        for worker in idle:  # those lent to a batch are stopped when it gives them back
            worker.stop()
        if self._breaks < MAX_BREAKS:
            log.warning("ingest.check_pool.broken", extra={"workers": self.workers, "breaks": self._breaks})
        else:
            log.error("ingest.check_pool.given_up", extra={"workers": self.workers, "breaks": self._breaks})


class Checking:
    """One batch being checked. Iterating gives its operations checked, in order, as consecutive lists:
    for each operation its :class:`Prepared` operation or the problem rejecting it."""

    def __init__(self, pool: CheckPool, context: CheckContext, operations: list[Operation]) -> None:
        self.pool = pool
        self.context = context
        self.operations = operations
        self.here = OperationChecker(context, pool.blind_index)
        count = len(operations)
        self.shared = bool(pool.workers) and count >= 2 * MIN_SHARE  # whether workers may take part
        size = max(MIN_SHARE, math.ceil(count / CHUNKS)) if self.shared else max(count, 1)
        self.chunks = [(start, min(start + size, count)) for start in range(0, count, size)]
        self.pending = deque(range(len(self.chunks)))  # chunks nobody checks yet, in order
        self.workers: list[_Worker] = []
        self.in_flight: dict[_Worker, deque[int]] = {}
        self.done: dict[int, list[Checked]] = {}
        self.used = False
        self._borrow()

    def _borrow(self) -> None:
        """Take the pool's free workers (if the batch is shared) and send them the batch and chunks."""
        lent = self.pool._lend() if self.shared and self.pending else []
        if not lent:
            return
        self.used = True
        self.workers += lent
        batch = pickle.dumps(("batch", self.context, self.operations), protocol=pickle.HIGHEST_PROTOCOL)
        for worker in lent:
            self.in_flight[worker] = deque()
            try:
                worker.send(batch)
            except _Dead:
                self._lost(worker)
                continue
            self._feed(worker)

    def __enter__(self) -> Checking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[list[Checked]]:
        following = 0  # the first chunk not yet given out
        while following < len(self.chunks):
            self._collect(block=False)
            if self.pending and not self.workers:
                # Every worker was busy (with another feed's batch): check on here, a chunk at a time,
                # taking a worker as soon as one is free. What is checked here alone is written at the
                # end, in as few statements as can be, since nothing else would overlap the writing.
                self._borrow()
                if not self.workers:
                    self._check_here(self.pending.popleft())
                    continue
            ready: list[Checked] = []
            while following in self.done:
                ready += self.done.pop(following)
                following += 1
            if ready:
                yield ready
            elif self.pending:
                self._check_here(self.pending.popleft())
            else:
                self._collect(block=True)

    def close(self) -> None:
        """Wait for what the workers still check (nothing, unless the batch stopped early), then give them
        back to the pool."""
        while any(self.in_flight.values()):
            self._collect(block=True)
        self.pool._give_back(self.workers, self.used)
        self.workers = []

    def _check_here(self, chunk: int) -> None:
        start, stop = self.chunks[chunk]
        self.done[chunk] = self.here.prepare_each(self.operations[start:stop], start)

    def _feed(self, worker: _Worker) -> None:
        queue = self.in_flight[worker]
        while len(queue) < IN_FLIGHT and self.pending:
            chunk = self.pending.popleft()
            queue.append(chunk)
            try:
                worker.send(("check", *self.chunks[chunk]))
            except _Dead:
                self._lost(worker)
                return

    def _collect(self, *, block: bool) -> None:
        """Take in the chunks workers have finished (waiting for one if ``block``), and send them more."""
        busy = {w.conn: w for w, queue in self.in_flight.items() if queue}
        if not busy:
            return
        for conn in wait(list(busy), timeout=None if block else 0):
            worker = busy[conn]  # type: ignore[index]
            try:
                checked: list[Checked] = worker.receive()
            except _Dead:
                self._lost(worker)
                continue
            for item in checked:
                if not isinstance(item, HubError):
                    _, credential, statement = self.operations[item.index]
                    item.compact = (credential if isinstance(item, PreparedCredential) else statement) or ""
            self.done[self.in_flight[worker].popleft()] = checked
            self._feed(worker)

    def _lost(self, worker: _Worker) -> None:
        """The worker died: what it had not finished is checked here, and the pool starts anew."""
        self.pending.extendleft(reversed(self.in_flight.pop(worker, deque())))
        self.workers.remove(worker)
        self.used = False
        self.shared = False  # the pool starts anew: this batch is checked here from now on
        self.pool._lost(worker)
        worker.stop()
