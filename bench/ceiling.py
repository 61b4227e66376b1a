"""Ceilings: how fast one core can do the unavoidable cryptographic work on the very same credentials."""

from __future__ import annotations

import time
from collections.abc import Sequence

from joserfc import jws
from joserfc.jwk import ECKey

from bench.workload import Feed
from hub.contract import sdjwt


def _pairs(feeds: Sequence[Feed]) -> list[tuple[str, str, ECKey]]:
    pairs = []
    for feed in feeds:
        key = feed.department.public_key
        pairs.extend((c, c.split("~", 1)[0], key) for c in feed.credentials)
    return pairs


def signature_ceiling(feeds: Sequence[Feed], *, min_seconds: float = 0.0) -> dict[str, float]:
    """The bare ES256 check of every issuer JWT with joserfc (``jws.deserialize_compact`` with the
    department's public ECKey): one process, one thread, keys resolved before timing. Repeats the loop
    until at least ``min_seconds`` have passed so that small smoke runs still give a stable figure."""
    pairs = _pairs(feeds)
    if not pairs:
        raise ValueError("no credentials")
    done = 0
    start = time.perf_counter()
    while True:
        for _, issuer_jwt, key in pairs:
            jws.deserialize_compact(issuer_jwt, key, algorithms=["ES256"])
        done += len(pairs)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    return {"licences": done, "seconds": elapsed, "per_second": done / elapsed}


def sdjwt_reference(feeds: Sequence[Feed], *, min_seconds: float = 0.0) -> dict[str, float]:
    """For comparison, not a ceiling: the hub's own per-credential crypto and parsing path
    (``sdjwt.parse`` + ``verify_issuer_signature`` + ``resolve_disclosures``), single thread."""
    pairs = _pairs(feeds)
    done = 0
    start = time.perf_counter()
    while True:
        for compact, _, key in pairs:
            parsed = sdjwt.parse(compact)
            sdjwt.verify_issuer_signature(parsed, lambda _header, key=key: key)
            sdjwt.resolve_disclosures(parsed)
        done += len(pairs)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    return {"licences": done, "seconds": elapsed, "per_second": done / elapsed}
