"""Small reference tables held in process: read once, kept for a short time, dropped when this process
writes them.

For data that changes a few times a year and is read on every request (the region tree, the licence type
catalog, service items), one query per request is most of a lookup's database time (DESIGN 8). A
:class:`ReferenceCache` keeps a snapshot of such a table per database engine (its pool), so two hubs in
one process (tests, the CLI beside a server) never see each other's rows.

Staleness: a write made by *this* process drops the snapshot at once (:meth:`ReferenceCache.invalidate`,
called by the code that writes) and again when the writing transaction ends, so a reader never keeps a
snapshot taken while the write was in flight. A write made by *another* process — a second uvicorn
worker, ``hub catalog`` from a shell — is seen here within the TTL (``HUB_REFERENCE_CACHE_SECONDS``,
default 30 s; 0 turns the caches off). That is acceptable for reference data only: grants, tokens,
consents and clients are never cached beyond one request, so a revocation counts on the next request.

Snapshots are shared between threads: callers read them and never change them.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from hub.kit import transaction

T = TypeVar("T")

TTL_ENV = "HUB_REFERENCE_CACHE_SECONDS"
DEFAULT_TTL_SECONDS = 30.0


def default_ttl() -> float:
    """The TTL from ``HUB_REFERENCE_CACHE_SECONDS`` (seconds; 0 disables caching)."""
    raw = os.environ.get(TTL_ENV, "").strip()
    return max(0.0, float(raw)) if raw else DEFAULT_TTL_SECONDS


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    expires: float
    generation: int


def _pool_of(session: Session) -> Pool:
    """What identifies ``session``'s database connection here: its engine's pool, which the engine and
    every ``execution_options`` copy of it (the read-only session factory's bind) share."""
    bind = session.get_bind()
    return bind.pool if isinstance(bind, Engine) else bind.engine.pool


class ReferenceCache(Generic[T]):
    """A snapshot of one reference table per engine, loaded by ``load`` and kept for ``ttl`` seconds.

    ``ttl`` None reads :func:`default_ttl` at each load, so the environment decides at run time."""

    def __init__(self, name: str, load: Callable[[Session], T], *, ttl: float | None = None) -> None:
        self.name = name
        self._load = load
        self._ttl = ttl
        self._lock = threading.Lock()
        self._entries: weakref.WeakKeyDictionary[Pool, _Entry[T]] = weakref.WeakKeyDictionary()
        self._generation = 0
        self._writers = 0  # transactions that wrote the table and have not ended yet
        self.loads = 0  # how many times the table was read from the database (for tests and metrics)

    @property
    def ttl(self) -> float:
        return default_ttl() if self._ttl is None else self._ttl

    def get(self, session: Session) -> T:
        """The snapshot for ``session``'s database, read through ``session`` when missing or stale."""
        pool = _pool_of(session)
        now = time.monotonic()
        entry = self._entries.get(pool)
        if entry is not None and entry.expires > now and entry.generation == self._generation:
            return entry.value
        with self._lock:
            generation, writers = self._generation, self._writers
        value = self._load(session)
        self.loads += 1
        ttl = self.ttl
        with self._lock:
            # Not kept while a write is in flight here, nor when one happened during the load: the
            # snapshot might hold rows that are about to change, or rows that will be rolled back.
            if ttl > 0 and writers == 0 and self._writers == 0 and generation == self._generation:
                self._entries[pool] = _Entry(value, now + ttl, generation)
        return value

    def invalidate(self, session: Session | None = None) -> None:
        """Drop every snapshot now; with ``session``, also when its transaction ends (commit or rollback),
        and keep none until then."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
        if session is None:
            return
        pending: set[int] = session.info.setdefault("reference_cache_pending", set())
        if id(self) in pending:
            return
        with self._lock:
            pending.add(id(self))
            self._writers += 1
        transaction.on_end(session, lambda: self._transaction_ended(pending))

    def _transaction_ended(self, pending: set[int]) -> None:
        with self._lock:
            if id(self) not in pending:
                return
            pending.discard(id(self))
            self._writers -= 1
            self._generation += 1
            self._entries.clear()

    def clear(self) -> None:
        """Drop every snapshot (as :meth:`invalidate` without a session)."""
        self.invalidate()
