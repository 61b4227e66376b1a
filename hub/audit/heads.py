"""Signed tree heads: the hub key signs (tree size, root hash, timestamp) as a JWS of type
``tree-head+jwt`` — RFC 9162 §4.10's tree head, carried in the hub's usual signature format.

Cadence: heads are made on demand — when a reader needs one covering leaves that the newest head does
not (``GET /v1/audit/tree-head`` at most every ``head_min_interval_seconds``; a citizen's access log
always) — and periodically by the supervisor, which signs one when the log has grown or the newest head
is older than ``head_max_age_seconds``. Makers serialise on a lock, so heads are ordered by id, size and
timestamp alike, and each covers only committed leaves (it reads the committed counter).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from hub.audit import checkpoint, log, repository
from hub.audit.models import TreeHead
from hub.context import Hub
from hub.contract import sdjwt
from hub.kit.time import utcnow
from storage.database import lock, transaction

HEAD_TYP = "tree-head+jwt"
HEAD_LOCK = "audit.tree_head"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign_head(session: Session, hub: Hub) -> TreeHead:
    """Sign a head over every leaf committed now, in the caller's transaction."""
    lock(session, HEAD_LOCK)
    previous = repository.latest_head(session)
    size = repository.committed_size(session)
    root = log.root(session, size)
    now_ms = int(utcnow().timestamp() * 1000)
    timestamp = max(now_ms, previous.timestamp_ms if previous else 0)  # never backwards across hosts
    payload = {
        "iss": hub.settings.public_url,
        "iat": timestamp // 1000,
        "tree_size": size,
        "root_hash": b64(root),
        "timestamp": timestamp,
    }
    signed = hub.signer.sign(payload, typ=HEAD_TYP)
    return repository.add_head(
        session, TreeHead(tree_size=size, root_hash=root, timestamp_ms=timestamp, signed=signed)
    )


def _due(head: TreeHead | None, size: int, *, min_interval_s: float, max_age_s: float) -> bool:
    """Whether a new head is needed over a log of ``size`` committed leaves."""
    if head is None:
        return True
    age = utcnow() - head.created_at
    if age >= timedelta(seconds=max_age_s):
        return True
    return head.tree_size < size and age >= timedelta(seconds=min_interval_s)


def fresh_head(hub: Hub, *, min_interval_s: float, max_age_s: float) -> TreeHead:
    """The newest head, or a new one when the log has grown (and the newest is at least
    ``min_interval_s`` old) or the newest is older than ``max_age_s``.

    Runs in sessions of its own, so that it works from a read-only request and so that whatever the
    caller reads next (proofs against this head) sees every leaf the head covers, even on SQLite where
    a read transaction keeps the snapshot it started with."""
    with hub.read_session_factory() as reader:
        head = repository.latest_head(reader)
        if not _due(
            head, repository.committed_size(reader), min_interval_s=min_interval_s, max_age_s=max_age_s
        ):
            assert head is not None
            return head
    with transaction(hub.session_factory) as writer:
        lock(writer, HEAD_LOCK)
        head = repository.latest_head(writer)
        size = repository.committed_size(writer)
        if _due(head, size, min_interval_s=min_interval_s, max_age_s=max_age_s):
            head = sign_head(writer, hub)
    assert head is not None
    return head


def sign_head_if_due(hub: Hub, *, max_age_s: float) -> TreeHead:
    """The supervisor's periodic head: signed when the log grew or the newest head is too old."""
    return fresh_head(hub, min_interval_s=0, max_age_s=max_age_s)


KeyResolver = Callable[[dict[str, Any]], Any]


def check_head(head: TreeHead, resolve_key: KeyResolver) -> str | None:
    """What is wrong with a stored head (its signature, or columns that differ from what it signs)."""
    try:
        _, payload = sdjwt.verify_jws(head.signed, resolve_key, typ=HEAD_TYP, now=head.timestamp_ms // 1000)
    except sdjwt.SdJwtError as exc:
        return f"signature does not verify ({exc})"
    signed = (payload.get("tree_size"), payload.get("root_hash"), payload.get("timestamp"))
    if signed != (head.tree_size, b64(head.root_hash), head.timestamp_ms):
        return "stored size, root or timestamp differ from what the head signs"
    return None


def jwks_resolver(jwks: dict[str, Any]) -> KeyResolver:
    keys = {k.get("kid"): k for k in jwks.get("keys", [])}
    return lambda header: keys.get(header.get("kid"))


def log_origin(hub: Hub) -> str:
    """The checkpoints' origin line and key name (see :mod:`hub.audit.checkpoint`)."""
    return checkpoint.origin_for(hub.settings.public_url)


def note_keys(hub: Hub) -> list[checkpoint.NoteKey]:
    """The note verifier keys of every published hub key (active and retired)."""
    return checkpoint.note_keys_of_jwks(log_origin(hub), hub.signer.jwks)


def checkpoint_note(hub: Hub, head: TreeHead) -> str:
    """``head`` as a C2SP checkpoint signed with the active hub key (signature type 0x02)."""
    origin = log_origin(hub)
    private = hub.signer.snapshot().signing_key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return checkpoint.sign_note(checkpoint.note_text(origin, head.tree_size, head.root_hash), origin, private)
