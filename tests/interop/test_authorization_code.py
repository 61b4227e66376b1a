"""Prefill with consent (DESIGN 5.3): authorization code with PKCE S256, as a browser drives it.

The hub runs in demo mode, where the dev sign-in page stands in for the city's identity provider (the
upstream provider has its own tests in ``test_upstream_oidc.py``).
"""

from __future__ import annotations

import html
import json
import random
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from hub.demo_data import citizen_id
from tests.factories import HOUSEHOLD, ID_CARD, MARRIAGE, TYPES, seed_catalog
from tests.interop.browser import (
    CASE_ID,
    LOOPBACK_URI,
    PURPOSE,
    REDIRECT_URI,
    ApprovalService,
    AuthorizationRequest,
    Browser,
    form_csrf,
    local_target,
    query_of,
)
from tests.interop.live import LiveHub

ID_NUMBER = citizen_id(random.Random(3))


@pytest.fixture
def live(serve: Callable[..., LiveHub]) -> LiveHub:
    started = serve(demo=True)
    seed_catalog(started.hub)
    return started


@pytest.fixture
def signed_in(browser: Browser) -> Browser:
    """A browser whose citizen signed in with the dev form."""
    signed = browser.dev_sign_in("/", ID_NUMBER)
    assert local_target(signed) == "/"
    return browser


def approved_code(browser: Browser, request: AuthorizationRequest) -> str:
    response = browser.consent(request, "approve")
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    returned = query_of(response.headers["location"])
    assert returned["state"] == request.state
    return returned["code"]


def test_code_flow_as_a_browser_drives_it(live: LiveHub, service: ApprovalService, browser: Browser) -> None:
    request = service.request()

    # Not signed in: the authorization endpoint sends the browser to the sign-in page, then back.
    to_sign_in = local_target(browser.get(request.path()))
    assert to_sign_in.startswith("/oauth/sign-in?")
    form = browser.get(to_sign_in)
    assert form.status_code == 200
    assert "演示" in form.text and "demonstrations only" in form.text
    signed = browser.post(
        "/oauth/sign-in",
        {"id_number": ID_NUMBER, "csrf": form_csrf(form.text), "next": query_of(to_sign_in)["next"]},
    )
    back = local_target(signed)
    assert back == request.path()
    assert ID_NUMBER not in browser.session_cookie()

    # The consent page says exactly what goes to whom and why.
    page = browser.get(back)
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert service.name in text
    for code, tier in ((ID_CARD, 1), (HOUSEHOLD, 2)):
        assert f"{TYPES[code]['name_zh']} · {TYPES[code]['name_en']}</h2>" in text
        for spec in TYPES[code]["fields"]:
            shown = f"<td>{spec['label_zh']} · {spec['label_en']}</td>" in text
            shared_label = spec["label_zh"] in ("姓名", "公民身份号码", "性别", "民族", "出生日期")
            assert shown == (spec["tier"] <= tier) or shared_label, spec
    assert "照片 · photo" not in text  # the ID card's T3 photo is above the T1 asked for
    assert PURPOSE in text and CASE_ID in text
    approved = browser.post(back, {"csrf": form_csrf(page.text), "decision": "approve"})
    assert approved.status_code == 302, approved.text
    assert approved.headers["location"].startswith(REDIRECT_URI + "?")
    returned = query_of(approved.headers["location"])
    assert returned["state"] == request.state

    exchanged = service.exchange(returned["code"], request.verifier)
    assert exchanged.status_code == 200, exchanged.text
    body = exchanged.json()
    assert body["scope"] == request.scope
    assert ID_NUMBER not in exchanged.text
    claims = service.verify(body["access_token"])
    assert claims["sub"] == "citizen:" + live.hub.blind_index.of("person", ID_NUMBER)
    assert ID_NUMBER not in json.dumps(claims)
    assert claims["client_id"] == service.client_id
    assert (claims["purpose"], claims["case_id"], claims["scope"]) == (PURPOSE, CASE_ID, request.scope)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge_method": None}, "S256"),
        ({"code_challenge": None, "code_challenge_method": None}, "PKCE is required"),
    ],
    ids=["plain", "method-missing", "challenge-missing"],
)
def test_pkce_s256_is_required(
    signed_in: Browser, service: ApprovalService, overrides: dict[str, str | None], reason: str
) -> None:
    request = service.request()
    response = signed_in.get(request.path(**overrides))
    # RFC 7636 §4.4.1: the authorization error response, back at the client's redirect URI.
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    returned = query_of(response.headers["location"])
    assert returned["error"] == "invalid_request"
    assert reason in returned["error_description"]
    assert returned["state"] == request.state
    assert "code" not in returned


def test_wrong_code_verifier_is_invalid_grant(signed_in: Browser, service: ApprovalService) -> None:
    request = service.request()
    code = approved_code(signed_in, request)
    refused = service.exchange(code, AuthorizationRequest(service.client_id).verifier)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_code_used_twice_is_invalid_grant_and_revokes_the_token(
    signed_in: Browser, service: ApprovalService
) -> None:
    request = service.request()
    code = approved_code(signed_in, request)
    first = service.exchange(code, request.verifier)
    assert first.status_code == 200, first.text
    token = first.json()["access_token"]
    assert service.introspect(token)["active"] is True

    second = service.exchange(code, request.verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: a code used twice should revoke what was issued with it.
    assert service.introspect(token) == {"active": False}


def test_refusing_on_the_consent_page_returns_access_denied(
    signed_in: Browser, service: ApprovalService
) -> None:
    request = service.request()
    response = signed_in.consent(request, "deny")
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    returned = query_of(response.headers["location"])
    assert returned["error"] == "access_denied"
    assert returned["state"] == request.state
    assert "code" not in returned


def test_consent_without_csrf_is_refused(signed_in: Browser, service: ApprovalService) -> None:
    request = service.request()
    assert signed_in.get(request.path()).status_code == 200
    for data in ({"decision": "approve"}, {"decision": "approve", "csrf": "forged"}):
        response = signed_in.post(request.path(), data)
        assert response.status_code == 403
        assert "location" not in response.headers


def test_uncovered_scope_returns_invalid_scope(signed_in: Browser, service: ApprovalService) -> None:
    uncovered = f"licence:{MARRIAGE}:t1"
    request = service.request(scope=f"licence:{ID_CARD}:t1 {uncovered}")
    response = signed_in.get(request.path())
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    returned = query_of(response.headers["location"])
    assert returned["error"] == "invalid_scope"
    assert uncovered in returned["error_description"]
    assert "code" not in returned


def test_error_redirects_of_the_hub_s_own_checks_keep_state(
    signed_in: Browser, service: ApprovalService
) -> None:
    request = service.request(scope=f"licence:{MARRIAGE}:t1")
    returned = query_of(signed_in.get(request.path()).headers["location"])
    assert returned["error"] == "invalid_scope"
    assert returned.get("state") == request.state


def test_missing_purpose_or_case_returns_invalid_request(
    signed_in: Browser, service: ApprovalService
) -> None:
    request = service.request()
    for missing in ("purpose", "case_id"):
        response = signed_in.get(request.path(**{missing: None}))
        assert response.status_code == 302, response.text
        assert query_of(response.headers["location"])["error"] == "invalid_request"
    # Prose outside printable ASCII never reaches the client (a 422 page, tests/limits); inside it, an
    # error back to the client naming the rule.
    for prose in ("ZZ 1", "ZZ;1", "Z" * 65):
        returned = query_of(signed_in.get(request.path(case_id=prose)).headers["location"])
        assert returned["error"] == "invalid_request"
        assert "case_id: a case id is 1 to 64 characters" in returned["error_description"]
    holding = query_of(signed_in.get(request.path(case_id=f"ZZ-{ID_NUMBER}")).headers["location"])
    assert holding["error"] == "invalid_request" and "citizen ID number" in holding["error_description"]


@pytest.mark.parametrize(
    "overrides",
    [{"redirect_uri": "https://evil.example/cb"}, {"client_id": "svc-unknown"}],
    ids=["unknown-redirect-uri", "unknown-client"],
)
def test_untrusted_redirect_gets_an_error_page_never_a_redirect(
    signed_in: Browser, service: ApprovalService, overrides: dict[str, str]
) -> None:
    response = signed_in.get(service.request().path(**overrides))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://client.example:443/cb",
        "https://client.example/cb?x=1",
        "https://client.example/cb/",
        "https://CLIENT.example/cb",
        "http://127.0.0.1.evil.example:53127/cb",
        "http://127.0.0.1@evil.example/cb",
        "http://127.0.0.1:53127/cb/other",
        "https://127.0.0.1:53127/cb",
        "http://localhost:53127/cb",
    ],
)
def test_redirect_uris_match_exactly_never_by_prefix(
    signed_in: Browser, service: ApprovalService, redirect_uri: str
) -> None:
    """RFC 9700 §4.1.1: exact string matching; no prefix, no case folding, no default-port folding."""
    response = signed_in.get(service.request().path(redirect_uri=redirect_uri))
    assert response.status_code == 400, response.text
    assert "location" not in response.headers


def test_a_loopback_redirect_uri_matches_with_any_port(signed_in: Browser, service: ApprovalService) -> None:
    """RFC 8252 §7.3: a native app listens on whatever port it got; the registered URI has none."""
    on_port = LOOPBACK_URI.replace("127.0.0.1", "127.0.0.1:53127")
    request = service.request()
    page = signed_in.get(request.path(redirect_uri=on_port))
    assert page.status_code == 200, page.text
    approved = signed_in.post(
        request.path(redirect_uri=on_port), {"csrf": form_csrf(page.text), "decision": "approve"}
    )
    assert approved.status_code == 302, approved.text
    assert approved.headers["location"].startswith(on_port + "?")


def test_invalid_id_number_is_422_with_a_message(live: LiveHub, browser: Browser) -> None:
    wrong_check = ID_NUMBER[:-1] + ("0" if ID_NUMBER[-1] != "0" else "1")
    response = browser.dev_sign_in("/", wrong_check)
    assert response.status_code == 422
    assert "wrong check character" in html.unescape(response.text)
    assert form_csrf(response.text)  # the form is shown again, ready for another try
    assert "citizen" not in browser.session_cookie()


OFF_SITE = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
]


def test_sign_in_never_redirects_off_site(live: LiveHub, browser: Browser) -> None:
    for target in OFF_SITE:
        page = browser.get("/oauth/sign-in?" + urlencode({"next": target}))
        assert page.status_code == 200
        assert 'name="next" value="/"' in page.text, target
        signed = browser.post(
            "/oauth/sign-in", {"id_number": ID_NUMBER, "csrf": form_csrf(page.text), "next": target}
        )
        assert local_target(signed) == "/", target


def test_dev_sign_in_without_csrf_is_refused(live: LiveHub, browser: Browser) -> None:
    browser.get("/oauth/sign-in")
    response = browser.post("/oauth/sign-in", {"id_number": ID_NUMBER, "next": "/"})
    assert response.status_code == 403
    assert "citizen" not in browser.session_cookie()


def test_dev_sign_in_is_refused_outside_demo_mode(serve: Callable[..., LiveHub]) -> None:
    production = serve()
    seed_catalog(production.hub)
    service = ApprovalService.register(production)
    browser = Browser(production)
    try:
        request = service.request()
        to_sign_in = local_target(browser.get(request.path()))
        page = browser.get(to_sign_in)
        assert page.status_code == 503  # no identity provider configured, and no dev form
        assert "id_number" not in page.text
        response = browser.post("/oauth/sign-in", {"id_number": ID_NUMBER, "csrf": "x", "next": "/"})
        assert response.status_code == 404
        assert "location" not in response.headers
        assert local_target(browser.get(request.path())).startswith("/oauth/sign-in?")  # still signed out
    finally:
        browser.close()
        service.close()
