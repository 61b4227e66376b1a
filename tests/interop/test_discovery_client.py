"""Issue 3 acceptance: a client written with other libraries than the hub's gets tokens by discovery.

The client (``tests.interop.discovery``) uses httpx and joserfc only, no Authlib. It is given the issuer
URL and its credentials, reads everything else from the RFC 8414 metadata document, and talks to the
real app over a socket: client credentials with each authentication method the metadata lists, the
access token verified against ``jwks_uri`` (RFC 9068), a licence batch pushed with it, then
introspection (RFC 7662) and revocation (RFC 7009) at the endpoints the metadata names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from hub.access.models import Admin
from tests.factories import (
    ID_CARD,
    Issuer,
    batch,
    create_admin,
    create_client,
    create_grant,
    create_issuer,
    issue,
    seed_catalog,
)
from tests.interop.discovery import METADATA_PATH, DiscoveryClient
from tests.interop.live import LiveHub

METHODS = ["client_secret_basic", "private_key_jwt", "client_secret_post"]


@pytest.fixture
def live(serve: Callable[..., LiveHub]) -> LiveHub:
    started = serve()
    seed_catalog(started.hub)
    return started


@pytest.fixture
def admin(live: LiveHub) -> Admin:
    return create_admin(live.hub)


@pytest.fixture
def police(live: LiveHub) -> Issuer:
    return create_issuer(live.hub, "police")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def registered(
    live: LiveHub, http: httpx.Client, method: str, admin: Admin, **kwargs: Any
) -> DiscoveryClient:
    """Register a client that authenticates with ``method`` and build its discovery client."""
    key = ECKey.generate_key("P-256", private=True, auto_kid=True) if method == "private_key_jwt" else None
    jwks = {"keys": [key.as_dict(private=False)]} if key else None
    row = create_client(live.hub, auth_method=method, jwks=jwks, by=admin, **kwargs)
    return DiscoveryClient(http, live.url, row.client_id, method, secret=row.secret, key=key)


def test_metadata_document(live: LiveHub, http: httpx.Client) -> None:
    response = http.get(live.url + METADATA_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    metadata = response.json()
    assert metadata["issuer"] == live.url
    for endpoint in ("token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"):
        assert metadata[endpoint].startswith(live.url + "/"), endpoint
    assert set(metadata["token_endpoint_auth_methods_supported"]) == set(METHODS)
    assert "ES256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"client_credentials", "authorization_code"} <= set(metadata["grant_types_supported"])
    assert "licences.push" in metadata["scopes_supported"]


@pytest.mark.parametrize("method", METHODS)
def test_department_client_pushes_introspects_and_revokes(
    live: LiveHub, admin: Admin, police: Issuer, http: httpx.Client, method: str
) -> None:
    client = registered(live, http, method, admin, kind="department", department_id=police.id)

    response = client.token("licences.push")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["scope"] == "licences.push"
    assert 0 < body["expires_in"] <= 300
    claims = client.verify(body["access_token"])
    assert claims["sub"] == client.client_id
    assert claims["scope"] == "licences.push"
    assert claims["exp"] - claims["iat"] == body["expires_in"]

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    pushed = http.post(
        live.url + "/v1/licences/batch",
        json=batch(police, 1, issue(police.credential(ID_CARD))),
        headers=bearer,
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["accepted"] == 1

    introspected = client.post("introspection_endpoint", {"token": body["access_token"]})
    assert introspected.status_code == 200, introspected.text
    active = introspected.json()
    assert active["active"] is True
    assert active["client_id"] == client.client_id
    assert active["scope"] == "licences.push"
    assert active["jti"] == claims["jti"]

    revoked = client.post(
        "revocation_endpoint", {"token": body["access_token"], "token_type_hint": "access_token"}
    )
    assert revoked.status_code == 200, revoked.text
    assert client.post("introspection_endpoint", {"token": body["access_token"]}).json() == {"active": False}

    refused = http.post(
        live.url + "/v1/licences/batch",
        json=batch(police, 2, issue(police.credential(ID_CARD))),
        headers=bearer,
    )
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_service_client_gets_only_scopes_its_grants_cover(
    live: LiveHub, admin: Admin, http: httpx.Client
) -> None:
    client = registered(live, http, "client_secret_basic", admin)
    create_grant(live.hub, client.client_id, ID_CARD, max_tier=1, by=admin)
    covered, uncovered = f"licence:{ID_CARD}:t1", f"licence:{ID_CARD}:t2"
    assert {covered, uncovered} <= set(client.metadata["scopes_supported"])

    response = client.token(covered)
    assert response.status_code == 200, response.text
    assert client.verify(response.json()["access_token"])["scope"] == covered

    refused = client.token(f"{covered} {uncovered}")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert uncovered in refused.json()["error_description"]


@pytest.mark.parametrize(
    ("registered_method", "used_method"),
    [("client_secret_basic", "client_secret_post"), ("client_secret_post", "client_secret_basic")],
)
def test_only_the_registered_method_authenticates(
    live: LiveHub, admin: Admin, police: Issuer, http: httpx.Client, registered_method: str, used_method: str
) -> None:
    client = registered(live, http, registered_method, admin, kind="department", department_id=police.id)
    impostor = DiscoveryClient(http, live.url, client.client_id, used_method, secret=client.secret)
    refused = impostor.token("licences.push")
    assert refused.status_code in (400, 401)
    assert refused.json()["error"] == "invalid_client"


def test_wrong_secret_answers_401_with_a_challenge(
    live: LiveHub, admin: Admin, police: Issuer, http: httpx.Client
) -> None:
    client = registered(live, http, "client_secret_basic", admin, kind="department", department_id=police.id)
    client.secret = "not-the-secret"
    refused = client.token("licences.push")
    # RFC 6749 §5.2: authentication tried with the Authorization header answers 401 and a challenge.
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert refused.headers["www-authenticate"].lower().startswith("basic")


def test_private_key_jwt_assertion_is_checked(
    live: LiveHub, admin: Admin, police: Issuer, http: httpx.Client
) -> None:
    client = registered(live, http, "private_key_jwt", admin, kind="department", department_id=police.id)
    token_endpoint = client.metadata["token_endpoint"]

    once = client.assertion(token_endpoint)
    assert client.token("licences.push", assertion=once).status_code == 200
    # RFC 6749 §5.2: credentials sent in the body may be refused with 400 or 401, always invalid_client.
    replayed = client.token("licences.push", assertion=once)
    assert replayed.status_code in (400, 401)
    assert replayed.json()["error"] == "invalid_client"

    for bad in (
        client.assertion("https://other.example/oauth/token"),  # RFC 7523 §3 item 3: audience
        client.assertion(token_endpoint, exp=int(time.time()) - 120),  # item 4: expired
        client.assertion(token_endpoint, exp=int(time.time()) + 3600 + 120),  # beyond the lifetime limit
        client.assertion(token_endpoint, signing_key=ECKey.generate_key()),  # §3 item 9: signature
        client.assertion(token_endpoint, iss="someone-else"),  # item 1: issuer is the client
    ):
        refused = client.token("licences.push", assertion=bad)
        assert refused.status_code in (400, 401)
        assert refused.json()["error"] == "invalid_client", refused.text
