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

from hub.access.models import Admin
from hub.context import Hub
from hub.kit.time import utcnow
from hub.lookups.models import Consent
from hub.sessions.models import WebSession
from storage.database import transaction
from tests.console.conftest import SESSION_SECONDS, age_sign_ins, citizen_sign_in, csrf_of, sign_in
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
