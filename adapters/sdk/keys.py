"""Private keys an adapter holds, read from JWK files (RFC 7517): the department's signing key and the
key its OAuth client authenticates with (``private_key_jwt``, RFC 7523). Often two files, may be one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, JWKRegistry, OKPKey

from hub.contract.sdjwt import alg_for_key


class KeyFileError(Exception):
    """The key file is missing, unreadable or not a private EC/OKP key."""


@dataclass(frozen=True)
class PrivateKey:
    key: ECKey | OKPKey
    kid: str
    alg: str  # ES256 (P-256) or EdDSA (Ed25519)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": self.alg}


def load_private_key(path: Path | str) -> PrivateKey:
    """Read a private JWK; ``kid`` is the file's own or else the RFC 7638 thumbprint (what the hub
    assigns when a key is registered without one)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: cannot read a JWK ({exc})") from None
    if not isinstance(data, dict) or "d" not in data:
        raise KeyFileError(f"{path}: not a private JWK (no 'd' member)")
    try:
        key = JWKRegistry.import_key(data)
    except Exception as exc:  # joserfc raises several types for bad key material
        raise KeyFileError(f"{path}: unusable key ({exc})") from None
    if not isinstance(key, (ECKey, OKPKey)):
        raise KeyFileError(f"{path}: expected an EC P-256 or OKP Ed25519 key")
    try:
        alg = alg_for_key(key)
    except ValueError as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    return PrivateKey(key=key, kid=str(data.get("kid") or key.thumbprint()), alg=alg)
