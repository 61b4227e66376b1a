"""The token endpoint (RFC 6749 §4.4 client credentials) with each client authentication method, the
RFC 9068 access tokens it issues, introspection (RFC 7662) and revocation (RFC 7009), all through HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from hub.access import service as access_service
from hub.access.models import Admin
from hub.context import Hub
from storage.database import transaction
from tests.factories import (
    BUSINESS_LICENCE,
    ID_CARD,
    MARRIAGE,
    Issuer,
    batch,
    create_admin,
    create_grant,
    create_issuer,
    issue,
    seed_catalog,
)
from tests.oauth.helpers import (
    ASSERTION_TYPE,
    OAuthCaller,
    access_token,
    assertion,
    client_token,
    es256_key,
    introspect,
    metadata,
    path_of,
    register,
    request_token,
    revoke,
)

METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
ID_CARD_SCOPES = {f"licence:{ID_CARD}:t{tier}" for tier in range(3)}


@pytest.fixture
def admin(hub: Hub) -> Admin:
    seed_catalog(hub)
    return create_admin(hub)


def service_client(hub: Hub, admin: Admin, method: str = "client_secret_post") -> OAuthCaller:
    """An approval service with one active grant: ID cards up to T2."""
    caller = register(hub, method, by=admin)
    create_grant(hub, caller.client_id, ID_CARD, max_tier=2, by=admin)
    return caller


def assert_oauth_error(response: httpx.Response, status: int | set[int], error: str) -> dict:
    """RFC 6749 §5.2: a JSON object with ``error`` (and our ``error_description``), not problem+json."""
    assert response.status_code in ({status} if isinstance(status, int) else status), response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert "type" not in body and "title" not in body
    assert response.headers["cache-control"] == "no-store"
    return dict(body)


# Issuing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_client_credentials_issue_an_rfc9068_token(
    client: TestClient, hub: Hub, admin: Admin, method: str
) -> None:
    caller = service_client(hub, admin, method)
    before = int(time.time())

    response = request_token(client, caller)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 300
    assert set(body["scope"].split()) == ID_CARD_SCOPES
    assert "refresh_token" not in body

    document = metadata(client)
    jwks = KeySet.import_key_set(client.get(path_of(document["jwks_uri"])).json())
    token = jwt.decode(body["access_token"], jwks, algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    claims = token.claims
    assert claims["iss"] == document["issuer"]
    assert claims["aud"] == document["issuer"]
    assert claims["sub"] == caller.client_id
    assert claims["client_id"] == caller.client_id
    assert set(claims["scope"].split()) == ID_CARD_SCOPES
    assert before - 5 <= claims["iat"] <= int(time.time()) + 5
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16


def test_each_token_has_its_own_jti(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = service_client(hub, admin)
    jtis = {jwt.decode(access_token(client, caller), _hub_keys(client)).claims["jti"] for _ in range(3)}
    assert len(jtis) == 3


def _hub_keys(client: TestClient) -> KeySet:
    return KeySet.import_key_set(client.get("/.well-known/jwks.json").json())


def test_requested_scopes_are_narrowed_to_the_request(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = service_client(hub, admin)
    response = request_token(client, caller, scope=f"licence:{ID_CARD}:t1")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == f"licence:{ID_CARD}:t1"
    claims = jwt.decode(response.json()["access_token"], _hub_keys(client)).claims
    assert claims["scope"] == f"licence:{ID_CARD}:t1"


def test_uncovered_scope_is_invalid_scope_naming_it(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = service_client(hub, admin)
    uncovered = f"licence:{ID_CARD}:t3 licence:{MARRIAGE}:t0"

    response = request_token(client, caller, scope=f"licence:{ID_CARD}:t1 {uncovered}")

    body = assert_oauth_error(response, 400, "invalid_scope")
    named = body["error_description"].split(":", 1)[1].split()
    assert sorted(named) == sorted(uncovered.split())
    assert f"licence:{ID_CARD}:t1" not in body["error_description"]


def test_client_without_active_grant_gets_no_token(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = register(hub, "client_secret_post", by=admin)
    assert_oauth_error(request_token(client, caller), 400, "invalid_scope")


def test_revoked_grant_stops_counting_for_new_tokens(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = register(hub, "client_secret_post", by=admin)
    kept = create_grant(hub, caller.client_id, BUSINESS_LICENCE, max_tier=0, by=admin)
    dropped = create_grant(hub, caller.client_id, ID_CARD, max_tier=1, by=admin)
    with transaction(hub.session_factory) as session:
        access_service.revoke_grant(session, dropped.id, "no longer needed", by=admin)  # type: ignore[arg-type]

    assert request_token(client, caller).json()["scope"] == f"licence:{kept.type_code}:t0"
    body = assert_oauth_error(request_token(client, caller, f"licence:{ID_CARD}:t0"), 400, "invalid_scope")
    assert f"licence:{ID_CARD}:t0" in body["error_description"]


@pytest.mark.parametrize("method", METHODS)
def test_department_client_gets_licences_push(
    client: TestClient, hub: Hub, admin: Admin, method: str
) -> None:
    police = create_issuer(hub, "police")
    caller = register(hub, method, kind="department", department_id=police.id, by=admin)

    assert request_token(client, caller).json()["scope"] == "licences.push"
    assert request_token(client, caller, "licences.push").json()["scope"] == "licences.push"
    body = assert_oauth_error(request_token(client, caller, f"licence:{ID_CARD}:t0"), 400, "invalid_scope")
    assert f"licence:{ID_CARD}:t0" in body["error_description"]


def test_service_client_cannot_get_licences_push(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = service_client(hub, admin)
    body = assert_oauth_error(request_token(client, caller, "licences.push"), 400, "invalid_scope")
    assert "licences.push" in body["error_description"]


# Client authentication failures ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_wrong_secret_is_invalid_client(client: TestClient, hub: Hub, admin: Admin, method: str) -> None:
    caller = service_client(hub, admin, method)
    caller.secret = "not-" + (caller.secret or "")
    response = request_token(client, caller)
    assert_oauth_error(response, 401, "invalid_client")
    assert "access_token" not in response.json()


def test_secret_of_another_client_is_invalid_client(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller, other = service_client(hub, admin), service_client(hub, admin)
    caller.secret = other.secret
    assert_oauth_error(request_token(client, caller), 401, "invalid_client")


def test_secret_client_cannot_use_another_method(client: TestClient, hub: Hub, admin: Admin) -> None:
    """A client registered for client_secret_basic may not send its secret in the body instead."""
    caller = service_client(hub, admin, "client_secret_basic")
    caller.auth_method = "client_secret_post"
    assert_oauth_error(request_token(client, caller), 401, "invalid_client")


def test_unknown_client_is_invalid_client(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = OAuthCaller("svc-0000000000000000", "client_secret_post", secret="whatever")
    assert_oauth_error(request_token(client, caller), {400, 401}, "invalid_client")


def test_no_client_authentication_is_invalid_client(client: TestClient, hub: Hub, admin: Admin) -> None:
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize("method", METHODS)
def test_disabled_client_is_invalid_client(client: TestClient, hub: Hub, admin: Admin, method: str) -> None:
    caller = service_client(hub, admin, method)
    assert request_token(client, caller).status_code == 200
    with transaction(hub.session_factory) as session:
        access_service.disable_client(session, caller.client_id, by=admin)
    assert_oauth_error(request_token(client, caller), {400, 401}, "invalid_client")


# private_key_jwt (RFC 7523) ----------------------------------------------------------------------------


def _with_assertion(client: TestClient, signed: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
    return client.post("/oauth/token", data={**form, "client_assertion": signed})


@pytest.fixture
def jwt_client(hub: Hub, admin: Admin) -> OAuthCaller:
    return service_client(hub, admin, "private_key_jwt")


def test_assertion_is_accepted_once(client: TestClient, jwt_client: OAuthCaller) -> None:
    aud = metadata(client)["token_endpoint"]
    assert jwt_client.key is not None
    signed = assertion(jwt_client.client_id, jwt_client.key, aud=aud, jti="once")

    assert _with_assertion(client, signed).status_code == 200
    assert_oauth_error(_with_assertion(client, signed), {400, 401}, "invalid_client")
    # A new assertion reusing the jti is a replay too (RFC 7523 §3, item 7).
    again = assertion(jwt_client.client_id, jwt_client.key, aud=aud, jti="once", exp_in=120)
    assert_oauth_error(_with_assertion(client, again), {400, 401}, "invalid_client")
    # ... while a fresh jti works.
    fresh = assertion(jwt_client.client_id, jwt_client.key, aud=aud)
    assert _with_assertion(client, fresh).status_code == 200


def test_assertion_refused_by_a_token_request_is_still_spent(
    client: TestClient, jwt_client: OAuthCaller
) -> None:
    """Once the signature and claims are checked the jti is spent, even if the grant then fails."""
    assert jwt_client.key is not None
    signed = assertion(jwt_client.client_id, jwt_client.key, aud=metadata(client)["token_endpoint"])
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
    refused = client.post("/oauth/token", data={**form, "client_assertion": signed, "scope": "licences.push"})
    assert_oauth_error(refused, 400, "invalid_scope")
    assert_oauth_error(_with_assertion(client, signed), {400, 401}, "invalid_client")


@pytest.mark.parametrize(
    ("variant", "rule"),
    [
        ("wrong audience", "aud must be one of http://hub.test/oauth/token"),
        ("expired", "exp has passed"),
        ("another key, same kid", "client authentication failed"),  # as for an unknown client
        ("unknown kid", "client authentication failed"),
        ("iss differs from sub", "iss and sub must both be the client id"),
        ("too long", "at most 3600 s"),
        ("issued in the future", "iat is more than 30 s in the future"),
        ("no jti", "jti is required"),
    ],
)
def test_bad_assertion_is_invalid_client_naming_the_rule(
    client: TestClient, jwt_client: OAuthCaller, variant: str, rule: str
) -> None:
    token_endpoint = metadata(client)["token_endpoint"]
    key, kid = jwt_client.key, None
    assert key is not None
    aud, exp_in, iss = token_endpoint, 60, None
    extra: dict[str, Any] = {}
    if variant == "wrong audience":
        aud = "https://other-hub.example/oauth/token"
    elif variant == "expired":
        exp_in = -120
    elif variant == "another key, same kid":
        kid, key = key.thumbprint(), es256_key()[0]
    elif variant == "unknown kid":
        key = es256_key()[0]
    elif variant == "iss differs from sub":
        iss = "svc-someone-else"
    elif variant == "too long":
        exp_in = 3600 + 60  # RFC 7523 lets the server bound the lifetime; jti memory depends on it
    elif variant == "issued in the future":
        extra = {"iat": int(time.time()) + 300}
    elif variant == "no jti":
        extra = {"without": ("jti",)}
    signed = assertion(jwt_client.client_id, key, aud=aud, exp_in=exp_in, kid=kid, iss=iss, **extra)

    response = _with_assertion(client, signed)

    body = assert_oauth_error(response, {400, 401}, "invalid_client")
    assert rule in body["error_description"], body
    assert "access_token" not in body


def test_an_assertion_signed_with_authlib_defaults_is_accepted(
    client: TestClient, jwt_client: OAuthCaller
) -> None:
    """Authlib's client signs exp = iat + 3600 s; the hub's bound admits what common clients send."""
    assert jwt_client.key is not None
    token_endpoint = metadata(client)["token_endpoint"]
    signed = private_key_jwt_sign(jwt_client.key, jwt_client.client_id, token_endpoint, alg="ES256")
    claims = jwt.decode(signed, jwt_client.key).claims
    assert claims["exp"] - claims["iat"] == 3600
    response = _with_assertion(client, signed)
    assert response.status_code == 200, response.text
    assert "access_token" in response.json()


@pytest.mark.parametrize("assertion_text", ["garbage", "a.b.c", ""])
def test_malformed_assertion_is_invalid_client(
    client: TestClient, jwt_client: OAuthCaller, assertion_text: str
) -> None:
    assert_oauth_error(_with_assertion(client, assertion_text), {400, 401}, "invalid_client")


def test_secret_client_cannot_authenticate_with_an_assertion(
    client: TestClient, hub: Hub, admin: Admin
) -> None:
    caller = service_client(hub, admin, "client_secret_post")
    key, _ = es256_key()
    signed = assertion(caller.client_id, key, aud=metadata(client)["token_endpoint"])
    assert_oauth_error(_with_assertion(client, signed), {400, 401}, "invalid_client")


# Introspection (RFC 7662) ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_introspection_of_an_active_token(client: TestClient, hub: Hub, admin: Admin, method: str) -> None:
    caller = service_client(hub, admin, method)
    token = access_token(client, caller)

    response = introspect(client, caller, token)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert set(body["scope"].split()) == ID_CARD_SCOPES
    assert body["client_id"] == caller.client_id
    assert body["exp"] == jwt.decode(token, _hub_keys(client)).claims["exp"]
    assert body["exp"] > time.time()


def test_introspection_of_tokens_that_are_not_active(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller, other = service_client(hub, admin), service_client(hub, admin)
    revoked_token = access_token(client, caller)
    assert revoke(client, caller, revoked_token).status_code == 200
    expired = client_token(hub, caller.client_id, f"licence:{ID_CARD}:t0", ttl_seconds=-120)
    foreign = access_token(client, other)

    for token in (revoked_token, expired, foreign, "garbage", "a.b.c"):
        response = introspect(client, caller, token)
        assert response.status_code == 200, response.text
        assert response.json() == {"active": False}
    # The foreign token is active for the client it was issued to.
    assert introspect(client, other, foreign).json()["active"] is True


def test_introspection_needs_client_authentication(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = service_client(hub, admin)
    token = access_token(client, caller)
    assert_oauth_error(client.post("/oauth/introspect", data={"token": token}), 401, "invalid_client")
    caller.secret = "wrong"
    assert_oauth_error(introspect(client, caller, token), 401, "invalid_client")


# Revocation (RFC 7009) ---------------------------------------------------------------------------------


def _push(client: TestClient, police: Issuer, token: str, sequence: int) -> httpx.Response:
    body = batch(police, sequence, issue(police.credential(ID_CARD)))
    return client.post("/v1/licences/batch", json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("method", METHODS)
def test_revoked_token_stops_working(client: TestClient, hub: Hub, admin: Admin, method: str) -> None:
    police = create_issuer(hub, "police")
    caller = register(hub, method, kind="department", department_id=police.id, by=admin)
    token = access_token(client, caller)
    assert _push(client, police, token, 1).status_code == 200

    response = revoke(client, caller, token)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    refused = _push(client, police, token, 2)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    assert introspect(client, caller, token).json() == {"active": False}


def test_revoking_an_unknown_token_answers_200(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = service_client(hub, admin)
    assert revoke(client, caller, "not-a-token-this-hub-issued").status_code == 200
    expired = client_token(hub, caller.client_id, "", ttl_seconds=-120)
    assert revoke(client, caller, expired).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller, other = service_client(hub, admin), service_client(hub, admin)
    foreign = access_token(client, other)
    assert revoke(client, caller, foreign).status_code == 200
    assert introspect(client, other, foreign).json()["active"] is True


def test_revocation_needs_client_authentication(client: TestClient, hub: Hub, admin: Admin) -> None:
    caller = service_client(hub, admin)
    token = access_token(client, caller)
    assert_oauth_error(client.post("/oauth/revoke", data={"token": token}), 401, "invalid_client")
    assert introspect(client, caller, token).json()["active"] is True
