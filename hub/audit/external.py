"""Tree heads kept outside the database: read for ``hub audit verify --head``, sent by ``hub audit
checkpoint`` to a file or to witnesses.

A head given to the verifier is a C2SP checkpoint (:mod:`hub.audit.checkpoint`) or the JSON head of
``GET /v1/audit/tree-head`` (whose ``signed`` JWS is what counts; the plain fields must agree with it).
Either is trusted only once its signature verifies with the hub's keys — the ones given as note verifier
keys (``--key``), or else those published by the hub being checked.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey

from hub.audit import checkpoint, heads
from hub.audit.heads import KeyResolver
from hub.contract import sdjwt

MAX_HEAD_BYTES = 256 * 1024
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class HeadError(ValueError):
    """An external head that cannot be read or whose signature does not verify."""


@dataclass(frozen=True)
class ExternalHead:
    source: str
    tree_size: int
    root_hash: bytes
    form: str  # checkpoint | json
    timestamp_ms: int | None = None

    def describe(self) -> str:
        return f"external head {self.source} ({self.tree_size} leaves)"


def read_source(source: str, *, client: httpx.Client | None = None) -> str:
    """The text of a head file, or of a URL fetched with a GET (no redirects, bounded time and size)."""
    if source.startswith(("http://", "https://")):
        own = client is None
        http = client or httpx.Client(timeout=TIMEOUT)
        try:
            response = http.get(source, headers={"Accept": "text/plain, application/json"})
        except httpx.HTTPError as exc:
            raise HeadError(f"{source}: cannot fetch ({exc.__class__.__name__}: {exc})") from None
        finally:
            if own:
                http.close()
        if response.status_code != 200:
            raise HeadError(f"{source}: HTTP {response.status_code}")
        if len(response.content) > MAX_HEAD_BYTES:
            raise HeadError(f"{source}: over {MAX_HEAD_BYTES} bytes")
        return response.text
    path = Path(source)
    try:
        if path.stat().st_size > MAX_HEAD_BYTES:
            raise HeadError(f"{source}: over {MAX_HEAD_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HeadError(f"{source}: cannot read ({exc})") from None


def jws_resolver(keys: Sequence[checkpoint.NoteKey]) -> KeyResolver:
    """Resolve a JWS ``kid`` (the hub's kids are RFC 7638 thumbprints) among pinned verifier keys."""
    by_kid = {}
    for key in keys:
        pem = key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        jwk = ECKey.import_key(pem)
        by_kid[jwk.thumbprint()] = jwk
    return lambda header: by_kid.get(str(header.get("kid")))


def _json_head(source: str, text: str, resolve: KeyResolver) -> ExternalHead:
    try:
        document = json.loads(text)
        signed = document["signed"]
        assert isinstance(signed, str)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise HeadError(f"{source}: neither a checkpoint nor a JSON tree head with `signed`") from None
    try:
        _, payload = sdjwt.verify_jws(signed, resolve, typ=heads.HEAD_TYP, now=_signed_time(signed))
    except sdjwt.SdJwtError as exc:
        raise HeadError(
            f"{source}: the head's signature does not verify with the hub's keys ({exc})"
        ) from None
    size, root, timestamp = payload.get("tree_size"), payload.get("root_hash"), payload.get("timestamp")
    try:
        root_hash = base64.b64decode(root, validate=True) if isinstance(root, str) else b""
    except binascii.Error:
        root_hash = b""
    if not isinstance(size, int) or size < 0 or len(root_hash) != 32 or not isinstance(timestamp, int):
        raise HeadError(f"{source}: the signed head has no valid tree_size, root_hash and timestamp")
    plain = (document.get("tree_size"), document.get("root_hash"), document.get("timestamp"))
    if plain != (size, root, timestamp):
        raise HeadError(f"{source}: the plain fields differ from what the head signs")
    return ExternalHead(source, size, root_hash, "json", timestamp)


def _signed_time(signed: str) -> int | None:
    """The head's own time, so that an old head is checked as of when it was signed (it has no expiry)."""
    try:
        iat = sdjwt.decode_jws(signed).payload.get("iat")
    except sdjwt.SdJwtError:
        return None
    return iat if isinstance(iat, int) else None


def parse_head(
    source: str, text: str, *, keys: Sequence[checkpoint.NoteKey], resolve: KeyResolver, origin: str
) -> ExternalHead:
    """A verified external head from its text."""
    if checkpoint.is_note(text):
        try:
            found = checkpoint.verify_checkpoint(text, keys, origin=origin)
        except checkpoint.CheckpointError as exc:
            raise HeadError(f"{source}: {exc}") from None
        return ExternalHead(source, found.tree_size, found.root_hash, "checkpoint")
    return _json_head(source, text, resolve)


@dataclass(frozen=True)
class WitnessRefusal:
    url: str
    reason: str


def post_to_witnesses(
    note: str, urls: Sequence[str], *, client: httpx.Client | None = None
) -> list[WitnessRefusal]:
    """POST the checkpoint (``text/plain``) to each witness; the ones that did not take it, with why.
    A 2xx answer is taken; anything else, or no answer in time, is a refusal naming status and body."""
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    refused = []
    try:
        for url in urls:
            try:
                response = http.post(
                    url, content=note.encode(), headers={"Content-Type": "text/plain; charset=utf-8"}
                )
            except httpx.HTTPError as exc:
                refused.append(WitnessRefusal(url, f"no answer ({exc.__class__.__name__}: {exc})"))
                continue
            if not response.is_success:
                body = response.text.strip().replace("\n", " ")[:200]
                refused.append(
                    WitnessRefusal(url, f"HTTP {response.status_code}" + (f": {body}" if body else ""))
                )
    finally:
        if own:
            http.close()
    return refused
