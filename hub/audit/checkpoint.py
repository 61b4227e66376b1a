"""Signed tree heads as C2SP checkpoints (https://c2sp.org/tlog-checkpoint), carried in C2SP signed notes
(https://c2sp.org/signed-note), so that a head can leave the database and be checked by any note
verifier.

Note text (tlog-checkpoint "Note text"): the origin line, the tree size in decimal, the base64 RFC 6962 /
RFC 9162 root hash, each ending in a newline; no extension lines. Then a blank line and one signature line
per signing key: ``— <key name> base64(4-byte key id || signature)`` (signed-note "Format").

Origin and key name: ``<host>[:port][/path]/audit`` from ``HUB_PUBLIC_URL`` without its scheme (a
schema-less URL, as both specs recommend; the key name matches the origin, tlog-checkpoint
"Signatures"). It depends on that one setting only, so it stays put across restarts and key rotations.

Signature type: the hub's keys are ES256 (P-256), and signed-note "Signature types" assigns ``0x02`` to
"ECDSA signatures as implemented by github.com/transparency-dev/witness" (P-256 SHOULD be the curve). We
use that type exactly as that implementation does, so its verifiers (and Go's ``note`` package through
it) accept our notes:

- the signature is ECDSA over SHA-256 of the note text (which includes the final newline), ASN.1 DER
  encoded (``ecdsa.VerifyASN1``), RFC 6979 deterministic, so a head re-served gives the same note;
- the key id is, as signed-note says for this type, the first four bytes (big-endian) of SHA-256 of the
  DER SubjectPublicKeyInfo of the public key — not the name-based id the spec recommends for other
  types (``SHA-256(name || 0x0A || type || key)``), which type 0x02 verifiers would not recognise;
- the verifier key (``vkey``) is ``<name>+<8 hex digits of the key id>+base64(0x02 || DER SPKI)``.

Every hub key, active or retired, has a verifier key under the same name; rotation changes the key id,
and verifiers ignore lines from keys they do not know (signed-note "Signatures").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

SIGNATURE_TYPE_ECDSA = 0x02
EM_DASH = "\u2014"
MAX_NOTE_BYTES = 64 * 1024  # signed-note: verifiers SHOULD cap a note; 16 post-quantum lines fit easily
MAX_SIGNATURES = 64
_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,18})")
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class CheckpointError(ValueError):
    """A note that is malformed, or whose signatures do not verify with any known key."""


def origin_for(public_url: str) -> str:
    """The log's origin (and key name): the public URL without scheme, query or trailing slash, plus
    ``/audit``."""
    parts = urlsplit(public_url)
    host = parts.netloc.rpartition("@")[2]
    name = f"{host}{parts.path.rstrip('/')}/audit"
    if not host or re.search(r"[\s+]", name):
        raise CheckpointError(f"HUB_PUBLIC_URL {public_url!r} gives no usable origin ({name!r})")
    return name


@dataclass(frozen=True)
class NoteKey:
    """A note verifier key of signature type 0x02 (P-256)."""

    name: str
    public_key: ec.EllipticCurvePublicKey

    @property
    def spki(self) -> bytes:
        return self.public_key.public_bytes(*_SPKI)

    @property
    def key_id(self) -> int:
        return int.from_bytes(hashlib.sha256(self.spki).digest()[:4], "big")

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([SIGNATURE_TYPE_ECDSA]) + self.spki).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verifies(self, text: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, text, _ECDSA)
        except (InvalidSignature, ValueError):
            return False
        return True


def note_key_of_jwk(name: str, jwk: dict[str, Any]) -> NoteKey | None:
    """The verifier key of a hub JWK (None for anything but an EC P-256 key)."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    public = ECKey.import_key(dict(jwk)).public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return NoteKey(name, public)


def note_keys_of_jwks(name: str, jwks: dict[str, Any]) -> list[NoteKey]:
    return [k for k in (note_key_of_jwk(name, jwk) for jwk in jwks.get("keys", [])) if k is not None]


def parse_vkey(vkey: str) -> NoteKey:
    """A verifier key ``<name>+<hex id>+<base64(0x02 || DER SPKI)>``, its id checked."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3 or not parts[0]:
        raise CheckpointError("a verifier key is <name>+<hex key id>+<base64 key>")
    name, hex_id, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
        key_id = int(hex_id, 16)
    except (binascii.Error, ValueError):
        raise CheckpointError("the verifier key's id or key is not hex / base64") from None
    if not raw or raw[0] != SIGNATURE_TYPE_ECDSA:
        raise CheckpointError("only signature type 0x02 (ECDSA P-256) verifier keys are accepted")
    try:
        public = serialization.load_der_public_key(raw[1:])
    except ValueError:
        raise CheckpointError("the verifier key holds no DER SubjectPublicKeyInfo") from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise CheckpointError("the verifier key is not an ECDSA P-256 key")
    key = NoteKey(name, public)
    if key.key_id != key_id:
        raise CheckpointError(f"the verifier key's id {hex_id} is not the hash of its key ({key.key_id:08x})")
    return key


def note_text(origin: str, tree_size: int, root_hash: bytes) -> str:
    """tlog-checkpoint "Note text", without extension lines."""
    return f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"


def sign_note(text: str, name: str, private_key: ec.EllipticCurvePrivateKey) -> str:
    """The signed note: ``text``, a blank line, one signature line (signed-note "Signatures")."""
    key = NoteKey(name, private_key.public_key())
    signature = private_key.sign(text.encode(), _ECDSA)
    line = base64.b64encode(key.key_id.to_bytes(4, "big") + signature).decode()
    return f"{text}\n{EM_DASH} {name} {line}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...]
    signed_by: tuple[str, ...]  # the vkeys whose signatures verified


def _split(note: str) -> tuple[str, list[tuple[str, int, bytes]]]:
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise CheckpointError(f"the note is over {MAX_NOTE_BYTES} bytes")
    if any(ch < " " and ch != "\n" for ch in note):
        raise CheckpointError("a signed note holds no control characters but newlines")
    if not note.endswith("\n"):
        raise CheckpointError("a signed note ends with a newline")
    at = note.rfind("\n\n")  # the text ends at the last empty line (signed-note "Format")
    if at < 0:
        raise CheckpointError("no blank line separates the note text from its signatures")
    text, lines = note[: at + 1], note[at + 2 :].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"a note carries 1 to {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) != 3 or fields[0] != EM_DASH or not fields[1]:
            raise CheckpointError(f"not a signature line: {line[:80]!r}")
        try:
            raw = base64.b64decode(fields[2], validate=True)
        except binascii.Error:
            raise CheckpointError(f"signature of {fields[1]!r} is not base64") from None
        if len(raw) < 5:
            raise CheckpointError(f"signature of {fields[1]!r} is too short")
        signatures.append((fields[1], int.from_bytes(raw[:4], "big"), raw[4:]))
    return text, signatures


def _body(text: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    lines = text.split("\n")[:-1]  # the text ends in a newline
    if len(lines) < 3 or not all(lines):
        raise CheckpointError("a checkpoint's text is at least three non-empty lines")
    origin, size, root, *extensions = lines
    if not _DECIMAL.fullmatch(size):
        raise CheckpointError(f"the tree size {size[:24]!r} is not a decimal without leading zeroes")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise CheckpointError("the root hash is not base64") from None
    if len(root_hash) != 32:
        raise CheckpointError("the root hash is not 32 bytes (SHA-256)")
    return origin, int(size), root_hash, tuple(extensions)


def verify_checkpoint(note: str, keys: Sequence[NoteKey], *, origin: str | None = None) -> Checkpoint:
    """Parse a checkpoint and verify its signatures with ``keys``, as signed-note "Signatures" says:
    lines from unknown (name, id) pairs are ignored; a line of a known key that fails rejects the note;
    at least one known key must have signed. ``origin``, when given, must be the note's first line."""
    text, signatures = _split(note)
    origin_line, size, root, extensions = _body(text)
    if origin is not None and origin_line != origin:
        raise CheckpointError(f"the checkpoint's origin is {origin_line!r}, not this log's {origin!r}")
    known = {(k.name, k.key_id): k for k in keys}
    verified = []
    for name, key_id, signature in signatures:
        key = known.get((name, key_id))
        if key is None:
            continue
        if not key.verifies(text.encode(), signature):
            raise CheckpointError(f"the signature of {name} (key id {key_id:08x}) does not verify")
        verified.append(key.vkey)
    if not verified:
        raise CheckpointError("no signature of a known key: not signed by this hub's keys")
    return Checkpoint(origin_line, size, root, extensions, tuple(verified))


def is_note(text: str) -> bool:
    """Whether a head document is a signed note rather than the JSON head (for ``--head``)."""
    return f"\n\n{EM_DASH} " in text


def vkeys(keys: Iterable[NoteKey]) -> list[str]:
    return [k.vkey for k in keys]
