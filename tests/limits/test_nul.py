"""Issue 14: a NUL character anywhere in a request is a 422 naming where, never a 500 — PostgreSQL holds
no NUL in text. Replayed over HTTP on both databases, unauthenticated and authenticated."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.context import Hub
from tests.access.helpers import bearer, make_admin
from tests.factories import ID_CARD, create_client, create_grant, mint_client_token, seed_catalog


def _where(response: object) -> str:
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    return str(body["errors"][0]["field"])


def test_nul_in_sign_in_token_path_query_and_body_is_a_422(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = bearer(hub, make_admin(hub, region="410100"))
    assert (
        _where(client.post("/v1/admin/sign-in", json={"username": "a\u0000b", "password": "x"})) == "username"
    )
    token = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "svc\x00"})
    assert _where(token) == "client_id"
    assert _where(client.get("/v1/admin/grants", params={"client_id": "x\x00"}, headers=admin)) == "client_id"
    assert _where(client.get("/v1/departments/zz%00police/jwks")) == "path"
    service = create_client(hub, kind="service").client_id
    create_grant(hub, service, ID_CARD, max_tier=1)
    lookup = client.post(
        "/v1/lookups",
        json={"holder_id": "410105198605141237", "types": [ID_CARD], "purpose": "MZCFBG",
              "case_id": "case\u0000one", "nonce": "nonce-0123456789"},
        headers={"Authorization": f"Bearer {mint_client_token(hub, service, f'licence:{ID_CARD}:t1')}"},
    )  # fmt: skip
    assert _where(lookup) == "case_id"
    grant = client.post(
        "/v1/admin/grants",
        json={"client_id": service, "type_code": ID_CARD, "max_tier": 1, "purposes": ["A\u0000"],
              "region_code": "410100", "valid_until": "2030-01-01T00:00:00+08:00", "legal_basis": "x"},
        headers=admin,
    )  # fmt: skip
    assert _where(grant) == "purposes[0]"
    # Text without NUL that merely mentions %00 passes through untouched.
    fine = client.get("/v1/admin/grants", params={"client_id": "100%"}, headers=admin)
    assert fine.status_code == 200, fine.text
