"""Runs the checks of a batch's operations (``ingest_checks``) on several cores.

Checking is most of an ingest's cost: an ES256 signature, an SD-JWT's disclosures, the claims against the
licence type, check digits and blind indexes, for every operation, and none of it needs the database.
One Python process does that on one core at a time, so a large batch is cut into equal chunks: worker
processes check the later chunks while the request's own process checks the first, then writes each
chunk while the workers are still checking the next ones. The workers are started with the hub (or on
the first batch large enough to share), live as long as the hub, and are replaced if one dies.
``HUB_INGEST_WORKERS=0`` keeps every check in the request's process.
"""

from __future__ import annotations

import gc
import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from hub.errors import HubError
from hub.kit.blind_index import BlindIndex
from hub.registry.ingest_checks import CheckContext, OperationChecker, PreparedOperation

log = logging.getLogger("hub.registry.check_pool")

Operation = tuple[str, str | None, str | None]  # (op, credential, statement)
Checked = PreparedOperation | HubError

# Below this many operations a share, sending them to another process costs more than it saves.
MIN_SHARE = 32
# After this many pools in a row broke, checks stay in the request's process (and an error is logged).
MAX_BREAKS = 3

_worker_blind_index: BlindIndex | None = None


def _start_worker(blind_index: BlindIndex, parent: int) -> None:
    global _worker_blind_index
    _worker_blind_index = blind_index
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    gc.freeze()  # the imported modules are never garbage: keep the collector from walking them


def _exit_with_parent(parent: int) -> None:
    """A worker whose hub process died (even by SIGKILL, which runs no cleanup) exits within a second,
    instead of waiting forever for work that will never come."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> None:
    pass


def _check_in_worker(context: CheckContext, operations: list[Operation], start: int) -> list[Checked]:
    assert _worker_blind_index is not None
    checked = OperationChecker(context, _worker_blind_index).prepare_each(operations, start)
    for item in checked:
        if isinstance(item, PreparedOperation):
            item.compact = ""  # the caller holds it already: do not send it back
    return checked


class CheckPool:
    def __init__(self, workers: int, blind_index: BlindIndex) -> None:
        self.workers = workers
        self.blind_index = blind_index
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._breaks = 0

    def check(self, context: CheckContext, operations: list[Operation]) -> Iterator[list[Checked]]:
        """Each operation checked, as consecutive chunks in operation order: for each operation its
        :class:`PreparedOperation` or the problem rejecting it.

        With workers, the batch is cut into chunks: this process checks the first while the workers
        check the others, and the caller can write one chunk while the next is being checked."""
        # One chunk for this process, and for the workers one more chunk than there are workers: the
        # executor queues at most that many items at once. A further item would wait for a thread of
        # this (busy) process to pass it on while the workers sat idle.
        here = OperationChecker(context, self.blind_index)
        chunks = min(self.workers + 2, len(operations) // MIN_SHARE) if self.workers else 1
        executor = self._started() if chunks >= 2 else None
        if executor is None:
            yield here.prepare_each(operations)
            return
        size = math.ceil(len(operations) / chunks)
        starts = range(0, len(operations), size)
        try:
            futures = [
                executor.submit(_check_in_worker, context, operations[start : start + size], start)
                for start in starts[1:]
            ]
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by a request that found it broken
            self._broken(executor)
            yield here.prepare_each(operations)
            return
        try:
            yield here.prepare_each(operations[:size])
            for start, future in zip(starts[1:], futures, strict=True):
                yield self._collect(executor, future, here, operations[start : start + size], start)
        finally:
            for future in futures:
                future.cancel()

    def _collect(
        self, executor: ProcessPoolExecutor, future: Future[list[Checked]], here: OperationChecker,
        operations: list[Operation], start: int,
    ) -> list[Checked]:  # fmt: skip
        try:
            checked = future.result()
        except (BrokenProcessPool, CancelledError):
            # A worker died (killed, out of memory), or another request found the pool broken and
            # replaced it: check this share here.
            self._broken(executor)
            return here.prepare_each(operations, start)
        self._breaks = 0
        for item in checked:
            if isinstance(item, PreparedOperation):
                _, credential, statement = operations[item.index - start]
                item.compact = credential or statement or ""
        return checked

    def worker_pids(self) -> list[int]:
        """The running workers' process ids (none before the first large batch, or with 0 workers)."""
        with self._lock:
            processes = getattr(self._executor, "_processes", None) or {}
            return sorted(processes)

    def start(self) -> None:
        """Start the workers now rather than on the first large batch (the server does, at startup)."""
        executor = self._started() if self.workers else None
        if executor is not None:
            for _ in range(self.workers):
                executor.submit(_ready)

    def _started(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._executor is None and self._breaks < MAX_BREAKS:
                # spawn, not fork: the hub process has threads (server, database pool) a fork would copy
                # mid-flight.
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self.blind_index, os.getpid()),
                )
                log.info("ingest.check_pool.started", extra={"workers": self.workers})
            return self._executor

    def _broken(self, executor: ProcessPoolExecutor) -> None:
        """Drop a pool that broke (once, whichever request notices first); the next batch starts anew."""
        with self._lock:
            if self._executor is not executor:
                return
            self._executor = None
            self._breaks += 1
            breaks = self._breaks
        executor.shutdown(wait=False, cancel_futures=True)
        if breaks < MAX_BREAKS:
            log.warning("ingest.check_pool.broken", extra={"workers": self.workers, "breaks": breaks})
        else:
            log.error("ingest.check_pool.given_up", extra={"workers": self.workers, "breaks": breaks})

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
