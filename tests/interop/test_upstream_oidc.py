"""Citizen sign-in through the city's OpenID Connect provider (hub/oauth/signin.py).

The provider is a system the hub does not run, so it is faked behind an ``httpx.MockTransport`` handed to
Authlib's client (``signin.upstream_transport``): discovery document, JWKS and a token endpoint that
returns an ES256 ID token with the configured ID-number claim and the nonce of the authorization
request. The hub runs outside demo mode, so no dev sign-in form exists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from hub.demo_data import citizen_id
from hub.web import signin
from tests.factories import seed_catalog
from tests.interop.browser import ApprovalService, Browser, form_csrf, local_target, query_of
from tests.interop.live import LiveHub

ISSUER = "https://id.example"
CLIENT_ID = "licence-hub"
CLIENT_SECRET = "provider-issued-secret"
ID_NUMBER = citizen_id(random.Random(5))


@dataclass
class PendingCode:
    nonce: str
    challenge: str
    redirect_uri: str


@dataclass
class FakeProvider:
    """Just enough of an OpenID Connect provider (OIDC Core §3.1, Discovery §4) for one sign-in."""

    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", private=True, auto_kid=True))
    codes: dict[str, PendingCode] = field(default_factory=dict)
    #: Changes to the next ID token's claims (a value of None removes the claim).
    claims: dict[str, Any] = field(default_factory=dict)
    signing_key: ECKey | None = None
    #: When set, the token endpoint fails this way (a network error, or an answer that is not JSON).
    token_failure: Exception | httpx.Response | None = None
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": ISSUER + "/authorize",
                    "token_endpoint": ISSUER + "/token",
                    "jwks_uri": ISSUER + "/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["ES256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if request.method == "GET" and path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if request.method == "POST" and path == "/token":
            if isinstance(self.token_failure, Exception):
                raise self.token_failure
            return self.token_failure or self.token(request)
        return httpx.Response(404)

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        self.token_requests.append(form)
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, json={"error": "invalid_client"})
        pending = self.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (
            pending is None
            or pending.challenge != challenge
            or pending.redirect_uri != form.get("redirect_uri")
        ):
            return httpx.Response(400, json={"error": "invalid_grant"})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": "user-0001",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": pending.nonce,
            "id_number": ID_NUMBER,
            **self.claims,
        }
        claims = {key: value for key, value in claims.items() if value is not None}
        id_token = jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, self.signing_key or self.key)
        return httpx.Response(
            200,
            json={
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
        )

    def authorize(self, location: str) -> str:
        """The citizen signs in at the provider; returns the hub callback URL the browser goes back to."""
        assert location.startswith(ISSUER + "/authorize?"), location
        params = query_of(location)
        assert params["response_type"] == "code"
        assert params["client_id"] == CLIENT_ID
        assert "openid" in params["scope"].split()
        assert params["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(12)
        self.codes[code] = PendingCode(params["nonce"], params["code_challenge"], params["redirect_uri"])
        return params["redirect_uri"] + "?" + urlencode({"code": code, "state": params["state"]})


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    fake = FakeProvider()
    monkeypatch.setattr(signin, "upstream_transport", httpx.MockTransport(fake.handle))
    return fake


@pytest.fixture
def live(serve: Callable[..., LiveHub], provider: FakeProvider) -> LiveHub:
    started = serve(oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET)
    seed_catalog(started.hub)
    return started


def to_provider(browser: Browser, next_path: str) -> str:
    """Follow the hub's sign-in redirects up to the provider; returns the provider's authorize URL."""
    to_sign_in = local_target(browser.get("/oauth/sign-in?" + urlencode({"next": next_path})))
    assert to_sign_in.startswith("/oauth/sign-in/oidc?")
    response = browser.get(to_sign_in)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def callback(browser: Browser, live: LiveHub, url: str) -> httpx.Response:
    assert url.startswith(live.url + "/oauth/sign-in/oidc/callback?")
    return browser.get(url.removeprefix(live.url))


def assert_signed_out(browser: Browser, service: ApprovalService) -> None:
    assert "citizen" not in json.loads(browser.session_cookie() or "{}")
    assert local_target(browser.get(service.request().path())).startswith("/oauth/sign-in?")


def test_provider_sign_in_then_consent_outside_demo_mode(
    live: LiveHub, service: ApprovalService, browser: Browser, provider: FakeProvider
) -> None:
    assert live.hub.settings.demo is False
    request = service.request()
    to_sign_in = local_target(browser.get(request.path()))
    assert to_sign_in.startswith("/oauth/sign-in?")
    at_provider = to_provider(browser, query_of(to_sign_in)["next"])
    assert query_of(at_provider)["redirect_uri"] == live.url + "/oauth/sign-in/oidc/callback"

    signed = callback(browser, live, provider.authorize(at_provider))
    assert local_target(signed) == request.path()
    assert ID_NUMBER not in browser.session_cookie()
    assert provider.token_requests[0]["grant_type"] == "authorization_code"

    page = browser.get(request.path())
    assert page.status_code == 200, page.text
    approved = browser.post(request.path(), {"csrf": form_csrf(page.text), "decision": "approve"})
    assert approved.status_code == 302, approved.text
    returned = query_of(approved.headers["location"])
    assert returned["state"] == request.state
    exchanged = service.exchange(returned["code"], request.verifier)
    assert exchanged.status_code == 200, exchanged.text
    claims = service.verify(exchanged.json()["access_token"])
    assert claims["sub"] == "citizen:" + live.hub.blind_index.of("person", ID_NUMBER)


@pytest.mark.parametrize(
    "tamper",
    [
        {"claims": {"nonce": "not-the-nonce"}},
        {"signing_key": ECKey.generate_key("P-256", private=True)},  # the provider's kid, another key
        {"claims": {"id_number": None}},
        {"claims": {"id_number": ID_NUMBER[:-1] + ("0" if ID_NUMBER[-1] != "0" else "1")}},
        {"claims": {"aud": "another-client"}},
        {"claims": {"iss": "https://other-idp.example"}},
        {"claims": {"exp": int(time.time()) - 3600}},
    ],
    ids=[
        "wrong-nonce",
        "bad-signature",
        "no-id-number",
        "invalid-id-number",
        "wrong-audience",
        "wrong-issuer",
        "expired",
    ],
)
def test_untrustworthy_id_token_is_401_and_no_session(
    live: LiveHub, service: ApprovalService, browser: Browser, provider: FakeProvider, tamper: dict[str, Any]
) -> None:
    for name, value in tamper.items():
        setattr(provider, name, value)
    response = callback(browser, live, provider.authorize(to_provider(browser, "/")))
    assert response.status_code == 401, response.text
    assert "location" not in response.headers
    assert ID_NUMBER not in response.text
    assert_signed_out(browser, service)


def test_callback_without_a_sign_in_of_this_browser_is_refused(
    live: LiveHub, service: ApprovalService, browser: Browser, provider: FakeProvider
) -> None:
    # A callback URL made for another browser (login CSRF): its state is not in this browser's session.
    other = Browser(live)
    try:
        url = provider.authorize(to_provider(other, "/"))
    finally:
        other.close()
    response = callback(browser, live, url)
    assert response.status_code == 401
    assert provider.token_requests == []  # the code was never redeemed
    assert_signed_out(browser, service)


def test_provider_error_is_401(live: LiveHub, service: ApprovalService, browser: Browser) -> None:
    state = query_of(to_provider(browser, "/"))["state"]
    response = browser.get(
        "/oauth/sign-in/oidc/callback?" + urlencode({"error": "access_denied", "state": state})
    )
    assert response.status_code == 401
    assert_signed_out(browser, service)


def test_unreachable_provider_is_503_not_500(
    live: LiveHub, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(signin, "upstream_transport", httpx.MockTransport(refuse))
    response = browser.get("/oauth/sign-in/oidc?next=/")
    assert response.status_code == 503
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.Response(502, text="<html>Bad gateway</html>")],
    ids=["connection-refused", "not-json"],
)
def test_token_endpoint_failure_is_503_and_no_session(
    live: LiveHub,
    service: ApprovalService,
    browser: Browser,
    provider: FakeProvider,
    failure: Exception | httpx.Response,
) -> None:
    provider.token_failure = failure
    response = callback(browser, live, provider.authorize(to_provider(browser, "/")))
    assert response.status_code == 503
    assert_signed_out(browser, service)


def test_sign_in_start_never_leaves_for_another_site(
    live: LiveHub, browser: Browser, provider: FakeProvider
) -> None:
    signed = callback(browser, live, provider.authorize(to_provider(browser, "https://evil.example/")))
    assert local_target(signed) == "/"
    assert urlsplit(signed.headers["location"]).netloc == ""
