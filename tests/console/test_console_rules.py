"""The console refuses what the API refuses, through the same services: forms without the session's CSRF
token, a county admin acting for another county, an auditor changing a grant; and sessions end on
sign-out and after ``console_session_seconds``."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from hub.access.models import Grant
from hub.context import Hub
from hub.demo_data import citizen_id
from hub.main import create_app
from hub.oauth import consents
from storage.database import transaction
from tests.console.conftest import SESSION_SECONDS, age_sign_ins, citizen_sign_in, csrf_of, sign_in
from tests.console.routes import CONSOLE_SESSION
from tests.factories import (
    ID_CARD,
    NO_CRIMINAL_RECORD,
    create_admin,
    create_client,
    create_grant,
    seed_catalog,
)

NEXT_YEAR = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()


def grants_of(hub: Hub, client_id: str) -> list[Grant]:
    with transaction(hub.read_session_factory) as session:
        return list(session.scalars(select(Grant).where(Grant.client_id == client_id)))


def grant_form(csrf: str | None, client_id: str, **overrides: Any) -> dict[str, Any]:
    form = {
        "client_id": client_id,
        "type_code": NO_CRIMINAL_RECORD,
        "max_tier": "3",
        "purposes": ["GGZLZF"],
        "region_code": "410100",
        "valid_from": "",
        "valid_until": NEXT_YEAR,
        "legal_basis": "《条例》第十条",
    }
    if csrf is not None:
        form["csrf"] = csrf
    return form | overrides


def test_pages_need_a_session(client: TestClient) -> None:
    csrf = csrf_of(client.get("/console/sign-in"))
    for (method, path), (audience, params) in CONSOLE_SESSION.items():
        url = path.format(**params)
        sign_in_page = "/console/sign-in" if audience == "admin" else "/oauth/sign-in"
        if method == "GET":
            response = client.get(url, follow_redirects=False)
            assert response.status_code == 303, (url, response.status_code)
            assert response.headers["location"].startswith(sign_in_page), url
            continue
        without_token = client.post(url, data={}, follow_redirects=False)
        assert without_token.status_code == 403, (url, without_token.status_code)
        with_token = client.post(url, data={"csrf": csrf}, follow_redirects=False)
        assert with_token.status_code == 303, (url, with_token.status_code)
        assert with_token.headers["location"].startswith(sign_in_page), url


def test_a_form_without_its_csrf_token_is_refused(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    service = create_client(hub, by=admin).client_id
    csrf = sign_in(client, admin)

    missing = client.post("/console/grants", data=grant_form(None, service), follow_redirects=False)
    forged = client.post("/console/grants", data=grant_form("forged-token", service), follow_redirects=False)
    assert (missing.status_code, forged.status_code) == (403, 403)
    assert "表单已过期" in missing.text
    assert grants_of(hub, service) == []

    accepted = client.post("/console/grants", data=grant_form(csrf, service), follow_redirects=False)
    assert accepted.status_code == 303, accepted.text
    [grant] = grants_of(hub, service)
    assert (grant.type_code, grant.max_tier, grant.status, grant.purposes) == (
        NO_CRIMINAL_RECORD,
        3,
        "pending",
        ["GGZLZF"],
    )


def test_a_county_admin_cannot_act_for_another_county(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    city = create_admin(hub, region="410100")
    jinshui = create_admin(hub, region="410105")  # 金水区
    zhongyuan_client = create_client(hub, region="410102", by=city).client_id  # 中原区
    own_client = create_client(hub, region="410105", by=city).client_id
    csrf = sign_in(client, jinshui)

    other = client.post(
        "/console/grants", data=grant_form(csrf, zhongyuan_client, region_code="410105", max_tier="2")
    )
    assert other.status_code == 403
    assert "outside your region 410105" in other.text and "region_code" in other.text
    assert grants_of(hub, zhongyuan_client) == []

    # Its own client, but holders in another county: refused too.
    wider = client.post(
        "/console/grants", data=grant_form(csrf, own_client, region_code="410102", max_tier="2")
    )
    assert wider.status_code == 403
    assert grants_of(hub, own_client) == []

    # Nor may it disable the other county's client or approve the other county's grant.
    assert client.post(f"/console/clients/{zhongyuan_client}/disable", data={"csrf": csrf}).status_code == 403
    pending = create_grant(hub, zhongyuan_client, ID_CARD, max_tier=3, by=city, region_code="410102")
    assert client.post(f"/console/grants/{pending.id}/approve", data={"csrf": csrf}).status_code == 403
    assert [g.status for g in grants_of(hub, zhongyuan_client)] == ["pending"]

    # Inside its county it may.
    mine = client.post(
        "/console/grants",
        data=grant_form(csrf, own_client, region_code="410105", max_tier="2"),
        follow_redirects=False,
    )
    assert mine.status_code == 303
    assert [g.status for g in grants_of(hub, own_client)] == ["active"]


def test_an_auditor_cannot_change_a_grant(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    auditor = create_admin(hub, role="auditor")
    service = create_client(hub, by=admin).client_id
    pending = create_grant(hub, service, NO_CRIMINAL_RECORD, max_tier=3, by=admin)
    csrf = sign_in(client, auditor)

    page = client.get("/console/grants")
    assert page.status_code == 200 and f'id="grant-{pending.id}"' in page.text
    assert f"/console/grants/{pending.id}/approve" not in page.text  # no buttons for auditors

    approve = client.post(f"/console/grants/{pending.id}/approve", data={"csrf": csrf})
    revoke = client.post(f"/console/grants/{pending.id}/revoke", data={"csrf": csrf, "reason": "no"})
    create = client.post("/console/grants", data=grant_form(csrf, service, max_tier="1"))
    assert (approve.status_code, revoke.status_code, create.status_code) == (403, 403, 403)
    assert "auditors may read but not change access" in approve.text
    assert [g.status for g in grants_of(hub, service)] == ["pending"]


def test_a_second_admin_approves_a_t3_request_and_not_the_first(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    first, second = create_admin(hub), create_admin(hub)
    service = create_client(hub, by=first).client_id
    csrf = sign_in(client, first)
    assert (
        client.post("/console/grants", data=grant_form(csrf, service), follow_redirects=False).status_code
        == 303
    )
    [grant] = grants_of(hub, service)
    own = client.post(f"/console/grants/{grant.id}/approve", data={"csrf": csrf})
    assert own.status_code == 403 and "second admin" in own.text

    client.cookies.clear()
    csrf = sign_in(client, second)
    approved = client.post(f"/console/grants/{grant.id}/approve", data={"csrf": csrf}, follow_redirects=False)
    assert approved.status_code == 303
    assert [g.status for g in grants_of(hub, service)] == ["active"]


BAD_GRANT_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"valid_until": "next tuesday"}, "valid_until"),
    ({"valid_until": ""}, "valid_until"),
    ({"legal_basis": ""}, "legal_basis"),
    ({"max_tier": "9"}, "max_tier"),
    ({"purposes": []}, "purposes"),
    ({"region_code": "999999"}, "region_code"),
    ({"type_code": "nope"}, "type_code"),
]


def test_bad_grant_input_rerenders_the_form_naming_the_field(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    service = create_client(hub, by=admin).client_id
    csrf = sign_in(client, admin)
    for overrides, field in BAD_GRANT_INPUT:
        response = client.post("/console/grants", data=grant_form(csrf, service, **overrides))
        assert response.status_code == 422, (overrides, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert f"<code>{field}</code>" in response.text, overrides
        assert 'id="grant-form"' in response.text
        if field != "legal_basis":  # what was typed is kept
            assert "《条例》第十条" in response.text
    assert grants_of(hub, service) == []


def test_sign_out_ends_the_session(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    csrf = sign_in(client, admin)
    assert client.get("/console", follow_redirects=False).status_code == 200
    out = client.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    after = client.get("/console", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/console/sign-in")


def test_a_console_sign_in_expires(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    sign_in(client, admin)
    age_sign_ins(hub, SESSION_SECONDS - 10)
    assert client.get("/console", follow_redirects=False).status_code == 200
    # Past the console lifetime, though well inside the cookie's idle lifetime (citizen_session_seconds).
    age_sign_ins(hub, 40)
    expired = client.get("/console/grants", follow_redirects=False)
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/console/sign-in?expired=1")
    assert "登录已过期" in client.get(expired.headers["location"]).text
    assert client.get("/console", follow_redirects=False).status_code == 303  # the session was cleared


def test_wrong_password_is_refused_with_the_form(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in", data={"csrf": csrf_of(page), "username": admin.username, "password": "wrong"}
    )
    assert response.status_code == 401 and "用户名或密码错误" in response.text
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_session_cookie_flags(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    page = client.get("/console/sign-in")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert admin.id is not None

    behind_tls = dataclasses.replace(
        hub, settings=hub.settings.model_copy(update={"public_url": "https://hub.test"})
    )
    with TestClient(create_app(hub=behind_tls), base_url="https://hub.test") as tls_client:
        cookie = tls_client.get("/console/sign-in").headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie


def test_language_switch(client: TestClient, hub: Hub) -> None:
    assert "管理员登录" in client.get("/console/sign-in").text
    switched = client.get("/console/lang?to=en&next=/console/sign-in", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/console/sign-in"
    assert "Administrator sign-in" in client.get("/console/sign-in").text
    elsewhere = client.get("/console/lang?to=en&next=//evil.example/", follow_redirects=False)
    assert elsewhere.headers["location"] == "/console"


def test_citizen_sees_and_withdraws_own_consent_only(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    service = create_client(hub).client_id
    rng = random.Random(5)
    mine, theirs = citizen_id(rng), citizen_id(rng)
    scopes = [f"licence:{ID_CARD}:t1"]
    with transaction(hub.session_factory) as session:
        given = consents.give(
            session,
            hub,
            subject=f"citizen:{hub.blind_index.of('person', mine)}",
            client_id=service,
            purpose="MZCFBG",
            case_id="ZZ-1",
            scopes=scopes,
        )
        other = consents.give(
            session,
            hub,
            subject=f"citizen:{hub.blind_index.of('person', theirs)}",
            client_id=service,
            purpose="MZCFBG",
            case_id="ZZ-2",
            scopes=scopes,
        )
    csrf = citizen_sign_in(client, mine)
    page = client.get("/me")
    assert f'id="consent-{given.id}" data-status="given"' in page.text and other.id not in page.text

    not_mine = client.post(f"/me/consents/{other.id}/withdraw", data={"csrf": csrf})
    assert not_mine.status_code == 404
    no_token = client.post(f"/me/consents/{given.id}/withdraw", data={})
    assert no_token.status_code == 403

    withdrawn = client.post(f"/me/consents/{given.id}/withdraw", data={"csrf": csrf}, follow_redirects=False)
    assert withdrawn.status_code == 303
    page = client.get("/me")
    assert f'id="consent-{given.id}" data-status="withdrawn"' in page.text
    with transaction(hub.read_session_factory) as session:
        assert not consents.is_in_force(session, given.id) and consents.is_in_force(session, other.id)


def test_every_admin_page_renders(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub)
    sign_in(client, admin)
    for path in (
        "/console",
        "/console/departments",
        "/console/clients",
        "/console/grants",
        "/console/service-items",
        "/console/alerts?status=acknowledged",
        "/console/audit",
        "/console/audit?since=2020-01-01&action=lookup",
    ):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert '<html lang="zh-CN">' in page.text
    bad_filter = client.get("/console/audit?since=yesterday")
    assert bad_filter.status_code == 422 and "<code>since</code>" in bad_filter.text
