"""Small helpers of the access tests: problem bodies, admin headers and the token endpoint."""

from __future__ import annotations

import itertools
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from hub.access import service
from hub.access.models import Admin
from hub.access.schemas import AdminCreate
from hub.context import Hub
from storage.database import transaction
from tests.factories import ID_CARD, mint_admin_token

PASSWORD = "correct horse battery"  # the factories' admin password
PROBLEM_JSON = "application/problem+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 body of ``response``, after checking its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def problem_fields(response: httpx.Response, status: int) -> list[str]:
    """The fields a problem's ``errors`` names."""
    return [error["field"] for error in problem(response, status).get("errors", [])]


def bearer(hub: Hub, admin: Admin) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_admin_token(hub, admin)}"}


def token_with_secret(client: TestClient, client_id: str, secret: str, scope: str) -> httpx.Response:
    """A client_credentials request with client_secret_post (RFC 6749 §2.3.1)."""
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": scope,
        },
    )


def token_with_assertion(
    client: TestClient, hub: Hub, client_id: str, key: ECKey, scope: str
) -> httpx.Response:
    """A client_credentials request authenticated by a fresh private_key_jwt assertion (RFC 7523 §2.2)."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": hub.settings.public_url + "/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    assertion = jwt.encode({"alg": "ES256", "kid": key.kid or key.thumbprint()}, claims, key)
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            "scope": scope,
        },
    )


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def service_client(client: TestClient, headers: dict[str, str], region: str = "410100") -> dict[str, Any]:
    """An approval-service client with a secret (client_secret_post), created through the admin API."""
    response = client.post(
        "/v1/admin/clients",
        json={
            "name": "审批系统",
            "kind": "service",
            "region_code": region,
            "organisation": "政务服务办公室",
            "auth_method": "client_secret_post",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def grant_body(client_id: str, type_code: str = ID_CARD, tier: int = 2, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "type_code": type_code,
        "max_tier": tier,
        "purposes": ["*"],
        "region_code": "410100",
        "valid_until": in_days(30),
        "legal_basis": "《郑州市政务信息资源共享管理办法》",
        **overrides,
    }


def request_grant(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/admin/grants", json=body, headers=headers)
    assert response.status_code == 201, response.text
    grant: dict[str, Any] = response.json()
    return grant


_serials = itertools.count(1)


def make_admin(hub: Hub, region: str = "410100", role: str = "admin") -> Admin:
    """An admin who signs in upstream (OIDC): no password hash to compute, which keeps the tests quick.
    Tests of password sign-in use ``tests.factories.create_admin``."""
    serial = next(_serials)
    data = AdminCreate(
        username=f"{role}-{region}-{serial}",
        display_name=f"{role} of {region}",
        role=role,  # type: ignore[arg-type]
        region_code=region,
        password=None,
        oidc_issuer="https://id.zhengzhou.example",
        oidc_subject=f"{role}-{serial}",
    )
    with transaction(hub.session_factory) as session:
        return service.create_admin(session, data, by=None)
