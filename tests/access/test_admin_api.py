"""The admin API under /v1/admin (issue 3): sign-in, clients, grants with approval, departments and their
keys, under the role and region rules, through HTTP with admins' bearer tokens."""

from __future__ import annotations

import random
from typing import Any

from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from hub.access.models import Admin
from hub.context import Hub
from hub.demo_data import uscc_code
from tests.access.helpers import (
    PASSWORD,
    bearer,
    grant_body,
    in_days,
    make_admin,
    problem,
    problem_fields,
    request_grant,
    service_client,
    token_with_assertion,
    token_with_secret,
)
from tests.factories import (
    BUSINESS_LICENCE,
    ID_CARD,
    MARRIAGE,
    SUBSISTENCE,
    create_admin,
    create_grant,
    create_issuer,
)

# Sign-in -----------------------------------------------------------------------------------------------


def test_password_sign_in_gives_a_token_for_the_admin_api(client: TestClient, catalog: Hub) -> None:
    city = create_admin(catalog, region="410100")
    response = client.post("/v1/admin/sign-in", json={"username": city.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == catalog.settings.admin_token_ttl_seconds

    me = client.get("/v1/admin/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": city.id,
        "username": city.username,
        "display_name": city.display_name,
        "role": "admin",
        "region_code": "410100",
        "status": "active",
        "requested_by": None,
        "approved_by": None,
    }


def test_wrong_password_and_unknown_user_get_the_same_401(client: TestClient, catalog: Hub) -> None:
    city = create_admin(catalog, region="410100")
    wrong = client.post("/v1/admin/sign-in", json={"username": city.username, "password": "not the password"})
    unknown = client.post("/v1/admin/sign-in", json={"username": "nobody-here", "password": PASSWORD})
    assert problem(wrong, 401) == problem(unknown, 401)
    assert "access_token" not in wrong.text


def test_sign_out_revokes_the_token(client: TestClient, catalog: Hub) -> None:
    city = create_admin(catalog, region="410100")
    token = client.post("/v1/admin/sign-in", json={"username": city.username, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/v1/admin/me", headers=headers).status_code == 200

    assert client.post("/v1/admin/sign-out", headers=headers).status_code == 204
    refused = client.get("/v1/admin/me", headers=headers)
    assert "revoked" in problem(refused, 401)["detail"]
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_admin_routes_need_an_admin_token(client: TestClient, hub: Hub, city: Admin) -> None:
    anonymous = client.get("/v1/admin/grants")
    problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer ")

    svc = service_client(client, bearer(hub, city))
    create_grant(hub, svc["client_id"], ID_CARD, max_tier=1, by=city)
    token = token_with_secret(client, svc["client_id"], svc["client_secret"], f"licence:{ID_CARD}:t1")
    as_client = {"Authorization": f"Bearer {token.json()['access_token']}"}
    problem(client.get("/v1/admin/grants", headers=as_client), 403)


# Clients -----------------------------------------------------------------------------------------------


def test_secret_client_gets_its_secret_once(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    created = service_client(client, headers)
    assert created["client_id"].startswith("svc-")
    assert created["auth_method"] == "client_secret_post" and created["status"] == "active"
    assert len(created["client_secret"]) >= 40

    listed = client.get("/v1/admin/clients", headers=headers)
    assert listed.status_code == 200
    [row] = [c for c in listed.json() if c["client_id"] == created["client_id"]]
    assert "client_secret" not in row
    assert created["client_secret"] not in listed.text


def test_rotating_the_secret_stops_the_old_one(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    svc = service_client(client, headers)
    request_grant(client, headers, grant_body(svc["client_id"], tier=1))
    scope = f"licence:{ID_CARD}:t1"
    assert token_with_secret(client, svc["client_id"], svc["client_secret"], scope).status_code == 200

    rotated = client.post(f"/v1/admin/clients/{svc['client_id']}/secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert new_secret != svc["client_secret"]

    old = token_with_secret(client, svc["client_id"], svc["client_secret"], scope)
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    new = token_with_secret(client, svc["client_id"], new_secret, scope)
    assert new.status_code == 200, new.text
    assert new.json()["scope"] == scope


def test_private_key_jwt_client_needs_a_public_jwks(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    key = ECKey.generate_key("P-256", private=True)
    body = {"name": "授权系统", "kind": "service", "region_code": "410100", "auth_method": "private_key_jwt"}

    private = client.post(
        "/v1/admin/clients", json={**body, "jwks": {"keys": [key.as_dict(private=True)]}}, headers=headers
    )
    assert problem_fields(private, 422) == ["jwks"]
    missing = client.post("/v1/admin/clients", json=body, headers=headers)
    assert problem_fields(missing, 422) == ["jwks"]

    created = client.post(
        "/v1/admin/clients", json={**body, "jwks": {"keys": [key.as_dict(private=False)]}}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["client_secret"] is None
    client_id = created.json()["client_id"]
    rotate = client.post(f"/v1/admin/clients/{client_id}/secret", headers=headers)
    problem(rotate, 409)

    create_grant(hub, client_id, MARRIAGE, max_tier=1, by=city)
    scope = f"licence:{MARRIAGE}:t1"
    assert token_with_assertion(client, hub, client_id, key, scope).status_code == 200


def test_replacing_the_jwks_retires_the_old_key(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    old_key = ECKey.generate_key("P-256", private=True)
    new_key = ECKey.generate_key("P-256", private=True)
    created = client.post(
        "/v1/admin/clients",
        json={
            "name": "授权系统",
            "kind": "service",
            "region_code": "410100",
            "auth_method": "private_key_jwt",
            "jwks": {"keys": [old_key.as_dict(private=False)]},
        },
        headers=headers,
    ).json()
    client_id = created["client_id"]
    create_grant(hub, client_id, MARRIAGE, max_tier=1, by=city)
    scope = f"licence:{MARRIAGE}:t1"

    private = client.put(
        f"/v1/admin/clients/{client_id}/jwks",
        json={"jwks": {"keys": [new_key.as_dict(private=True)]}},
        headers=headers,
    )
    assert problem_fields(private, 422) == ["jwks"]
    replaced = client.put(
        f"/v1/admin/clients/{client_id}/jwks",
        json={"jwks": {"keys": [new_key.as_dict(private=False)]}},
        headers=headers,
    )
    assert replaced.status_code == 200, replaced.text

    old = token_with_assertion(client, hub, client_id, old_key, scope)
    assert old.status_code in (400, 401) and old.json()["error"] == "invalid_client"
    assert token_with_assertion(client, hub, client_id, new_key, scope).status_code == 200


def test_a_disabled_clients_token_stops_on_the_next_request(
    client: TestClient, hub: Hub, city: Admin
) -> None:
    police = create_issuer(hub, "police")
    headers = bearer(hub, city)
    created = client.post(
        "/v1/admin/clients",
        json={
            "name": "公安数据同步",
            "kind": "department",
            "department_id": police.id,
            "region_code": "410100",
            "auth_method": "client_secret_post",
        },
        headers=headers,
    ).json()
    token = token_with_secret(client, created["client_id"], created["client_secret"], "licences.push")
    assert token.status_code == 200, token.text
    push = {"Authorization": f"Bearer {token.json()['access_token']}", "Content-Type": "application/pdf"}
    first = client.post("/v1/attachments", content=b"%PDF-1.7 first", headers=push)
    assert first.status_code == 201, first.text

    disabled = client.post(f"/v1/admin/clients/{created['client_id']}/disable", headers=headers)
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"

    again = client.post("/v1/attachments", content=b"%PDF-1.7 second", headers=push)
    problem(again, 401)
    assert 'error="invalid_token"' in again.headers["www-authenticate"]
    refused = token_with_secret(client, created["client_id"], created["client_secret"], "licences.push")
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"


# Grants ------------------------------------------------------------------------------------------------


def test_grants_below_t3_are_active_at_once(client: TestClient, hub: Hub, city: Admin) -> None:
    svc = service_client(client, bearer(hub, city))
    grant = request_grant(
        client, bearer(hub, city), grant_body(svc["client_id"], tier=2, purposes=["P2", "P1"])
    )
    assert grant["status"] == "active"
    assert grant["requested_by"] == city.id and grant["approved_by"] == city.id
    assert grant["consent_required"] is False
    assert grant["purposes"] == ["P1", "P2"]


def test_a_t3_grant_needs_a_second_admin(client: TestClient, hub: Hub, city: Admin) -> None:
    second = make_admin(hub, region="410100")
    svc = service_client(client, bearer(hub, city))
    body = grant_body(svc["client_id"], SUBSISTENCE, tier=3, consent_required=False)
    grant = request_grant(client, bearer(hub, city), body)
    assert grant["status"] == "pending"
    assert grant["consent_required"] is True
    assert grant["approved_by"] is None

    own = client.post(f"/v1/admin/grants/{grant['id']}/approve", headers=bearer(hub, city))
    assert "second admin" in problem(own, 403)["detail"]

    approved = client.post(f"/v1/admin/grants/{grant['id']}/approve", headers=bearer(hub, second))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    assert approved.json()["approved_by"] == second.id
    problem(client.post(f"/v1/admin/grants/{grant['id']}/approve", headers=bearer(hub, second)), 409)


def test_a_t3_grant_gives_no_scope_until_approved(client: TestClient, hub: Hub, city: Admin) -> None:
    second = make_admin(hub, region="410100")
    svc = service_client(client, bearer(hub, city))
    grant = request_grant(client, bearer(hub, city), grant_body(svc["client_id"], SUBSISTENCE, tier=3))
    scope = f"licence:{SUBSISTENCE}:t3"

    before = token_with_secret(client, svc["client_id"], svc["client_secret"], scope)
    assert before.status_code == 400
    assert before.json()["error"] == "invalid_scope"
    assert scope in before.json()["error_description"]
    lower = token_with_secret(client, svc["client_id"], svc["client_secret"], f"licence:{SUBSISTENCE}:t0")
    assert lower.json()["error"] == "invalid_scope"

    client.post(f"/v1/admin/grants/{grant['id']}/approve", headers=bearer(hub, second))
    after = token_with_secret(client, svc["client_id"], svc["client_secret"], scope)
    assert after.status_code == 200, after.text
    assert after.json()["scope"] == scope


def test_revoking_a_grant_counts_on_the_next_token_request(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    svc = service_client(client, headers)
    grant = request_grant(client, headers, grant_body(svc["client_id"], BUSINESS_LICENCE, tier=2))
    scope = f"licence:{BUSINESS_LICENCE}:t2"
    assert token_with_secret(client, svc["client_id"], svc["client_secret"], scope).status_code == 200

    no_reason = client.post(f"/v1/admin/grants/{grant['id']}/revoke", json={}, headers=headers)
    assert problem_fields(no_reason, 422) == ["reason"]
    revoked = client.post(
        f"/v1/admin/grants/{grant['id']}/revoke", json={"reason": "事项取消"}, headers=headers
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_by"] == city.id and revoked.json()["revoke_reason"] == "事项取消"

    after = token_with_secret(client, svc["client_id"], svc["client_secret"], scope)
    assert after.status_code == 400 and after.json()["error"] == "invalid_scope"
    again = client.post(f"/v1/admin/grants/{grant['id']}/revoke", json={"reason": "again"}, headers=headers)
    problem(again, 409)


def test_grants_are_listed_with_filters(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    one, two = service_client(client, headers), service_client(client, headers)
    a = request_grant(client, headers, grant_body(one["client_id"], ID_CARD, tier=1))
    b = request_grant(client, headers, grant_body(one["client_id"], SUBSISTENCE, tier=3))
    c = request_grant(client, headers, grant_body(two["client_id"], ID_CARD, tier=2))

    def listed(**query: str) -> list[int]:
        response = client.get("/v1/admin/grants", params=query, headers=headers)
        assert response.status_code == 200, response.text
        return [g["id"] for g in response.json()]

    assert listed() == [a["id"], b["id"], c["id"]]
    assert listed(client_id=one["client_id"]) == [a["id"], b["id"]]
    assert listed(type_code=ID_CARD) == [a["id"], c["id"]]
    assert listed(status="pending") == [b["id"]]
    assert listed(client_id=two["client_id"], type_code=ID_CARD, status="active") == [c["id"]]
    assert listed(limit="1", offset="1") == [b["id"]]
    assert problem_fields(
        client.get("/v1/admin/grants", params={"status": "lost"}, headers=headers), 422
    ) == ["status"]


# The acceptance cases --------------------------------------------------------------------------


def test_a_county_admin_grants_only_inside_its_county(client: TestClient, hub: Hub, city: Admin) -> None:
    jinshui = make_admin(hub, region="410105")
    county = bearer(hub, jinshui)
    city_client = service_client(client, bearer(hub, city), region="410100")
    county_client = service_client(client, county, region="410105")

    for_city_client = client.post(
        "/v1/admin/grants", json=grant_body(city_client["client_id"], region_code="410105"), headers=county
    )
    assert problem_fields(for_city_client, 403) == ["region_code"]
    city_holders = client.post(
        "/v1/admin/grants", json=grant_body(county_client["client_id"], region_code="410100"), headers=county
    )
    assert problem_fields(city_holders, 403) == ["region_code"]
    other_county = client.post(
        "/v1/admin/grants", json=grant_body(county_client["client_id"], region_code="410102"), headers=county
    )
    assert problem_fields(other_county, 403) == ["region_code"]

    inside = request_grant(client, county, grant_body(county_client["client_id"], region_code="410105001"))
    assert inside["status"] == "active" and inside["region_code"] == "410105001"
    county_wide = request_grant(client, county, grant_body(county_client["client_id"], region_code="410105"))
    assert county_wide["requested_by"] == jinshui.id


def test_a_county_admin_manages_only_its_own_clients(client: TestClient, hub: Hub, city: Admin) -> None:
    county = bearer(hub, make_admin(hub, region="410105"))
    outside = client.post(
        "/v1/admin/clients",
        json={"name": "x", "kind": "service", "region_code": "410102", "auth_method": "client_secret_post"},
        headers=county,
    )
    assert problem_fields(outside, 403) == ["region_code"]
    city_client = service_client(client, bearer(hub, city))
    for action in ("secret", "disable"):
        response = client.post(f"/v1/admin/clients/{city_client['client_id']}/{action}", headers=county)
        assert problem_fields(response, 403) == ["region_code"]
    own = service_client(client, county, region="410105")
    listed = [c["client_id"] for c in client.get("/v1/admin/clients", headers=county).json()]
    assert listed == [own["client_id"]]


def test_an_auditor_reads_but_does_not_change(client: TestClient, hub: Hub, city: Admin) -> None:
    auditor = create_admin(hub, region="410100", role="auditor")
    signed_in = client.post("/v1/admin/sign-in", json={"username": auditor.username, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    assert client.get("/v1/admin/me", headers=headers).json()["role"] == "auditor"

    svc = service_client(client, bearer(hub, city))
    pending = request_grant(client, bearer(hub, city), grant_body(svc["client_id"], SUBSISTENCE, tier=3))
    listed = client.get("/v1/admin/grants", headers=headers)
    assert listed.status_code == 200 and [g["id"] for g in listed.json()] == [pending["id"]]
    assert [c["client_id"] for c in client.get("/v1/admin/clients", headers=headers).json()] == [
        svc["client_id"]
    ]

    refused = [
        client.post("/v1/admin/grants", json=grant_body(svc["client_id"]), headers=headers),
        client.post(f"/v1/admin/grants/{pending['id']}/approve", headers=headers),
        client.post(f"/v1/admin/grants/{pending['id']}/revoke", json={"reason": "r"}, headers=headers),
        client.post(
            "/v1/admin/clients",
            json={
                "name": "x",
                "kind": "service",
                "region_code": "410100",
                "auth_method": "client_secret_post",
            },
            headers=headers,
        ),
        client.post(f"/v1/admin/clients/{svc['client_id']}/disable", headers=headers),
        client.post(
            "/v1/admin/admins",
            json={
                "username": "new-admin",
                "display_name": "n",
                "role": "admin",
                "region_code": "410100",
                "password": PASSWORD,
            },
            headers=headers,
        ),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert all("auditors may read" in problem(r, 403)["detail"] for r in refused)
    after = client.get("/v1/admin/grants", headers=headers).json()
    assert [(g["id"], g["status"]) for g in after] == [(pending["id"], "pending")]
    assert [c["status"] for c in client.get("/v1/admin/clients", headers=headers).json()] == ["active"]


def test_admins_are_created_inside_the_creators_region(client: TestClient, hub: Hub, city: Admin) -> None:
    county = bearer(hub, make_admin(hub, region="410105"))
    body = {"display_name": "复核员", "role": "auditor", "password": PASSWORD}
    above = client.post(
        "/v1/admin/admins", json={**body, "username": "up-there", "region_code": "410100"}, headers=county
    )
    assert problem_fields(above, 403) == ["region_code"]
    made = client.post(
        "/v1/admin/admins",
        json={**body, "username": "jinshui-auditor", "region_code": "410105001"},
        headers=county,
    )
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "auditor" and made.json()["region_code"] == "410105001"
    taken = client.post(
        "/v1/admin/admins",
        json={**body, "username": "jinshui-auditor", "region_code": "410105"},
        headers=county,
    )
    assert problem_fields(taken, 409) == ["username"]
    weak = client.post(
        "/v1/admin/admins",
        json={**body, "username": "short-pw", "region_code": "410105", "password": "x"},
        headers=county,
    )
    assert problem_fields(weak, 422) == ["password"]


# Departments -------------------------------------------------------------------------------------------


def department_body(region: str = "410100", **overrides: Any) -> dict[str, Any]:
    return {
        "id": "zz-civil-test",
        "name": "郑州市民政局",
        "kind": "civil_affairs",
        "region_code": region,
        "uscc": uscc_code(random.Random(region + str(overrides.get("id"))), category="11"),
        "issuer": f"https://civil.zhengzhou.example/{overrides.get('id', 'zz-civil-test')}",
        **overrides,
    }


def test_departments_and_keys_through_the_admin_api(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    bad_uscc = client.post(
        "/v1/admin/departments", json=department_body(uscc="91410100MA0000000X"), headers=headers
    )
    assert problem_fields(bad_uscc, 422) == ["uscc"]
    registered = client.post("/v1/admin/departments", json=department_body(), headers=headers)
    assert registered.status_code == 201, registered.text
    assert registered.json()["region_code"] == "410100"
    assert registered.json()["status"] == "pending"
    second = bearer(hub, make_admin(hub, region="410100"))
    problem(client.post("/v1/admin/departments/zz-civil-test/approve", headers=headers), 403)
    approved = client.post("/v1/admin/departments/zz-civil-test/approve", headers=second)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active" and approved.json()["approved_by"] != city.id

    key = ECKey.generate_key("P-256", private=True)
    private = client.post(
        "/v1/admin/departments/zz-civil-test/keys", json=key.as_dict(private=True), headers=headers
    )
    assert problem_fields(private, 422) == ["jwk.d"]
    added = client.post(
        "/v1/admin/departments/zz-civil-test/keys",
        json={**key.as_dict(private=False), "alg": "ES256"},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    kid = added.json()["kid"]
    assert added.json()["status"] == "pending"
    assert kid not in [k["kid"] for k in client.get("/v1/departments/zz-civil-test/jwks").json()["keys"]]
    approve = f"/v1/admin/departments/zz-civil-test/keys/{kid}/approve"
    assert "you requested it" in problem(client.post(approve, headers=headers), 403)["detail"]
    approved_key = client.post(approve, headers=second)
    assert approved_key.status_code == 200, approved_key.text
    assert approved_key.json()["status"] == "active"
    assert kid in [k["kid"] for k in client.get("/v1/departments/zz-civil-test/jwks").json()["keys"]]

    retired = client.post(f"/v1/admin/departments/zz-civil-test/keys/{kid}/retire", headers=headers)
    assert retired.status_code == 200, retired.text
    assert retired.json()["status"] == "retired" and retired.json()["retired_at"] is not None
    problem(client.post(f"/v1/admin/departments/zz-civil-test/keys/{kid}/retire", headers=headers), 409)
    problem(client.post("/v1/admin/departments/nowhere/keys/x/retire", headers=headers), 404)


def test_a_county_admin_registers_departments_only_in_its_county(
    client: TestClient, hub: Hub, city: Admin
) -> None:
    county = bearer(hub, make_admin(hub, region="410105"))
    at_city = client.post("/v1/admin/departments", json=department_body("410100"), headers=county)
    assert problem_fields(at_city, 403) == ["region_code"]
    at_county = client.post(
        "/v1/admin/departments", json=department_body("410105", id="jinshui-civil"), headers=county
    )
    assert at_county.status_code == 201, at_county.text

    city_department = client.post("/v1/admin/departments", json=department_body(), headers=bearer(hub, city))
    assert city_department.status_code == 201, city_department.text
    key = ECKey.generate_key("P-256", private=True).as_dict(private=False)
    assert problem_fields(
        client.post("/v1/admin/departments/zz-civil-test/keys", json=key, headers=county), 403
    ) == ["region_code"]


# Bad input is a 4xx problem naming the field, never a 500 ---------------------------------------------

GRANT_CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("until before from", {"valid_from": in_days(10), "valid_until": in_days(5)}, 422, "valid_until"),
    ("until in the past", {"valid_until": in_days(-1)}, 422, "valid_until"),
    ("naive until", {"valid_until": "2030-01-01T00:00:00"}, 422, "valid_until"),
    ("naive from", {"valid_from": "2029-01-01T00:00:00"}, 422, "valid_from"),
    ("not a date", {"valid_until": "next tuesday"}, 422, "valid_until"),
    ("unknown type", {"type_code": "NOSUCHTYPE"}, 422, "type_code"),
    ("unknown client", {"client_id": "svc-nobody"}, 422, "client_id"),
    ("tier 4", {"max_tier": 4}, 422, "max_tier"),
    ("tier -1", {"max_tier": -1}, 422, "max_tier"),
    ("star mixed", {"purposes": ["*", "X"]}, 422, "purposes"),
    ("no purposes", {"purposes": []}, 422, "purposes"),
    ("blank purpose", {"purposes": [" "]}, 422, "purposes"),
    ("unknown region", {"region_code": "419999"}, 422, "region_code"),
    ("malformed region", {"region_code": "41A100"}, 422, "region_code"),
    ("no legal basis", {"legal_basis": ""}, 422, "legal_basis"),
]


def test_bad_grant_requests_are_problems_naming_the_field(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    svc = service_client(client, headers)
    for case, overrides, status, field in GRANT_CASES:
        body = {**grant_body(svc["client_id"]), **overrides}
        response = client.post("/v1/admin/grants", json=body, headers=headers)
        assert response.status_code == status, (case, response.text)
        assert field in problem_fields(response, status), case
    missing = {k: v for k, v in grant_body(svc["client_id"]).items() if k != "valid_until"}
    assert problem_fields(client.post("/v1/admin/grants", json=missing, headers=headers), 422) == [
        "valid_until"
    ]
    police = create_issuer(hub, "police")
    department = client.post("/v1/admin/grants", json=grant_body(police.client_id), headers=headers)
    assert problem_fields(department, 422) == ["client_id"]
    problem(client.post("/v1/admin/grants/999999/approve", headers=headers), 404)
    problem(client.post("/v1/admin/grants/not-a-number/approve", headers=headers), 422)


CLIENT_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown kind", {"kind": "robot"}, "kind"),
    ("unknown auth method", {"auth_method": "none"}, "auth_method"),
    ("unknown region", {"region_code": "419999"}, "region_code"),
    ("department of a service", {"department_id": "zz-police"}, "department_id"),
    ("department client without department", {"kind": "department"}, "department_id"),
    ("plain http redirect", {"redirect_uris": ["http://example.com/cb"]}, "redirect_uris[0]"),
    (
        "loopback-looking host",
        {"redirect_uris": ["https://a.example/cb", "http://127.0.0.1.evil.example/cb"]},
        "redirect_uris[1]",
    ),
    ("userinfo before the host", {"redirect_uris": ["http://127.0.0.1@evil.example/cb"]}, "redirect_uris[0]"),
    ("userinfo on https", {"redirect_uris": ["https://user:pw@a.example/cb"]}, "redirect_uris[0]"),
    ("fragment", {"redirect_uris": ["https://a.example/cb#x"]}, "redirect_uris[0]"),
    ("empty fragment", {"redirect_uris": ["https://a.example/cb#"]}, "redirect_uris[0]"),
    ("relative", {"redirect_uris": ["/cb"]}, "redirect_uris[0]"),
    ("other scheme", {"redirect_uris": ["javascript://a.example/%0aalert(1)"]}, "redirect_uris[0]"),
    ("bad port", {"redirect_uris": ["https://a.example:99999/cb"]}, "redirect_uris[0]"),
    ("space", {"redirect_uris": ["https://a.example/c b"]}, "redirect_uris[0]"),
    ("bad host", {"redirect_uris": ["https://a_b!.example/cb"]}, "redirect_uris[0]"),
    ("jwks on a secret client", {"jwks": {"keys": []}}, "jwks"),
    ("not a JWK set", {"auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "EC"}]}}, "jwks"),
    ("empty name", {"name": ""}, "name"),
]


def test_bad_client_requests_are_problems_naming_the_field(client: TestClient, hub: Hub, city: Admin) -> None:
    headers = bearer(hub, city)
    base = {
        "name": "审批系统",
        "kind": "service",
        "region_code": "410100",
        "auth_method": "client_secret_post",
    }
    for case, overrides, field in CLIENT_CASES:
        response = client.post("/v1/admin/clients", json={**base, **overrides}, headers=headers)
        assert response.status_code == 422, (case, response.text)
        assert field in problem_fields(response, 422), case
    problem(client.post("/v1/admin/clients/svc-nobody/disable", headers=headers), 404)
    missing_jwks = client.put("/v1/admin/clients/svc-nobody/jwks", json={}, headers=headers)
    assert problem_fields(missing_jwks, 422) == ["jwks"]
