"""A pool of worker processes that checks a list of items on several cores.

Checking can be most of a request's cost (for an ingest batch: an ES256 signature, an SD-JWT's
disclosures, the claims against the licence type, check digits and blind indexes, for every operation),
and it needs nothing but the items and a few plain values. One Python process does that on one core at a
time, so a large list is shared out: it is sent once, with the :class:`Checker` that checks it, to each
worker process the pool can lend, then cut into small chunks that the workers and the request's own
process check from the front, whoever is free next. The request's process takes each chunk (to write
it) as soon as it and every chunk before it are checked, and checks a chunk itself whenever it has
nothing to take. So the share of each adapts to how busy the machine is, and what is left to take once
the last check is done is a chunk or two.

The pool knows nothing of what it checks: the caller hands it a checker with each list. The workers are
started with the hub (or by the first list large enough to share); a list uses those that are ready and
free, and is checked wholly in the request's process when there are none. A worker talks to the hub over
its own pipe, so it knows at once when the hub is gone (even killed by SIGKILL) and exits. When a worker
dies, its unfinished chunks are checked by the request's process and the pool is started anew for the
next list; after ``MAX_BREAKS`` breaks in a row, checks stay in the request's process and an error is
logged. A pool of 0 workers checks everything in the request's process.
"""

from __future__ import annotations

import importlib
import logging
import math
import multiprocessing
import pickle
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, Protocol, TypeVar

from hub.kit import collector

log = logging.getLogger("hub.kit.pool")

Item = TypeVar("Item")
Result = TypeVar("Result")

# Below this many items a chunk, sending it to another process costs more than it saves.
MIN_SHARE = 32
# A shared list is cut into about this many chunks: small enough that the last ones to be taken are
# short, large enough that what the caller does once a chunk (for ingest, reading the stored licences it
# names) stays rare.
CHUNKS = 6
# Chunks sent ahead to each worker, so that it never waits for the request's process to send the next.
IN_FLIGHT = 2
# After this many pools in a row broke, checks stay in the request's process (and an error is logged).
MAX_BREAKS = 3

_READY = "ready"


class Checker(Protocol[Item, Result]):
    """What checks a list's items, in the request's process and in the workers (so it is pickled: it
    should hold plain values, and leave out of its pickle what it can rebuild, such as caches)."""

    def check_each(self, items: list[Item], start: int, /) -> list[Result]:
        """One result per item, in order; ``start`` is the index of the first item in the whole list."""
        ...

    def strip(self, result: Result, /) -> Result:
        """``result`` as a worker sends it back: without what the hub holds already (such as the item
        itself), so that less is pickled and piped. May change ``result`` and return it."""
        ...

    def restore(self, result: Result, item: Item, /) -> Result:
        """A stripped ``result`` made whole again in the hub, from the ``item`` it was checked from. May
        change ``result`` and return it."""
        ...


def _serve(conn: Connection, preload: tuple[str, ...]) -> None:
    """A worker's life: take a list and its checker, then check the chunks of it it is asked for, until
    the hub's end of the pipe closes."""
    for module in preload:
        importlib.import_module(module)
    collector.settle()
    checker: Checker[Any, Any] | None = None
    items: list[Any] = []
    try:
        conn.send(_READY)
        while True:
            message = conn.recv()
            if message[0] == "batch":
                _, checker, items = message
                continue
            _, start, stop = message
            assert checker is not None
            conn.send([checker.strip(result) for result in checker.check_each(items[start:stop], start)])
    except (EOFError, OSError):
        return  # the hub process is gone, or closed the pool


class _Dead(Exception):
    """A worker's pipe closed: the process died."""


class _Worker:
    def __init__(self, preload: tuple[str, ...]) -> None:
        # spawn, not fork: the hub process has threads (server, database pool) a fork would copy mid-flight.
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, preload), name="hub-check-worker", daemon=True
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


class WorkerPool:
    """``workers`` processes that check lists beside the request's process.

    ``preload`` names modules each worker imports as it starts, before it says it is ready: those its
    checkers need. A worker is then lent only once it can check at full speed, rather than spending its
    first list importing (as ``multiprocessing.set_forkserver_preload`` does for a fork server)."""

    def __init__(self, workers: int, preload: Iterable[str] = ()) -> None:
        self.workers = workers
        self.preload = tuple(preload)
        self._lock = threading.Lock()
        self._pool: list[_Worker] = []  # the running workers
        self._idle: list[_Worker] = []  # those not lent to a list
        self._breaks = 0

    def check(self, checker: Checker[Item, Result], items: list[Item]) -> Checking[Item, Result]:
        """Start checking ``items`` with ``checker`` (on the workers at once); iterate the result for the
        checked chunks in order, and close it when done (``with``)."""
        return Checking(self, checker, items)

    def start(self) -> None:
        """Start the workers now rather than on the first large list (the server does, at startup)."""
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
        """The running workers' process ids (none before the first large list, or with 0 workers)."""
        with self._lock:
            return sorted(w.process.pid for w in self._pool if w.process.pid is not None)

    def close(self) -> None:
        with self._lock:
            pool, self._pool, self._idle = self._pool, [], []
        for worker in pool:
            worker.stop()

    # -- lending workers to lists (callers hold no lock) -----------------------------------------------

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
                else:  # the pool was dropped (or closed) while the list had it
                    worker.stop()

    def _lost(self, worker: _Worker) -> None:
        """A worker died (killed, out of memory): drop its pool once; the next list starts a new one."""
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
                started.append(_Worker(self.preload))
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
        for worker in idle:  # those lent to a list are stopped when it gives them back
            worker.stop()
        if self._breaks < MAX_BREAKS:
            log.warning("ingest.check_pool.broken", extra={"workers": self.workers, "breaks": self._breaks})
        else:
            log.error("ingest.check_pool.given_up", extra={"workers": self.workers, "breaks": self._breaks})


class Checking(Generic[Item, Result]):
    """One list being checked. Iterating gives its items' results, in order, as consecutive lists."""

    def __init__(self, pool: WorkerPool, checker: Checker[Item, Result], items: list[Item]) -> None:
        self.pool = pool
        self.checker = checker
        self.items = items
        count = len(items)
        self.shared = bool(pool.workers) and count >= 2 * MIN_SHARE  # whether workers may take part
        size = max(MIN_SHARE, math.ceil(count / CHUNKS)) if self.shared else max(count, 1)
        self.chunks = [(start, min(start + size, count)) for start in range(0, count, size)]
        self.pending = deque(range(len(self.chunks)))  # chunks nobody checks yet, in order
        self.workers: list[_Worker] = []
        self.in_flight: dict[_Worker, deque[int]] = {}
        self.done: dict[int, list[Result]] = {}
        self.used = False
        self._borrow()

    def _borrow(self) -> None:
        """Take the pool's free workers (if the list is shared) and send them the list and chunks."""
        lent = self.pool._lend() if self.shared and self.pending else []
        if not lent:
            return
        self.used = True
        self.workers += lent
        batch = pickle.dumps(("batch", self.checker, self.items), protocol=pickle.HIGHEST_PROTOCOL)
        for worker in lent:
            self.in_flight[worker] = deque()
            try:
                worker.send(batch)
            except _Dead:
                self._lost(worker)
                continue
            self._feed(worker)

    def __enter__(self) -> Checking[Item, Result]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[list[Result]]:
        following = 0  # the first chunk not yet given out
        while following < len(self.chunks):
            self._collect(block=False)
            if self.pending and not self.workers:
                # Every worker was busy (with another caller's list): check on here, a chunk at a time,
                # taking a worker as soon as one is free. What is checked here alone is given out at the
                # end, in as few parts as can be, since nothing else would overlap what the caller does
                # with them.
                self._borrow()
                if not self.workers:
                    self._check_here(self.pending.popleft())
                    continue
            ready: list[Result] = []
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
        """Wait for what the workers still check (nothing, unless the caller stopped early), then give
        them back to the pool."""
        while any(self.in_flight.values()):
            self._collect(block=True)
        self.pool._give_back(self.workers, self.used)
        self.workers = []

    def _check_here(self, chunk: int) -> None:
        start, stop = self.chunks[chunk]
        self.done[chunk] = self.checker.check_each(self.items[start:stop], start)

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
                stripped: list[Result] = worker.receive()
            except _Dead:
                self._lost(worker)
                continue
            chunk = self.in_flight[worker].popleft()
            start, stop = self.chunks[chunk]
            restore = self.checker.restore
            self.done[chunk] = [
                restore(result, item) for result, item in zip(stripped, self.items[start:stop], strict=True)
            ]
            self._feed(worker)

    def _lost(self, worker: _Worker) -> None:
        """The worker died: what it had not finished is checked here, and the pool starts anew."""
        self.pending.extendleft(reversed(self.in_flight.pop(worker, deque())))
        self.workers.remove(worker)
        self.used = False
        self.shared = False  # the pool starts anew: this list is checked here from now on
        self.pool._lost(worker)
        worker.stop()
