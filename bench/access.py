"""Department adapters authenticate to push their feed: one OAuth client per department, registered while
seeding (as an operator would), and a ``licences.push`` token fetched over HTTP with client_credentials.

When the hub has no access module (older code) nothing is registered and batches go without a token."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from hub.context import Hub
from storage.database import transaction

log = logging.getLogger("bench.access")
PUSH_SCOPE = "licences.push"


def create_admin(session: Any, username: str, display_name: str, region_code: str = "410100") -> Any:
    """An admin of the region with a random password, as the operator creates one
    (``hub.access.service``); the username gets a random suffix, so that every phase registers its own."""
    from hub.access import service as access_service
    from hub.access.schemas import AdminCreate

    return access_service.create_admin(
        session,
        AdminCreate(
            username=f"{username}-{secrets.token_hex(4)}",
            display_name=display_name,
            role="admin",
            region_code=region_code,
            password=secrets.token_urlsafe(24),
        ),
        by=None,
    )


@dataclass
class PusherClient:
    department_id: str
    client_id: str
    secret: str
    minted: str | None = None  # a token minted at seeding, as the token endpoint would, for a fallback


def register_pushers(
    hub: Hub, department_ids: Iterable[str], region_code: str = "410100"
) -> list[PusherClient]:
    """A benchmark admin and one ``client_secret_basic`` department client per department."""
    try:
        from hub.access import service as access_service
        from hub.access.schemas import ClientCreate
    except ImportError:
        return []
    pushers = []
    with transaction(hub.session_factory) as session:
        admin = create_admin(session, "bench-admin", "Benchmark operator", region_code)
        for department_id in department_ids:
            client, secret = access_service.create_client(
                session,
                ClientCreate(
                    name=f"{department_id} adapter",
                    kind="department",
                    region_code=region_code,
                    department_id=department_id,
                    auth_method="client_secret_basic",
                ),
                by=admin,
            )
            assert secret is not None
            pushers.append(PusherClient(department_id, client.client_id, secret, _mint(session, hub, client)))
    return pushers


def _mint(session: object, hub: Hub, client: object) -> str | None:
    try:
        from hub.oauth import tokens
    except ImportError:
        return None
    client_id = client.client_id  # type: ignore[attr-defined]
    token, _ = tokens.mint(
        session,  # type: ignore[arg-type]
        hub,
        kind="client",
        subject=client_id,
        scope=PUSH_SCOPE,
        client_id=client_id,
        ttl_seconds=3600,
    )
    return f"Bearer {token}"


def fetch_tokens(base_url: str, pushers: Iterable[PusherClient]) -> tuple[dict[str, str], str]:
    """``Authorization`` header values by department id, and how they were had: from ``/oauth/token``
    (client_credentials, client_secret_basic) or, when that endpoint refuses, the tokens minted at
    seeding with ``hub.oauth.tokens.mint`` exactly as the endpoint mints them."""
    pushers = list(pushers)
    if not pushers:
        return {}, "none"
    headers = {}
    problem = None
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for pusher in pushers:
            response = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": PUSH_SCOPE},
                auth=(pusher.client_id, pusher.secret),
            )
            if response.status_code != 200:
                problem = f"HTTP {response.status_code} {response.text[:300]}"
                break
            body = response.json()
            headers[pusher.department_id] = f"{body.get('token_type', 'Bearer')} {body['access_token']}"
    if problem is None:
        return headers, "oauth client_credentials"
    if all(p.minted for p in pushers):
        log.warning("POST /oauth/token refused (%s); using tokens minted at seeding", problem)
        return {
            p.department_id: p.minted for p in pushers if p.minted
        }, f"minted at seeding (/oauth/token: {problem})"
    raise RuntimeError(f"no push token: /oauth/token answered {problem}")


@dataclass
class ServiceClient:
    """An approval service (``client_secret_basic``) with grants in force, as the lookups phase uses it."""

    client_id: str
    secret: str
    scope: str
    minted: str  # a token minted at seeding, as the token endpoint would, for a fallback
    grant_ids: list[int]


def register_service(
    hub: Hub,
    grants: Iterable[tuple[str, int]],
    *,
    purposes: list[str],
    region_code: str = "410100",
    name: str = "Benchmark approval service",
) -> ServiceClient:
    """A city admin registers an approval service and grants it each (licence type, max tier) for the
    purposes, in force for a day (below T3 a grant is in force at once)."""
    from datetime import timedelta

    from hub.access import service as access_service
    from hub.access.schemas import ClientCreate, GrantCreate
    from hub.kit.time import utcnow
    from hub.oauth import tokens

    grants = list(grants)
    with transaction(hub.session_factory) as session:
        admin = create_admin(session, "bench-grantor", "Benchmark grantor", region_code)
        client, secret = access_service.create_client(
            session,
            ClientCreate(
                name=name, kind="service", region_code=region_code, auth_method="client_secret_basic"
            ),
            by=admin,
        )
        assert secret is not None
        grant_ids = []
        for type_code, tier in grants:
            grant = access_service.request_grant(
                session,
                GrantCreate(
                    client_id=client.client_id,
                    type_code=type_code,
                    max_tier=tier,
                    purposes=purposes,
                    region_code=region_code,
                    valid_until=utcnow() + timedelta(days=1),
                    legal_basis="《郑州市政务信息资源共享管理办法》(benchmark)",
                ),
                by=admin,
            )
            assert grant.id is not None
            grant_ids.append(grant.id)
        scope = " ".join(access_service.licence_scope(t, tier) for t, tier in grants)
        token, _ = tokens.mint(
            session,
            hub,
            kind="client",
            subject=client.client_id,
            scope=scope,
            client_id=client.client_id,
            ttl_seconds=3600,
        )
        return ServiceClient(client.client_id, secret, scope, f"Bearer {token}", grant_ids)


def fetch_service_token(base_url: str, service: ServiceClient) -> tuple[str, str]:
    """The ``Authorization`` value for the service's scope, and how it was had: ``POST /oauth/token``
    (client_credentials, client_secret_basic), or the token minted at seeding when the endpoint refuses."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": service.scope},
            auth=(service.client_id, service.secret),
        )
    if response.status_code == 200:
        body = response.json()
        return f"{body.get('token_type', 'Bearer')} {body['access_token']}", "oauth client_credentials"
    problem = f"HTTP {response.status_code} {response.text[:300]}"
    log.warning("POST /oauth/token refused (%s); using the token minted at seeding", problem)
    return service.minted, f"minted at seeding (/oauth/token: {problem})"
