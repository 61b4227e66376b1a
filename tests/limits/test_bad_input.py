"""Issue 14: inputs that were 500s are 422s naming the field, on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.context import Hub
from tests.access.helpers import bearer, make_admin, problem_fields
from tests.factories import seed_catalog

HUGE = str(2**63)


def test_naive_times_and_integers_past_64_bits_are_422s(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = bearer(hub, make_admin(hub, region="410100"))
    for path in ("/v1/audit/events", "/v1/admin/alerts"):
        naive = client.get(path, params={"since": "2026-01-01T00:00:00"}, headers=admin)
        assert problem_fields(naive, 422) == ["since"]
        huge = client.get(path, params={"before": HUGE}, headers=admin)
        assert problem_fields(huge, 422) == ["before"]
        aware = client.get(path, params={"since": "2026-01-01T00:00:00+08:00"}, headers=admin)
        assert aware.status_code == 200, aware.text
    for path, field in (
        (f"/v1/admin/grants/{HUGE}/approve", "grant_id"),
        (f"/v1/admin/alerts/{HUGE}/acknowledge", "alert_id"),
        (f"/v1/admin/issuing-authorizations/{HUGE}/approve", "authorization_id"),
        (f"/v1/admin/admins/{HUGE}/approve", "admin_id"),
    ):
        assert problem_fields(client.post(path, headers=admin), 422) == [field]


def test_oauth_parameters_authlib_would_echo_are_422s_and_bad_basic_is_401(
    client: TestClient, hub: Hub
) -> None:
    seed_catalog(hub)
    for name, value in (("response_type", 'co"de'), ("scope", "a\\b"), ("redirect_uri", "https://a/é"),
                        ("purpose", "办事"), ("case_id", 'x"y')):  # fmt: skip
        params = {"response_type": "code", "client_id": "svc-x", name: value}
        assert problem_fields(client.get("/oauth/authorize", params=params), 422) == [name]
    token = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": 'a"b'})
    assert problem_fields(token, 422) == ["scope"]
    for path in ("/oauth/token", "/oauth/introspect", "/oauth/revoke"):
        refused = client.post(
            path, data={"grant_type": "client_credentials", "token": "x"},
            headers={"Authorization": "Basic //46/w=="},
        )  # fmt: skip
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
