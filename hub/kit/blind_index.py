"""Blind indexes: an HMAC of an identifier, so rows can be found by holder without storing the ID.

The key lives outside the database; without it the index cannot be reversed by enumerating the (small)
space of citizen ID numbers. The ``kind`` prefix keeps indexes of different identifier kinds apart.
"""

from __future__ import annotations

import hashlib
import hmac


class BlindIndex:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("blind index key must be at least 32 bytes")
        self._key = key

    def of(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
