"""Offline verification of lookup answers against its ceiling, in the same run, on the very same
presentations.

- **Offline verification**: ``hub.contract.verifier.verify_presentation_offline`` (what ``hub verify``
  runs) on SD-JWT+KB presentations that real lookups returned, with the hub's key bundle fetched once and
  the status list tokens saved once (``--status offline``): issuer signature, validity, disclosures, key
  binding (aud, nonce, freshness, sd_hash), and the status list entry (its token's signature checked each
  time, as the verifier does). Also without the status list (``--status skip``).
- **Ceiling**: the two signatures no verification can skip, checked bare with joserfc — the department's
  ES256 signature on the issuer JWT and the hub's ES256 signature on the KB-JWT — keys resolved before
  timing. One process, one thread.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey

from hub.contract import sdjwt
from hub.contract.verifier import OnlineStatus, TrustedKeys, fetch_trusted_keys, verify_presentation_offline

# (presentation, aud, nonce) of one released licence
Sample = tuple[str, str, str]


def _repeat(samples: Sequence[Any], work: Callable[[Any], object], min_seconds: float) -> dict[str, float]:
    done = 0
    start = time.perf_counter()
    while True:
        for sample in samples:
            work(sample)
        done += len(samples)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return {"presentations": done, "seconds": elapsed, "per_second": done / elapsed}


def measure(hub_url: str, samples: Sequence[Sample], *, min_seconds: float = 2.0) -> dict[str, Any]:
    """Presentations verified per second, full and without status, beside the bare two-signature ceiling."""
    if not samples:
        raise ValueError("no presentations")
    keys: TrustedKeys = fetch_trusted_keys(hub_url)
    status = OnlineStatus()
    for presentation, aud, nonce in samples:  # every answer checked, and the status tokens fetched, untimed
        verify_presentation_offline(presentation, keys=keys, aud=aud, nonce=nonce, status=status)

    def full(sample: Sample) -> object:
        return verify_presentation_offline(
            sample[0], keys=keys, aud=sample[1], nonce=sample[2], status=status
        )

    def no_status(sample: Sample) -> object:
        return verify_presentation_offline(sample[0], keys=keys, aud=sample[1], nonce=sample[2], status=None)

    bare: list[tuple[str, ECKey, str, ECKey]] = []
    for presentation, _, _ in samples:
        parsed = sdjwt.parse(presentation)
        issuer = keys.issuer_key(parsed.payload["iss"], parsed.header.get("kid"))
        issuer_jwk = issuer.jwk if issuer is not None else None
        issuer_jwt = presentation.split("~", 1)[0]
        kb_jwt = presentation.rsplit("~", 1)[1]
        kb_kid = json.loads(base64.urlsafe_b64decode(kb_jwt.split(".", 1)[0] + "==")).get("kid")
        hub_jwk = keys.hub_key(kb_kid) or parsed.payload["cnf"]["jwk"]
        assert issuer_jwk is not None
        bare.append((issuer_jwt, ECKey.import_key(dict(issuer_jwk)), kb_jwt, ECKey.import_key(dict(hub_jwk))))

    def ceiling(pair: tuple[str, ECKey, str, ECKey]) -> object:
        issuer_jwt, issuer_key, kb_jwt, hub_key = pair
        jws.deserialize_compact(issuer_jwt, issuer_key, algorithms=["ES256"])
        return jws.deserialize_compact(kb_jwt, hub_key, algorithms=["ES256"])

    measured_ceiling = _repeat(bare, ceiling, min_seconds)
    measured_full = _repeat(samples, full, min_seconds)
    measured_no_status = _repeat(samples, no_status, min_seconds)
    rate = measured_ceiling["per_second"]
    return {
        "samples": len(samples),
        "presentation_bytes_mean": sum(len(s[0]) for s in samples) / len(samples),
        "ceiling": measured_ceiling,
        "full": {**measured_full, "ratio_to_ceiling": measured_full["per_second"] / rate},
        "no_status": {**measured_no_status, "ratio_to_ceiling": measured_no_status["per_second"] / rate},
    }
