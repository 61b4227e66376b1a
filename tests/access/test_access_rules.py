"""Rule holes found reviewing hub/access/service.py and the features it leans on, closed and pinned here."""

from __future__ import annotations

import random
from datetime import timedelta

from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from hub.access.models import Admin, Grant
from hub.context import Hub
from hub.demo_data import uscc_code
from hub.kit.time import utcnow
from storage.database import transaction
from tests.access.helpers import (
    PASSWORD,
    bearer,
    grant_body,
    make_admin,
    problem,
    problem_fields,
    request_grant,
    service_client,
    token_with_secret,
)
from tests.factories import ID_CARD, SUBSISTENCE, create_admin, create_issuer


def test_a_disabled_client_gets_no_new_grant(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    svc = service_client(client, headers)
    client.post(f"/v1/admin/clients/{svc['client_id']}/disable", headers=headers)
    refused = client.post("/v1/admin/grants", json=grant_body(svc["client_id"]), headers=headers)
    assert problem_fields(refused, 409) == ["client_id"]
    assert client.get("/v1/admin/grants", headers=headers).json() == []


def test_an_expired_grant_cannot_be_approved(client: TestClient, hub: Hub, city: Admin) -> None:
    second = make_admin(hub, region="410100")
    svc = service_client(client, bearer(hub, city))
    grant = request_grant(client, bearer(hub, city), grant_body(svc["client_id"], SUBSISTENCE, tier=3))
    with transaction(hub.session_factory) as session:
        row = session.get(Grant, grant["id"])
        assert row is not None
        row.valid_until = utcnow() - timedelta(minutes=1)

    refused = client.post(f"/v1/admin/grants/{grant['id']}/approve", headers=bearer(hub, second))
    assert "expired" in problem(refused, 409)["detail"]
    listed = client.get("/v1/admin/grants", params={"status": "pending"}, headers=bearer(hub, second)).json()
    assert [g["id"] for g in listed] == [grant["id"]]


def test_a_disabled_clients_pending_grant_cannot_be_approved(
    client: TestClient, hub: Hub, city: Admin
) -> None:
    second = make_admin(hub, region="410100")
    svc = service_client(client, bearer(hub, city))
    grant = request_grant(client, bearer(hub, city), grant_body(svc["client_id"], SUBSISTENCE, tier=3))
    client.post(f"/v1/admin/clients/{svc['client_id']}/disable", headers=bearer(hub, city))
    refused = client.post(f"/v1/admin/grants/{grant['id']}/approve", headers=bearer(hub, second))
    assert "disabled" in problem(refused, 409)["detail"]


def test_a_department_client_is_created_only_by_an_admin_over_the_department(
    client: TestClient, hub: Hub, city: Admin
) -> None:
    """The city police's adapter client pushes the city police feed: a county admin may not create one by
    giving its own county as the client's region."""
    police = create_issuer(hub, "police")  # a city department (410100)
    body = {
        "name": "公安同步",
        "kind": "department",
        "department_id": police.id,
        "auth_method": "client_secret_post",
    }
    county = bearer(hub, make_admin(hub, region="410105"))
    by_county = client.post("/v1/admin/clients", json={**body, "region_code": "410105"}, headers=county)
    assert problem_fields(by_county, 403) == ["region_code"]
    elsewhere = client.post(
        "/v1/admin/clients", json={**body, "region_code": "410105"}, headers=bearer(hub, city)
    )
    assert problem_fields(elsewhere, 422) == ["region_code"]
    made = client.post("/v1/admin/clients", json={**body, "region_code": "410100"}, headers=bearer(hub, city))
    assert made.status_code == 201, made.text
    assert made.json()["department_id"] == police.id


def test_unknown_regions_are_invalid_input_not_forbidden(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    department = {
        "id": "nowhere-civil", "name": "n", "kind": "civil_affairs", "region_code": "419999",
        "uscc": uscc_code(random.Random(9), category="11"), "issuer": "https://nowhere.example",
    }  # fmt: skip
    assert problem_fields(client.post("/v1/admin/departments", json=department, headers=headers), 422) == [
        "region_code"
    ]
    admin = {
        "username": "nowhere",
        "display_name": "n",
        "role": "admin",
        "region_code": "419999",
        "password": PASSWORD,
    }
    assert problem_fields(client.post("/v1/admin/admins", json=admin, headers=headers), 422) == [
        "region_code"
    ]


def test_a_disabled_admin_is_refused(client: TestClient, hub: Hub, catalog: Hub) -> None:
    city = create_admin(hub, region="410100")
    token = bearer(hub, city)
    with transaction(hub.session_factory) as session:
        row = session.get(Admin, city.id)
        assert row is not None
        row.status = "disabled"
    problem(client.get("/v1/admin/me", headers=token), 401)
    disabled = client.post("/v1/admin/sign-in", json={"username": city.username, "password": PASSWORD})
    unknown = client.post("/v1/admin/sign-in", json={"username": "nobody-here", "password": PASSWORD})
    assert problem(disabled, 401) == problem(unknown, 401)


# Found elsewhere -------------------------------------------------------------------------------------


def test_a_taken_department_issuer_is_a_conflict_naming_it(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    body = {
        "id": "zz-civil-a", "name": "民政局", "kind": "civil_affairs", "region_code": "410100",
        "uscc": uscc_code(random.Random(1), category="11"), "issuer": "https://civil.zhengzhou.example",
    }  # fmt: skip
    assert client.post("/v1/admin/departments", json=body, headers=headers).status_code == 201
    again = {**body, "id": "zz-civil-b", "uscc": uscc_code(random.Random(2), category="11")}
    assert problem_fields(client.post("/v1/admin/departments", json=again, headers=headers), 409) == [
        "issuer"
    ]


def test_introspection_drops_the_scope_of_a_revoked_grant(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    svc = service_client(client, headers)
    grant = request_grant(client, headers, grant_body(svc["client_id"], ID_CARD, tier=1))
    token = token_with_secret(client, svc["client_id"], svc["client_secret"], f"licence:{ID_CARD}:t1").json()
    client.post(f"/v1/admin/grants/{grant['id']}/revoke", json={"reason": "事项取消"}, headers=headers)
    introspected = client.post(
        "/oauth/introspect",
        data={
            "token": token["access_token"],
            "client_id": svc["client_id"],
            "client_secret": svc["client_secret"],
        },
    ).json()
    assert f"licence:{ID_CARD}:t1" not in (introspected.get("scope") or "").split()


def test_unknown_client_and_wrong_secret_answer_alike(client: TestClient, hub: Hub, city: Admin) -> None:
    svc = service_client(client, bearer(hub, city))
    wrong = token_with_secret(client, svc["client_id"], "not-the-secret", "")
    unknown = token_with_secret(client, "svc-0000000000000000", "not-the-secret", "")
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())


def test_a_private_jwk_is_never_stored(client: TestClient, hub: Hub, city: Admin) -> None:
    """Even mixed with a public key, a private key refuses the whole set."""
    public, private = ECKey.generate_key("P-256", private=True), ECKey.generate_key("P-256", private=True)
    mixed = {"keys": [public.as_dict(private=False), private.as_dict(private=True)]}
    body = {
        "name": "x",
        "kind": "service",
        "region_code": "410100",
        "auth_method": "private_key_jwt",
        "jwks": mixed,
    }
    response = client.post("/v1/admin/clients", json=body, headers=bearer(hub, city))
    assert problem_fields(response, 422) == ["jwks"]
    assert private.as_dict(private=True)["d"] not in response.text
