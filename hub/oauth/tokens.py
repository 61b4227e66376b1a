"""The hub's access tokens: RFC 9068 JWTs signed with the hub key, remembered by ``jti`` so that
introspection (RFC 7662) and revocation (RFC 7009) work, and short-lived (5 minutes by default)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from hub.context import Hub
from hub.contract import sdjwt
from hub.kit.time import to_epoch, utcnow
from hub.oauth import repository
from hub.oauth.models import IssuedToken

ACCESS_TOKEN_TYP = "at+jwt"


@dataclass(frozen=True)
class TokenClaims:
    """A verified access token of a client, a citizen (through a client) or an admin."""

    jti: str
    kind: str
    subject: str
    scopes: frozenset[str]
    client_id: str | None = None
    admin_id: int | None = None
    claims: dict[str, Any] = field(default_factory=dict)


def new_jti() -> str:
    return secrets.token_urlsafe(18)


def mint(
    session: Session,
    hub: Hub,
    *,
    kind: str,
    subject: str,
    scope: str = "",
    client_id: str | None = None,
    admin_id: int | None = None,
    consent_id: str | None = None,
    ttl_seconds: int | None = None,
    extra: dict[str, Any] | None = None,
    jti: str | None = None,
) -> tuple[str, int]:
    """Sign and record an access token; returns it and its lifetime in seconds. ``jti``, when the
    caller needs to name the token (in its audit event), comes from :func:`new_jti`."""
    ttl = ttl_seconds or hub.settings.access_token_ttl_seconds
    now = utcnow()
    jti = jti or new_jti()
    payload: dict[str, Any] = {
        "iss": hub.settings.public_url,
        "aud": hub.settings.public_url,
        "sub": subject,
        "iat": to_epoch(now),
        "exp": to_epoch(now) + ttl,
        "jti": jti,
        "kind": kind,
    }
    if client_id:
        payload["client_id"] = client_id
    if scope:
        payload["scope"] = scope
    payload.update(extra or {})
    token = hub.signer.sign(payload, typ=ACCESS_TOKEN_TYP)
    repository.add_token(
        session,
        IssuedToken(
            jti=jti,
            kind=kind,
            client_id=client_id,
            admin_id=admin_id,
            subject=subject,
            scope=scope,
            consent_id=consent_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl),
        ),
    )
    return token, ttl


class TokenRejected(Exception):
    """The token is not one the hub accepts now; ``str()`` says why (never echoed with the token)."""


def decode(hub: Hub, token: str) -> dict[str, Any]:
    """Verify signature, type, issuer, audience and lifetime; no database access."""
    keys = {k["kid"]: k for k in hub.signer.jwks["keys"]}
    try:
        _, payload = sdjwt.verify_jws(
            token, lambda header: keys.get(header.get("kid")), typ=ACCESS_TOKEN_TYP, leeway_s=5
        )
    except sdjwt.SdJwtError as exc:
        raise TokenRejected(exc.reason) from None
    if payload.get("iss") != hub.settings.public_url or payload.get("aud") != hub.settings.public_url:
        raise TokenRejected("issued for another audience")
    if not isinstance(payload.get("jti"), str) or "exp" not in payload:
        raise TokenRejected("malformed")
    return payload


def verify(session: Session, hub: Hub, token: str) -> TokenClaims:
    """A token the hub issued, not expired, not revoked."""
    payload = decode(hub, token)
    row = repository.get_token(session, payload["jti"])
    if row is None:
        raise TokenRejected("unknown token")
    if row.revoked_at is not None:
        raise TokenRejected("revoked")
    if row.expires_at <= utcnow():
        raise TokenRejected("expired")
    return TokenClaims(
        jti=row.jti,
        kind=row.kind,
        subject=row.subject,
        scopes=frozenset(row.scope.split()),
        client_id=row.client_id,
        admin_id=row.admin_id,
        claims=payload,
    )


def revoke(session: Session, jti: str) -> None:
    row = repository.get_token(session, jti)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def revoke_admin_tokens(session: Session, admin_id: int) -> int:
    """Revoke every outstanding bearer token of an admin (its password changed); how many."""
    return repository.revoke_admin_tokens(session, admin_id, utcnow())


# -- the rate limit's subject of a token (hub.web.callers.caller_key) ----------------------------------

_KEY_CACHE_SIZE = 4096


_subjects: dict[str, str | None] = {}


def token_subject(hub: Hub, token: str) -> str | None:
    """Whose token this is, for the rate limit: checked for its signature only (cached)."""
    if token in _subjects:
        return _subjects[token]
    try:
        payload = decode(hub, token)
    except TokenRejected:
        subject = None
    else:
        client_id = payload.get("client_id")
        subject = f"client:{client_id}" if client_id else f"sub:{payload.get('sub')}"
    if len(_subjects) >= _KEY_CACHE_SIZE:
        _subjects.clear()
    _subjects[token] = subject
    return subject


def _unverified_jti(bearer: str) -> str | None:
    """The ``jti`` of a compact JWS, read without checking anything (only to prefetch rows)."""
    parts = bearer.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    jti = payload.get("jti") if isinstance(payload, dict) else None
    return jti if isinstance(jti, str) else None


def prefetch(session: Session, bearer: str) -> list[object]:
    """Load the token's ``issued_token`` row and its client's row in one round trip, into the session's
    identity map: ``verify`` and the caller's client check then find them there and send no query. Nothing
    is decided here; an unparsable token or unknown ``jti`` just loads nothing. The identity map holds
    objects weakly: keep the returned list until both have run."""
    jti = _unverified_jti(bearer)
    if jti is None:
        return []
    return repository.token_and_client(session, jti)
