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
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from hub.errors import HubError
from hub.kit.blind_index import BlindIndex
from hub.registry.ingest_checks import CheckContext, OperationChecker, PreparedOperation

log = logging.getLogger("hub.registry.check_pool")

Operation = tuple[str, str | None, str | None]  # (op, credential, statement)
Checked = PreparedOperation | HubError

# Below this many operations a share, sending them to another process costs more than it saves.
MIN_SHARE = 32

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

    def check(self, context: CheckContext, operations: list[Operation]) -> Iterator[list[Checked]]:
        """Each operation checked, as consecutive chunks in operation order: for each operation its
        :class:`PreparedOperation` or the problem rejecting it.

        With workers, the batch is cut into chunks: this process checks the first while the workers
        check the others, and the caller can write one chunk while the next is being checked."""
        # One chunk for this process, and for the workers one more chunk than there are workers: the
        # executor queues at most that many items at once. A further item would wait for a thread of
        # this (busy) process to pass it on while the workers sat idle.
        chunks = min(self.workers + 2, len(operations) // MIN_SHARE) if self.workers else 1
        if chunks < 2:
            yield OperationChecker(context, self.blind_index).prepare_each(operations)
            return
        size = math.ceil(len(operations) / chunks)
        starts = range(0, len(operations), size)
        try:
            executor = self._started()
            futures = [
                executor.submit(_check_in_worker, context, operations[start : start + size], start)
                for start in starts[1:]
            ]
        except BrokenProcessPool:
            self._replace()
            yield OperationChecker(context, self.blind_index).prepare_each(operations)
            return
        try:
            yield OperationChecker(context, self.blind_index).prepare_each(operations[:size])
            for start, future in zip(starts[1:], futures, strict=True):
                yield self._collect(future, context, operations, start, size)
        finally:
            for future in futures:
                future.cancel()

    def _collect(
        self, future: Future[list[Checked]], context: CheckContext, operations: list[Operation], start: int,
        size: int,
    ) -> list[Checked]:  # fmt: skip
        try:
            checked = future.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): check its share here and start afresh next time.
            log.warning("ingest.check_pool.broken", extra={"workers": self.workers})
            self._replace()
            return OperationChecker(context, self.blind_index).prepare_each(
                operations[start : start + size], start
            )
        for item in checked:
            if isinstance(item, PreparedOperation):
                _, credential, statement = operations[item.index]
                item.compact = credential or statement or ""
        return checked

    def worker_pids(self) -> list[int]:
        """The running workers' process ids (none before the first large batch, or with 0 workers)."""
        with self._lock:
            processes = getattr(self._executor, "_processes", None) or {}
            return sorted(processes)

    def start(self) -> None:
        """Start the workers now rather than on the first large batch (the server does, at startup)."""
        if self.workers:
            executor = self._started()
            for _ in range(self.workers):
                executor.submit(_ready)

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
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

    def _replace(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
