"""The adapter's HTTP client for the hub: how it finds the hub's endpoints, authenticates and retries.

- Discovery: the token endpoint comes from the RFC 8414 metadata at
  ``/.well-known/oauth-authorization-server``.
- Authentication: client credentials with ``private_key_jwt`` (RFC 7523 §2.2) through Authlib's httpx
  client; the token is fetched again shortly before it expires (tokens live five minutes).
- Retries (``adapters.sdk.retry``): network errors, 5xx and 429, bounded, with backoff; never other 4xx.
- Cached: licence types (``GET /v1/licence-types/{code}``), departments and the hub's JWKS.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning

from adapters.sdk.keys import PrivateKey
from adapters.sdk.retry import HubUnavailable, RetryableStatus, RetryPolicy, is_retryable, send_with_retries

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 package and warns when it falls back to httpx; httpx is what we use.
    warnings.filterwarnings(
        "ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning
    )
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

METADATA_PATH = "/.well-known/oauth-authorization-server"
PUSH_SCOPE = "licences.push"
ASSERTION_LIFETIME_S = 60
TOKEN_REFRESH_MARGIN_S = 90  # fetch a new token when less than this is left (Authlib's own leeway is 60)

__all__ = [
    "FeedConflict",
    "FeedCursor",
    "HubClient",
    "HubRefused",
    "HubUnavailable",
]


class HubRefused(Exception):
    """The hub answered 4xx: the request itself is wrong, so it is not sent again."""

    def __init__(self, status: int, problem: dict[str, Any], what: str) -> None:
        detail = problem.get("detail") or problem.get("error_description") or problem.get("title") or ""
        super().__init__(f"{what}: HTTP {status} {problem.get('error') or ''} {detail}".strip())
        self.status = status
        self.problem = problem


class FeedConflict(HubRefused):
    """409 from the batch endpoint: a sequence gap, or the sequence was used by a different batch."""

    @property
    def expected_sequence(self) -> int | None:
        value = self.problem.get("expected_sequence")
        return value if isinstance(value, int) else None


@dataclass(frozen=True)
class FeedCursor:
    department: str
    last_sequence: int
    next_status_index: dict[int, int]


class _ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """RFC 7523 client assertion, valid one minute, with a fresh ``jti`` and the key's ``kid``.

    Authlib's own PrivateKeyJWT signs assertions valid for an hour (the hub refuses more than ten
    minutes) and, when given claims, keeps the first ``jti`` in them for every later assertion."""

    def __init__(self, token_endpoint: str, key: PrivateKey) -> None:
        super().__init__(token_endpoint, alg=key.alg)
        self.kid = key.kid

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            private_key_jwt_sign(
                auth.client_secret,
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                alg=self.alg,
                header={"kid": self.kid},
                expires_in=ASSERTION_LIFETIME_S,
            )
        )


def _raise_if_retryable(response: httpx.Response) -> httpx.Response:
    """Authlib hook on token responses: let the retry loop see 5xx / 429 before Authlib parses them."""
    if is_retryable(response.status_code):
        response.read()
        raise RetryableStatus(response)
    return response


class HubClient:
    """Talks to one hub as one department client. Public catalog calls need no credentials."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_key: PrivateKey | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._client_key = client_key
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._http = OAuth2Client(
            client_id=client_id,
            client_secret=client_key.key if client_key else None,
            scope=PUSH_SCOPE,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "licence-hub-adapter/0.1"},
        )
        self._http.register_compliance_hook("access_token_response", _raise_if_retryable)
        self._metadata: dict[str, Any] | None = None
        self._types: dict[str, dict[str, Any]] = {}
        self._departments: dict[str, dict[str, Any]] | None = None
        self._jwks: dict[str, Any] | None = None
        self.token_fetches = 0
        self._token_expires_at = 0.0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plain requests --------------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, what: str, *, auth: bool = False, **kwargs: Any
    ) -> httpx.Response:
        url = path if path.startswith("http") else self.base_url + path

        def send() -> httpx.Response:
            if auth:
                self._ensure_token()
                return self._http.request(method, url, **kwargs)
            return self._http.request(method, url, withhold_token=True, **kwargs)

        response = send_with_retries(send, policy=self.retry, sleep=self._sleep, what=what)
        if auth and response.status_code == 401:
            # The token was refused (revoked, or the hub's keys rotated): authenticate once more.
            self._http.token = None
            response = send_with_retries(send, policy=self.retry, sleep=self._sleep, what=what)
        return response

    def _get_json(self, path: str, what: str, *, auth: bool = False) -> Any:
        response = self._send("GET", path, what, auth=auth)
        if response.status_code >= 400:
            raise HubRefused(response.status_code, _problem(response), what)
        return response.json()

    # -- discovery and catalog -------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata (cached)."""
        if self._metadata is None:
            self._metadata = self._get_json(METADATA_PATH, "authorization server metadata")
        return self._metadata

    @property
    def public_url(self) -> str:
        """The hub's public base URL (its ``issuer``), which status list URIs are built on."""
        return str(self.metadata()["issuer"]).rstrip("/")

    def licence_type(self, code: str) -> dict[str, Any]:
        """A catalog licence type with each field's tier, kind and whether it is required (cached)."""
        if code not in self._types:
            self._types[code] = self._get_json(f"/v1/licence-types/{code}", f"licence type {code}")
        return self._types[code]

    def department(self, department_id: str) -> dict[str, Any]:
        """A department as the hub registered it: ``id``, ``kind``, ``uscc``, ``issuer`` (cached)."""
        if self._departments is None:
            listing = self._get_json("/v1/departments", "departments")
            self._departments = {d["id"]: d for d in listing}
        if department_id not in self._departments:
            raise HubRefused(404, {"detail": f"the hub has no department {department_id!r}"}, "department")
        return self._departments[department_id]

    def department_keys(self, department_id: str) -> list[dict[str, Any]]:
        """The department's registered public keys, each with its ``status`` (active / retired)."""
        return list(self._get_json(f"/v1/departments/{department_id}/jwks", "department keys")["keys"])

    def holder_jwk(self) -> dict[str, Any]:
        """The hub key credentials are bound to (``cnf``), from ``/.well-known/jwks.json`` (cached)."""
        if self._jwks is None:
            self._jwks = self._get_json("/.well-known/jwks.json", "hub JWKS")
        keys = self._jwks.get("keys") or []
        if not keys:
            raise HubRefused(500, {"detail": "the hub publishes no keys"}, "hub JWKS")
        return dict(keys[0])

    # -- the department feed ---------------------------------------------------------------------------

    @property
    def can_authenticate(self) -> bool:
        return bool(self.client_id and self._client_key)

    def feed_cursor(self, department_id: str) -> FeedCursor:
        """Where the hub's feed of this department stands (``GET /v1/feeds/{department}/cursor``, with
        the department's push token)."""
        data = self._get_json(f"/v1/feeds/{department_id}/cursor", "feed cursor", auth=True)
        return FeedCursor(
            department=data["department"],
            last_sequence=int(data["last_sequence"]),
            next_status_index={int(k): int(v) for k, v in (data.get("next_status_index") or {}).items()},
        )

    def push_batch(self, body: str) -> dict[str, Any]:
        """``POST /v1/licences/batch`` with the exact JSON text kept in the outbox; returns the result.

        Sent again on network errors, 5xx and 429: the hub answers a sequence it already accepted with
        the stored result (``replayed: true``). Raises :class:`FeedConflict` on 409, :class:`HubRefused`
        on other 4xx, :class:`HubUnavailable` when attempts run out."""
        response = self._send(
            "POST",
            "/v1/licences/batch",
            "push batch",
            auth=True,
            content=body.encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        if response.status_code == 409:
            raise FeedConflict(409, _problem(response), "push batch")
        if response.status_code >= 400:
            raise HubRefused(response.status_code, _problem(response), "push batch")
        return dict(response.json())

    # -- tokens ----------------------------------------------------------------------------------------

    def _ensure_token(self) -> None:
        if self._http.token and self._token_expires_at - self._clock() > TOKEN_REFRESH_MARGIN_S:
            return
        if not self.client_id or self._client_key is None:
            raise HubRefused(401, {"detail": "a client id and client key are needed to push"}, "token")
        endpoint = self.metadata()["token_endpoint"]
        if "private_key_jwt" not in self.metadata().get("token_endpoint_auth_methods_supported", []):
            raise HubRefused(400, {"detail": "the hub does not offer private_key_jwt"}, "token")
        asked_at = self._clock()
        try:
            token = self._http.fetch_token(
                endpoint,
                grant_type="client_credentials",
                scope=PUSH_SCOPE,
                auth=self._http.client_auth(_ShortLivedPrivateKeyJWT(endpoint, self._client_key)),
            )
        except OAuthError as exc:
            raise HubRefused(
                400, {"error": exc.error, "error_description": exc.description}, "token"
            ) from None
        except httpx.HTTPStatusError as exc:
            raise HubRefused(exc.response.status_code, _problem(exc.response), "token") from None
        self._token_expires_at = asked_at + float(token.get("expires_in") or 0)
        self.token_fetches += 1


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The RFC 9457 problem (or RFC 6749 error) in a response, or its text."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return {"detail": response.text[:500]}
    return body if isinstance(body, dict) else {"detail": str(body)[:500]}
