"""Encryption at rest: AES-256-GCM with key ids, so keys can rotate without re-encrypting at once.

A sealed value is ``b"v1." + kid + b"." + nonce(12) + ciphertext-with-tag``. The first key of the keyring
seals; every key it holds can open, so a rotated-out key keeps old rows readable until they are resealed.
The caller's associated data (for example a row id) binds a ciphertext to its place: a sealed value moved
to another row will not open.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PREFIX = b"v1."


class SealingError(Exception):
    """A value could not be sealed or opened (unknown key id, tampering, bad format)."""


@dataclass(frozen=True)
class DataKey:
    kid: str
    secret: bytes

    def __post_init__(self) -> None:
        if not _KID.match(self.kid):
            raise SealingError(f"key id {self.kid!r} must be 1-32 characters of [A-Za-z0-9_-]")
        if len(self.secret) != 32:
            raise SealingError(f"key {self.kid!r} must be 32 bytes (AES-256), got {len(self.secret)}")


class Keyring:
    """Data keys for sealing; ``keys[0]`` is the active one."""

    def __init__(self, keys: list[DataKey]) -> None:
        if not keys:
            raise SealingError("a keyring needs at least one key")
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise SealingError("duplicate key ids in keyring")
        self.active = keys[0]
        self._aead = {k.kid: AESGCM(k.secret) for k in keys}

    @classmethod
    def from_spec(cls, spec: str) -> Keyring:
        """Parse ``"kid:base64,kid2:base64"``; the first entry seals, all open."""
        keys = []
        for entry in filter(None, (part.strip() for part in spec.split(","))):
            kid, sep, encoded = entry.partition(":")
            if not sep:
                raise SealingError("keyring entries are kid:base64 separated by commas")
            try:
                secret = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise SealingError(f"key {kid!r} is not valid base64") from exc
            keys.append(DataKey(kid, secret))
        return cls(keys)

    @staticmethod
    def generate_spec(kid: str) -> str:
        return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"

    @property
    def kids(self) -> list[str]:
        return list(self._aead)

    def seal(self, plaintext: bytes, *, aad: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        kid = self.active.kid
        return _PREFIX + kid.encode() + b"." + nonce + self._aead[kid].encrypt(nonce, plaintext, aad)

    def key_id_of(self, sealed: bytes) -> str:
        if not sealed.startswith(_PREFIX):
            raise SealingError("not a sealed value")
        kid, sep, _ = sealed[len(_PREFIX) :].partition(b".")
        if not sep or not _KID.match(kid.decode("ascii", errors="replace")):
            raise SealingError("not a sealed value")
        return kid.decode("ascii")

    def open(self, sealed: bytes, *, aad: bytes = b"") -> bytes:
        kid = self.key_id_of(sealed)
        aead = self._aead.get(kid)
        if aead is None:
            raise SealingError(f"no data key {kid!r} in the keyring")
        body = sealed[len(_PREFIX) + len(kid) + 1 :]
        if len(body) < 12 + 16:
            raise SealingError("sealed value is truncated")
        try:
            return aead.decrypt(body[:12], body[12:], aad)
        except InvalidTag as exc:
            raise SealingError("sealed value failed authentication (tampered or wrong context)") from exc

    def reseal(self, sealed: bytes, *, aad: bytes = b"") -> bytes:
        """Open with whichever key sealed it and seal again with the active key (rotation)."""
        if self.key_id_of(sealed) == self.active.kid:
            return sealed
        return self.seal(self.open(sealed, aad=aad), aad=aad)
