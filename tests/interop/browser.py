"""A browser and an approval service, as the authorization-code flow (DESIGN 5.3) sees them.

The browser keeps cookies and never follows redirects by itself, so each test sees every hop. The
approval service is a confidential client with a redirect URI the hub never calls: the test reads the
``Location`` header instead.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc.jwk import ECKey

from tests.factories import HOUSEHOLD, ID_CARD, create_admin, create_client, create_grant
from tests.interop.discovery import DiscoveryClient
from tests.interop.live import LiveHub

REDIRECT_URI = "https://client.example/cb"
LOOPBACK_URI = "http://127.0.0.1/cb"  # a native app's; RFC 8252 §7.3: any port at request time
PURPOSE = "MZCFBG"  # a seeded service item (民族成分变更)
CASE_ID = "ZZ-2026-000123"
SCOPE = f"licence:{ID_CARD}:t1 licence:{HOUSEHOLD}:t2"
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')


def form_csrf(page: str) -> str:
    """The CSRF token a page's form carries, as the browser would submit it."""
    match = CSRF_INPUT.search(page)
    assert match, "the page has no CSRF field"
    return html.unescape(match.group(1))


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def local_target(response: httpx.Response) -> str:
    """The path and query a redirect sends the browser to, asserting it stays on this site."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location
    return location


@dataclass
class AuthorizationRequest:
    """One authorization request (RFC 6749 §4.1.1) with PKCE S256 (RFC 7636 §4.1–4.2)."""

    client_id: str
    scope: str = SCOPE
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def params(self, **overrides: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": self.scope,
            "state": self.state,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            "purpose": PURPOSE,
            "case_id": CASE_ID,
            **self.extra,
            **overrides,
        }
        return {key: value for key, value in params.items() if value is not None}

    def path(self, **overrides: str | None) -> str:
        return "/oauth/authorize?" + urlencode(self.params(**overrides))


@dataclass
class ApprovalService:
    """A confidential client (private_key_jwt, through the discovery client) with grants on two types."""

    client: DiscoveryClient
    name: str

    @classmethod
    def register(cls, live: LiveHub) -> ApprovalService:
        admin = create_admin(live.hub)
        key = ECKey.generate_key("P-256", private=True, auto_kid=True)
        row = create_client(
            live.hub,
            auth_method="private_key_jwt",
            jwks={"keys": [key.as_dict(private=False)]},
            redirect_uris=[REDIRECT_URI, LOOPBACK_URI],
            by=admin,
        )
        create_grant(live.hub, row.client_id, ID_CARD, max_tier=1, by=admin)
        create_grant(live.hub, row.client_id, HOUSEHOLD, max_tier=2, by=admin)
        http = httpx.Client(timeout=10)
        return cls(DiscoveryClient(http, live.url, row.client_id, "private_key_jwt", key=key), row.row.name)

    @property
    def client_id(self) -> str:
        return self.client.client_id

    def close(self) -> None:
        self.client.http.close()

    def request(self, **kwargs: Any) -> AuthorizationRequest:
        return AuthorizationRequest(self.client_id, **kwargs)

    def exchange(self, code: str, verifier: str) -> httpx.Response:
        """The token request of RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5)."""
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        return self.client.post("token_endpoint", {**data, "code_verifier": verifier})

    def introspect(self, token: str) -> dict[str, Any]:
        response = self.client.post("introspection_endpoint", {"token": token})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, checked with the hub's published keys."""
        return self.client.verify(token)


class Browser:
    """A citizen's browser: cookies kept, redirects shown to the test."""

    def __init__(self, live: LiveHub) -> None:
        self.live = live
        self.http = httpx.Client(base_url=live.url, follow_redirects=False, timeout=10)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.http.post(path, data=data)

    def dev_sign_in(self, next_path: str, id_number: str) -> httpx.Response:
        """Fill in the demo sign-in form that ``next_path``'s sign-in page shows."""
        page = self.get("/oauth/sign-in?" + urlencode({"next": next_path}))
        assert page.status_code == 200, page.text
        return self.post(
            "/oauth/sign-in", {"id_number": id_number, "csrf": form_csrf(page.text), "next": next_path}
        )

    def consent(self, request: AuthorizationRequest, decision: str) -> httpx.Response:
        """Open the consent page of a signed-in citizen and press Allow (approve) or Refuse (deny)."""
        page = self.get(request.path())
        assert page.status_code == 200, page.text
        return self.post(request.path(), {"csrf": form_csrf(page.text), "decision": decision})

    def session_cookie(self) -> str:
        """What the session cookie carries, decoded (Starlette signs it but does not encrypt it)."""
        value = self.http.cookies.get("hub_session") or ""
        payload = value.split(".")[0]
        return base64.b64decode(payload + "=" * (-len(payload) % 4)).decode()
