"""An OAuth client written with httpx and joserfc only, never Authlib (which the hub is built on).

It is given the issuer URL and its credentials and reads everything else from the RFC 8414 metadata
document: client authentication per RFC 6749 §2.3.1 (client_secret_basic, client_secret_post) or
RFC 7523 (private_key_jwt), and access tokens checked as RFC 9068 JWTs against ``jwks_uri``.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from joserfc.jwt import JWTClaimsRegistry

METADATA_PATH = "/.well-known/oauth-authorization-server"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class DiscoveryClient:
    """An OAuth client that knows its issuer URL and credentials, and nothing else about the hub."""

    def __init__(
        self,
        http: httpx.Client,
        issuer: str,
        client_id: str,
        method: str,
        *,
        secret: str | None = None,
        key: ECKey | None = None,
    ) -> None:
        self.http = http
        self.client_id = client_id
        self.method = method
        self.secret = secret
        self.key = key
        response = http.get(issuer + METADATA_PATH)
        assert response.status_code == 200, response.text
        self.metadata: dict[str, Any] = response.json()
        assert self.metadata["issuer"] == issuer  # RFC 8414 §3.3
        assert method in self.metadata["token_endpoint_auth_methods_supported"]

    def assertion(self, audience: str, *, signing_key: ECKey | None = None, **overrides: Any) -> str:
        """An RFC 7523 §3 client assertion: iss = sub = client_id, one-time jti, short expiry."""
        assert self.key is not None
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 60,
            **overrides,
        }
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, signing_key or self.key)

    def post(self, endpoint: str, data: dict[str, str], *, assertion: str | None = None) -> httpx.Response:
        """POST ``data`` to the endpoint the metadata names, authenticated the client's way."""
        url = self.metadata[endpoint]
        headers = {}
        if self.method == "client_secret_basic":
            # RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and encoded.
            pair = f"{quote(self.client_id, safe='')}:{quote(self.secret or '', safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif self.method == "client_secret_post":
            data = {**data, "client_id": self.client_id, "client_secret": self.secret or ""}
        else:
            data = {
                **data,
                "client_id": self.client_id,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion or self.assertion(url),
            }
        return self.http.post(url, data=data, headers=headers)

    def token(self, scope: str, **kwargs: Any) -> httpx.Response:
        return self.post("token_endpoint", {"grant_type": "client_credentials", "scope": scope}, **kwargs)

    def verify(self, access_token: str) -> dict[str, Any]:
        """Check an access token as a resource server would, with the keys at ``jwks_uri``."""
        jwks = self.http.get(self.metadata["jwks_uri"]).json()
        token = jwt.decode(access_token, KeySet.import_key_set(jwks), algorithms=["ES256"])
        assert token.header["typ"] == "at+jwt"  # RFC 9068 §2.1
        JWTClaimsRegistry(
            iss={"essential": True, "value": self.metadata["issuer"]},
            aud={"essential": True, "value": self.metadata["issuer"]},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
            client_id={"essential": True, "value": self.client_id},
        ).validate(token.claims)
        return dict(token.claims)
