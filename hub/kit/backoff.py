"""Back-off after failed authentication, per identity and per address (issue 14).

Each key (``admin:<username>``, ``client:<client id>``, ``addr:<address>``) may fail ``free`` times; from
then on every further attempt waits ``base × 2^(failures − free)`` seconds after the last failure, at most
``cap``. A success clears the identity's key, and a key that has not failed for ``cap`` seconds is
forgotten, so nobody is locked out for good: the real owner waits at most ``cap`` once the guessing
stops. State lives in each process, like the rate limit (N workers allow N times the attempts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

MAX_KEYS = 100_000


class Backoff:
    def __init__(self, free: int = 10, base: float = 1.0, cap: float = 900.0) -> None:
        self.free, self.base, self.cap = free, base, cap
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (failures - self.free)))

    def retry_after(self, keys: Iterable[str], now: float | None = None) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            waits = [
                last + self._delay(failures) - now
                for key in keys
                if (entry := self._failures.get(key)) is not None
                for failures, last in [entry]
            ]
        return max([0.0, *waits])

    def failed(self, keys: Iterable[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._failures) > MAX_KEYS:
                self._failures = {k: v for k, v in self._failures.items() if now - v[1] < self.cap}
            for key in keys:
                failures, last = self._failures.get(key, (0, now))
                if now - last >= self.cap:
                    failures = 0
                self._failures[key] = (failures + 1, now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
