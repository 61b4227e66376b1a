"""Objects sealed at rest with the data keyring (AES-256-GCM, key ids), addressed by their plaintext.

A sealed object is ``OBJECT_MAGIC + Keyring.seal(plaintext, aad=b"hub-object:sha256:" + hex)``: the
magic marks it as sealed, the keyring's own ``v1.<kid>.`` prefix carries the format version and key id,
and the associated data binds the ciphertext to its content address, so a sealed object copied over
another key does not open. Opening also checks that the plaintext's SHA-256 equals the address.

Whole-object sealing (one AES-GCM message per object) is deliberate: objects are bounded by the caller's
``max_bytes`` (the hub's attachments by ``HUB_MAX_ATTACHMENT_BYTES``, 10 MiB), and a reader must know the
object is authentic before its first byte leaves, which a whole-object tag gives without a chunked
construction of our own.

An object without the magic is a plain one written before sealing was turned on. It is still served
(after the same digest check) until ``reseal`` seals it. The magic starts with a byte no accepted plain
format starts with (JPEG ``FF D8``, PNG ``89 50``, PDF ``%``), so plain and sealed never look alike.
"""

from __future__ import annotations

import hashlib

from storage.sealing import Keyring, SealingError

OBJECT_MAGIC = b"\x93HUBOBJ\n"
_AAD_PREFIX = b"hub-object:sha256:"


class ObjectCorrupt(Exception):
    """A stored object failed its integrity check: it does not open, or its content is not its address."""

    def __init__(self, sha256: str, reason: str) -> None:
        super().__init__(f"object sha256:{sha256} failed its integrity check: {reason}")
        self.sha256 = sha256
        self.reason = reason


class ObjectSealer:
    """Seals and opens whole objects with a keyring; ``keyring.active`` seals, every key opens."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    @staticmethod
    def _aad(sha256: str) -> bytes:
        return _AAD_PREFIX + sha256.encode("ascii")

    @staticmethod
    def is_sealed(stored: bytes) -> bool:
        return stored.startswith(OBJECT_MAGIC)

    def key_id_of(self, stored: bytes) -> str | None:
        """The key id that sealed ``stored``, or None for a plain object."""
        if not self.is_sealed(stored):
            return None
        try:
            return self.keyring.key_id_of(stored[len(OBJECT_MAGIC) :])
        except SealingError:
            return "?"  # the magic with a broken header: ``open`` names it as corrupt

    def seal(self, sha256: str, plaintext: bytes) -> bytes:
        return OBJECT_MAGIC + self.keyring.seal(plaintext, aad=self._aad(sha256))

    def open(self, sha256: str, stored: bytes) -> bytes:
        """The plaintext of a stored object (sealed or plain), checked against its address.

        Raises ``ObjectCorrupt`` if a sealed object does not authenticate (tampered, moved, or sealed by a
        key the keyring no longer holds) or the content's SHA-256 is not ``sha256``."""
        plaintext = stored
        if self.is_sealed(stored):
            try:
                plaintext = self.keyring.open(stored[len(OBJECT_MAGIC) :], aad=self._aad(sha256))
            except SealingError as exc:
                raise ObjectCorrupt(sha256, str(exc)) from exc
        if hashlib.sha256(plaintext).hexdigest() != sha256:
            raise ObjectCorrupt(sha256, "the content's SHA-256 is not its address")
        return plaintext

    def needs_sealing(self, stored: bytes) -> bool:
        """True for a plain object or one sealed by a key other than the active one."""
        return self.key_id_of(stored) != self.keyring.active.kid
