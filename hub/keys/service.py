"""The hub's own ES256 keys: created on first start, rotated by operators, published in the JWKS.

Private keys are sealed with the data keyring (AES-256-GCM) before they reach the database. A rotated
key stays published as ``retired`` so everything it signed still verifies; only the active key signs.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey
from sqlalchemy.orm import Session, sessionmaker

from hub.contract.sdjwt import sign_jws
from hub.errors import Conflict, NotFound
from hub.keys import repository
from hub.keys.models import HubKey
from hub.kit.time import utcnow
from storage.sealing import Keyring

HUB_ALG = "ES256"


def _aad(kid: str) -> bytes:
    return f"hub_key:{kid}".encode()


def create_key(session: Session, keyring: Keyring) -> HubKey:
    """Generate a P-256 key, seal its private part and store it as the active key."""
    key = ECKey.generate_key("P-256", private=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": HUB_ALG, "use": "sig"}
    sealed = keyring.seal(json.dumps(key.as_dict(private=True)).encode(), aad=_aad(kid))
    row = HubKey(kid=kid, alg=HUB_ALG, public_jwk=public, private_sealed=sealed)
    session.add(row)
    session.flush()
    return row


def ensure_active_key(session: Session, keyring: Keyring) -> HubKey:
    """Return the active key, creating the first one on a new installation."""
    return repository.active_key(session) or create_key(session, keyring)


def rotate(session: Session, keyring: Keyring) -> HubKey:
    """Retire the active key (it keeps verifying) and make a new one active."""
    for row in repository.list_keys(session, statuses=("active",)):
        row.status, row.retired_at = "retired", utcnow()
    return create_key(session, keyring)


def retire(session: Session, kid: str) -> HubKey:
    row = repository.get_key(session, kid)
    if row is None:
        raise NotFound(f"no hub key {kid!r}")
    if row.status != "active":
        raise Conflict(f"hub key {kid!r} is already {row.status}")
    row.status, row.retired_at = "retired", utcnow()
    return row


def reseal_all(session: Session, keyring: Keyring) -> int:
    """Re-encrypt every private key with the active data key (after a data-key rotation)."""
    count = 0
    for row in repository.list_keys(session, statuses=("active", "retired")):
        resealed = keyring.reseal(row.private_sealed, aad=_aad(row.kid))
        if resealed is not row.private_sealed:
            row.private_sealed = resealed
            count += 1
    return count


@dataclass(frozen=True)
class _Snapshot:
    loaded_at: float
    signing_kid: str
    signing_key: ECKey
    jwks: dict[str, Any]
    private: dict[str, ECKey]


class HubSigner:
    """Signs with the active hub key; reloads from the database at most every ``ttl`` seconds so that
    several workers pick up a rotation without a restart."""

    def __init__(self, factory: sessionmaker[Session], keyring: Keyring, ttl: float = 30.0) -> None:
        self._factory = factory
        self._keyring = keyring
        self._ttl = ttl
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    def _load(self) -> _Snapshot:
        with self._factory() as session:
            rows = repository.list_keys(session)
            active = next((r for r in rows if r.status == "active"), None)
            if active is None:
                raise RuntimeError("the hub has no active signing key; run `hub keys rotate`")
            private = {
                r.kid: ECKey.import_key(json.loads(self._keyring.open(r.private_sealed, aad=_aad(r.kid))))
                for r in rows
            }
            jwks = {"keys": [dict(r.public_jwk) for r in rows]}
        return _Snapshot(time.monotonic(), active.kid, private[active.kid], jwks, private)

    def snapshot(self) -> _Snapshot:
        snap = self._snapshot
        if snap is None or time.monotonic() - snap.loaded_at > self._ttl:
            with self._lock:
                snap = self._snapshot
                if snap is None or time.monotonic() - snap.loaded_at > self._ttl:
                    snap = self._snapshot = self._load()
        return snap

    def refresh(self) -> None:
        with self._lock:
            self._snapshot = self._load()

    @property
    def jwks(self) -> dict[str, Any]:
        """The public JWK set: the active key and every retired one."""
        return self.snapshot().jwks

    def key_for(self, kid: str) -> ECKey | None:
        """The hub's private key with this kid (for holder key binding), if the hub has it."""
        return self.snapshot().private.get(kid)

    def sign(self, payload: dict[str, Any], *, typ: str) -> str:
        snap = self.snapshot()
        return sign_jws(payload, key=snap.signing_key, kid=snap.signing_kid, alg=HUB_ALG, typ=typ)
