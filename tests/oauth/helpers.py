"""What the OAuth tests share: clients that authenticate each RFC way, RFC 7523 assertions built by hand
with joserfc (not the hub's code), and tokens minted expired, revoked or forged."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from hub.access.models import Admin
from hub.context import Hub
from hub.contract.sdjwt import decode_jws, sign_jws
from hub.oauth import tokens
from storage.database import transaction
from tests.factories import create_client

METADATA = "/.well-known/oauth-authorization-server"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def es256_key() -> tuple[ECKey, dict[str, Any]]:
    """A P-256 private key and the public JWK set a client registers (kid = thumbprint)."""
    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": "ES256", "use": "sig"}
    return key, {"keys": [public]}


def assertion(
    client_id: str,
    key: ECKey,
    *,
    aud: str,
    exp_in: int = 60,
    jti: str | None = None,
    kid: str | None = None,
    iss: str | None = None,
    without: tuple[str, ...] = (),
    **overrides: Any,
) -> str:
    """An RFC 7523 §3 client assertion: iss = sub = client_id, aud, exp, jti; ES256. ``overrides`` set
    claims, ``without`` leaves some out."""
    now = int(time.time())
    claims = {
        "iss": iss or client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + exp_in,
        "jti": jti or secrets.token_urlsafe(16),
    }
    claims = {k: v for k, v in {**claims, **overrides}.items() if k not in without}
    return jwt.encode({"alg": "ES256", "kid": kid or key.thumbprint()}, claims, key)


@dataclass
class OAuthCaller:
    """A registered client and what it authenticates with."""

    client_id: str
    auth_method: str
    secret: str | None = None
    key: ECKey | None = None

    def credentials(self, token_endpoint: str) -> tuple[dict[str, str], dict[str, str]]:
        """Form fields and headers that authenticate this client (RFC 6749 §2.3, RFC 7523 §2.2)."""
        if self.auth_method == "client_secret_basic":
            basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
            return {}, {"Authorization": f"Basic {basic}"}
        if self.auth_method == "client_secret_post":
            return {"client_id": self.client_id, "client_secret": self.secret or ""}, {}
        assert self.key is not None
        signed = assertion(self.client_id, self.key, aud=token_endpoint)
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}, {}


def register(
    hub: Hub,
    auth_method: str,
    *,
    kind: str = "service",
    department_id: str | None = None,
    by: Admin | None = None,
) -> OAuthCaller:
    """Register a client that authenticates with ``auth_method``."""
    key, jwks = es256_key() if auth_method == "private_key_jwt" else (None, None)
    registered = create_client(
        hub, kind=kind, department_id=department_id, auth_method=auth_method, jwks=jwks, by=by
    )
    return OAuthCaller(registered.client_id, auth_method, registered.secret, key)


def metadata(client: TestClient) -> dict[str, Any]:
    response = client.get(METADATA)
    assert response.status_code == 200, response.text
    return dict(response.json())


def path_of(url: str) -> str:
    return urlsplit(url).path


def post_endpoint(
    client: TestClient,
    caller: OAuthCaller,
    endpoint: str,
    data: dict[str, str],
) -> httpx.Response:
    """POST a form to the metadata's ``endpoint`` (token, introspection or revocation) as ``caller``.
    Assertions are addressed to the token endpoint, as RFC 7523 §3 allows for every endpoint."""
    document = metadata(client)
    fields, headers = caller.credentials(document["token_endpoint"])
    return client.post(path_of(document[endpoint]), data={**data, **fields}, headers=headers)


def request_token(client: TestClient, caller: OAuthCaller, scope: str | None = None) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return post_endpoint(client, caller, "token_endpoint", data)


def access_token(client: TestClient, caller: OAuthCaller, scope: str | None = None) -> str:
    response = request_token(client, caller, scope)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def introspect(client: TestClient, caller: OAuthCaller, token: str) -> httpx.Response:
    return post_endpoint(client, caller, "introspection_endpoint", {"token": token})


def revoke(client: TestClient, caller: OAuthCaller, token: str) -> httpx.Response:
    return post_endpoint(client, caller, "revocation_endpoint", {"token": token})


# Tokens the hub must refuse ----------------------------------------------------------------------------


def mint(hub: Hub, *, ttl_seconds: int | None = None, **claims: Any) -> str:
    """A token recorded as the hub records them; a negative ``ttl_seconds`` makes it already expired."""
    with transaction(hub.session_factory) as session:
        token, _ = tokens.mint(session, hub, ttl_seconds=ttl_seconds, **claims)
    return token


def client_token(hub: Hub, client_id: str, scope: str, *, ttl_seconds: int | None = None) -> str:
    return mint(
        hub, kind="client", subject=client_id, client_id=client_id, scope=scope, ttl_seconds=ttl_seconds
    )


def admin_token(hub: Hub, admin: Admin, *, ttl_seconds: int | None = None) -> str:
    return mint(hub, kind="admin", subject=f"admin:{admin.id}", admin_id=admin.id, ttl_seconds=ttl_seconds)


def revoked(hub: Hub, token: str) -> str:
    with transaction(hub.session_factory) as session:
        tokens.revoke(session, decode_jws(token).payload["jti"])
    return token


def forged(token: str) -> str:
    """The same header and claims signed with a key the hub never had."""
    parsed = decode_jws(token)
    key = ECKey.generate_key("P-256", private=True)
    return sign_jws(parsed.payload, key=key, kid=parsed.header["kid"], alg="ES256", typ=parsed.header["typ"])
