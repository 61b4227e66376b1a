"""Web hardening replayed over HTTP on both databases: security headers on the pages, API viewers with
no CDN, the sign-in lifetime on every reader, server-side sign-out, disabled admins, and CSRF on every
cookie-authenticated change (hub/sessions/web.py, hub/kit/http.py)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from hub.access import service as access_service
from hub.access.models import Admin
from hub.audit.models import AuditEvent
from hub.context import Hub
from hub.errors import Conflict
from hub.kit.time import utcnow
from hub.oauth.models import Consent
from hub.sessions.models import WebSession
from storage.database import transaction
from tests.console.conftest import PASSWORD, SESSION_SECONDS, age_sign_ins, citizen_sign_in, csrf_of, sign_in
from tests.factories import HOUSEHOLD, ID_CARD, create_admin, create_grant, seed_catalog
from tests.lookups.conftest import World

COOKIE = "hub_session"
PROBLEM_JSON = "application/problem+json"


def authorize_url(world: World) -> str:
    """An approval service's authorization request (code + PKCE S256) for the citizen's two licences."""
    for type_code, tier in ((ID_CARD, 1), (HOUSEHOLD, 2)):
        create_grant(world.hub, world.service.client_id, type_code, max_tier=tier)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(secrets.token_bytes(32)).digest()).rstrip(b"=")
    return "/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": world.service.client_id,
            "redirect_uri": "https://approvals.example/cb",
            "scope": f"licence:{ID_CARD}:t1 licence:{HOUSEHOLD}:t2",
            "state": "s1",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
            "purpose": "MZCFBG",
            "case_id": "ZZ-2026-000123",
        }
    )


def give_consent(client: TestClient, world: World) -> str:
    """The citizen (signed in) approves the consent page; returns the consent's id."""
    url = authorize_url(world)
    page = client.get(url)
    assert page.status_code == 200, page.text
    approved = client.post(url, data={"csrf": csrf_of(page), "decision": "approve"}, follow_redirects=False)
    assert approved.status_code == 302, approved.text
    assert approved.headers["location"].startswith("https://approvals.example/cb?code=")
    with transaction(world.hub.session_factory) as session:
        consent = session.query(Consent).one()
        return consent.id


def consent_status(hub: Hub, consent_id: str) -> str:
    with transaction(hub.session_factory) as session:
        found = session.get(Consent, consent_id)
        assert found is not None
        return found.status


def copied(client: TestClient) -> str:
    value = client.cookies.get(COOKIE)
    assert value
    return value


def with_cookie(client: TestClient, cookie: str) -> dict[str, str]:
    """Headers that replay a copied session cookie from a browser whose own jar is empty."""
    client.cookies.clear()
    return {"Cookie": f"{COOKIE}={cookie}"}


def assert_hardened(response: object, *, personal: bool) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] in ("no-referrer", "same-origin")
    if personal:
        assert headers["cache-control"] == "no-store"


# Headers ------------------------------------------------------------------------------------------------


def test_pages_carry_the_security_headers(client: TestClient, hub: Hub, world: World) -> None:
    admin = create_admin(hub)
    sign_in(client, admin)
    console = client.get("/console")
    assert console.status_code == 200
    assert_hardened(console, personal=True)
    assert "<script>" not in console.text  # the CSP allows no inline script: the console has none

    citizen_sign_in(client, world.citizen)
    for path in ("/me", "/v1/me/licences", "/v1/me/consents"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert_hardened(response, personal=True)
    consent_page = client.get(authorize_url(world))
    assert consent_page.status_code == 200 and "授权确认" in consent_page.text
    assert_hardened(consent_page, personal=True)

    docs = client.get("/docs")
    assert docs.status_code == 200
    assert_hardened(docs, personal=False)
    # The public catalog stays cacheable; only personal answers are no-store.
    assert client.get("/v1/licence-types").headers.get("cache-control") != "no-store"


def test_api_viewers_use_only_hub_served_assets(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert not re.search(r"https?://", page.text), f"{path} names another host"
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets, path
        for asset in assets:
            assert asset.startswith("/docs/assets/"), asset
            answer = client.get(asset)
            assert answer.status_code == 200, asset
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert b"https://cdn" not in answer.content, asset
        nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
        for script in re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text):
            assert nonce and f'nonce="{nonce.group(1)}"' in script  # inline start-up script by nonce only
    assert client.get("/docs/assets/..%2Fcore.py").status_code == 404


# The sign-in lifetime, on every reader --------------------------------------------------------------------


def test_a_stale_citizen_sign_in_is_refused_everywhere(client: TestClient, hub: Hub, world: World) -> None:
    citizen_sign_in(client, world.citizen)
    url = authorize_url(world)
    assert client.get("/v1/me/licences").status_code == 200
    assert client.get(url).status_code == 200
    age_sign_ins(hub, SESSION_SECONDS + 5)  # past the sign-in lifetime, inside the cookie's idle lifetime
    assert client.get("/v1/me/licences").status_code == 401
    assert client.get("/v1/me/consents").status_code == 401
    assert client.get("/v1/me/access-log").status_code == 401
    again = client.get(url, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/oauth/sign-in?")
    me = client.get("/me", follow_redirects=False)
    assert me.status_code == 303 and me.headers["location"].startswith("/oauth/sign-in")


def test_a_stale_sign_in_cannot_approve_a_consent(client: TestClient, hub: Hub, world: World) -> None:
    citizen_sign_in(client, world.citizen)
    url = authorize_url(world)
    page = client.get(url)
    age_sign_ins(hub, SESSION_SECONDS + 5)
    late = client.post(url, data={"csrf": csrf_of(page), "decision": "approve"}, follow_redirects=False)
    assert late.status_code == 303 and late.headers["location"].startswith("/oauth/sign-in?")
    with transaction(hub.session_factory) as session:
        assert session.query(Consent).count() == 0


# Sign-out and disabled admins end sessions at once ---------------------------------------------------------


@pytest.mark.parametrize("sign_out", ["/me/sign-out", "/oauth/sign-out"])
def test_a_cookie_copied_before_citizen_sign_out_stops_working(
    client: TestClient, world: World, sign_out: str
) -> None:
    csrf = citizen_sign_in(client, world.citizen)
    cookie = copied(client)
    assert client.get("/v1/me/licences").status_code == 200
    assert client.post(sign_out, data={"csrf": csrf}, follow_redirects=False).status_code == 303
    replay = with_cookie(client, cookie)
    assert client.get("/v1/me/licences", headers=replay).status_code == 401
    me = client.get("/me", headers=replay, follow_redirects=False)
    assert me.status_code == 303 and me.headers["location"].startswith("/oauth/sign-in")


def test_a_cookie_copied_before_admin_sign_out_stops_working(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    csrf = sign_in(client, create_admin(hub))
    cookie = copied(client)
    assert client.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    replay = client.get("/console/grants", headers=with_cookie(client, cookie), follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/console/sign-in")


def test_disabling_an_admin_ends_its_console_session(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    sign_in(client, admin)
    cookie = copied(client)
    assert client.get("/console", follow_redirects=False).status_code == 200
    with transaction(hub.session_factory) as session:
        row = session.get(Admin, admin.id)
        assert row is not None
        row.status = "disabled"
    for headers in ({}, with_cookie(client, cookie)):
        refused = client.get("/console", headers=headers, follow_redirects=False)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/console/sign-in")


# CSRF on cookie-authenticated changes ---------------------------------------------------------------------


def test_cross_site_withdrawal_without_the_token_is_refused(
    client: TestClient, hub: Hub, world: World
) -> None:
    citizen_sign_in(client, world.citizen)
    consent_id = give_consent(client, world)
    # A page on another site posts the browser's form (the cookie goes along; SameSite=Lax does not
    # stop a top-level POST in every browser, nor a same-site attacker).
    for data in ({}, {"csrf": "forged"}):
        page = client.post(f"/me/consents/{consent_id}/withdraw", data=data, follow_redirects=False)
        assert page.status_code == 403
        api = client.post(f"/v1/me/consents/{consent_id}/withdraw", data=data)
        assert api.status_code == 403 and api.headers["content-type"].startswith(PROBLEM_JSON)
    forged = client.post(f"/v1/me/consents/{consent_id}/withdraw", headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    assert consent_status(hub, consent_id) == "given"
    # The hub's own page or script has the token and may.
    token = client.get("/v1/me/consents").headers["x-csrf-token"]
    done = client.post(f"/v1/me/consents/{consent_id}/withdraw", headers={"X-CSRF-Token": token})
    assert done.status_code == 200, done.text
    assert consent_status(hub, consent_id) == "withdrawn"


def test_cross_site_consent_approval_without_the_token_is_refused(
    client: TestClient, hub: Hub, world: World
) -> None:
    citizen_sign_in(client, world.citizen)
    url = authorize_url(world)
    for data in ({"decision": "approve"}, {"decision": "approve", "csrf": "forged"}):
        response = client.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403 and "location" not in response.headers
    with transaction(hub.session_factory) as session:
        assert session.query(Consent).count() == 0


@pytest.mark.parametrize("sign_out", ["/me/sign-out", "/oauth/sign-out"])
def test_cross_site_citizen_sign_out_is_refused(client: TestClient, world: World, sign_out: str) -> None:
    citizen_sign_in(client, world.citizen)
    assert client.post(sign_out, data={}, follow_redirects=False).status_code == 403
    assert client.get("/v1/me/licences").status_code == 200  # still signed in


def test_cross_site_admin_sign_out_and_forms_are_refused(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    sign_in(client, create_admin(hub))
    assert client.post("/console/sign-out", data={}, follow_redirects=False).status_code == 403
    assert client.post("/console/grants/1/revoke", data={"reason": "x"}).status_code == 403
    assert client.get("/console", follow_redirects=False).status_code == 200  # still signed in


def test_sign_ins_past_their_lifetime_are_purged_at_the_next_sign_in(
    client: TestClient, hub: Hub, world: World
) -> None:
    citizen_sign_in(client, world.citizen)
    age_sign_ins(hub, SESSION_SECONDS + 5)
    with transaction(hub.session_factory) as session:
        assert session.query(WebSession).count() == 1
    client.cookies.clear()
    citizen_sign_in(client, world.citizen)
    with transaction(hub.session_factory) as session:
        rows = session.query(WebSession).all()
    assert len(rows) == 1 and (utcnow() - rows[0].signed_in_at).total_seconds() < SESSION_SECONDS


# Disabling an admin and changing a password end what it holds ---------------------------------------------


def api_sign_in(client: TestClient, admin: Admin, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/v1/admin/sign-in", json={"username": admin.username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def audit_details(hub: Hub, action: str) -> list[dict[str, object]]:
    with transaction(hub.session_factory) as session:
        events = session.query(AuditEvent).filter(AuditEvent.action == action).all()
        return [{"actor": e.actor_id, **e.detail} for e in events]


def test_disabling_an_admin_through_the_api_ends_its_sessions_and_tokens(
    client: TestClient, hub: Hub
) -> None:
    seed_catalog(hub)
    city, county = create_admin(hub), create_admin(hub, region="410105")
    city_token = api_sign_in(client, city)
    county_token = api_sign_in(client, county)
    sign_in(client, county)
    cookie = copied(client)
    client.cookies.clear()

    # The county admin cannot disable the city admin above it, nor the city admin itself.
    assert (
        client.post(
            f"/v1/admin/admins/{city.id}/disable", json={"reason": "x"}, headers=county_token
        ).status_code
        == 403
    )
    own = client.post(f"/v1/admin/admins/{city.id}/disable", json={"reason": "x"}, headers=city_token)
    assert own.status_code == 409 and "itself" in own.json()["detail"]
    missing = client.post(f"/v1/admin/admins/{county.id}/disable", json={}, headers=city_token)
    assert missing.status_code == 422 and [e["field"] for e in missing.json()["errors"]] == ["reason"]

    done = client.post(
        f"/v1/admin/admins/{county.id}/disable", json={"reason": "账号被盗用"}, headers=city_token
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "disabled"
    assert client.get("/v1/admin/me", headers=county_token).status_code == 401
    replay = client.get("/console", headers=with_cookie(client, cookie), follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/console/sign-in")
    with transaction(hub.session_factory) as session:
        assert session.query(WebSession).filter(WebSession.admin_id == county.id).count() == 0
    assert audit_details(hub, "admin.disabled") == [
        {"actor": f"admin:{city.id}", "admin": county.id, "role": "admin", "region": "410105",
         "reason": "账号被盗用", "sessions_ended": 1}
    ]  # fmt: skip
    again = client.post(f"/v1/admin/admins/{county.id}/disable", json={"reason": "x"}, headers=city_token)
    assert again.status_code == 409


def test_the_last_active_admin_cannot_be_disabled(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    only, auditor = create_admin(hub), create_admin(hub, role="auditor")
    with transaction(hub.session_factory) as session:
        with pytest.raises(Conflict, match="last active admin"):
            access_service.disable_admin(session, only.id or 0, by=None, reason="operator")
        assert (
            access_service.disable_admin(session, auditor.id or 0, by=None, reason="left").status
            == "disabled"
        )


def test_changing_a_password_ends_every_session_and_token(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    first, second = api_sign_in(client, admin), api_sign_in(client, admin)
    sign_in(client, admin)
    cookie = copied(client)
    client.cookies.clear()
    new = "a much longer new passphrase"

    wrong = client.post(
        "/v1/admin/me/password", json={"current_password": "guess", "new_password": new}, headers=first
    )
    assert wrong.status_code == 403 and [e["field"] for e in wrong.json()["errors"]] == ["current_password"]
    short = client.post(
        "/v1/admin/me/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=first
    )
    assert short.status_code == 422 and [e["field"] for e in short.json()["errors"]] == ["new_password"]
    same = client.post(
        "/v1/admin/me/password", json={"current_password": PASSWORD, "new_password": PASSWORD}, headers=first
    )
    assert same.status_code == 422 and [e["field"] for e in same.json()["errors"]] == ["new_password"]
    assert client.get("/v1/admin/me", headers=second).status_code == 200  # nothing changed so far

    changed = client.post(
        "/v1/admin/me/password", json={"current_password": PASSWORD, "new_password": new}, headers=first
    )
    assert changed.status_code == 204, changed.text
    for token in (first, second):
        assert client.get("/v1/admin/me", headers=token).status_code == 401
    replay = client.get("/console", headers=with_cookie(client, cookie), follow_redirects=False)
    assert replay.status_code == 303
    old = client.post("/v1/admin/sign-in", json={"username": admin.username, "password": PASSWORD})
    assert old.status_code == 401
    assert client.get("/v1/admin/me", headers=api_sign_in(client, admin, new)).status_code == 200
    assert audit_details(hub, "admin.password_changed") == [
        {"actor": f"admin:{admin.id}", "admin": admin.id, "sessions_ended": 1}
    ]


def test_guessing_the_current_password_backs_off(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    token = api_sign_in(client, admin)
    body = {"current_password": "guess", "new_password": "a much longer new passphrase"}
    statuses = [client.post("/v1/admin/me/password", json=body, headers=token).status_code for _ in range(12)]
    assert statuses[:10] == [403] * 10 and statuses[-1] == 429, statuses
