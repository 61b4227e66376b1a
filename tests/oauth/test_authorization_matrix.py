"""The authorization matrix, issue 3's acceptance test.

Every route the app serves is either PUBLIC, by a decision written down here, or a row of PROTECTED. Each
protected route is called with no token, an expired one, a revoked one, a forged one, the token of a
principal whose access was withdrawn after issue, another principal's token and a token lacking the
scope, and must refuse each with 401 (RFC 6750 ``WWW-Authenticate: Bearer``) or 403 (problem+json); then
the permitted call must succeed. A new route fails ``test_every_route_is_classified`` until it is listed.

A route for approval services (lookups, prefill) adds a row with ``audience="service"``: its principal
holds a grant, and its "withdrawn" token is one whose grant was revoked after issue.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import select
from starlette.routing import Route

from hub.access import service as access_service
from hub.access.models import Admin
from hub.access.schemas import AdminCreate
from hub.context import Hub
from hub.contract.issuing import build_credential
from hub.demo_data import uscc_code
from hub.main import create_app
from hub.registry import service as registry_service
from hub.registry.schemas import IssuingAuthorizationCreate
from storage.database import transaction
from tests.access.helpers import PASSWORD
from tests.console.routes import CONSOLE_PUBLIC, CONSOLE_SESSION
from tests.factories import (
    BUSINESS_LICENCE,
    ID_CARD,
    NO_CRIMINAL_RECORD,
    Issuer,
    batch,
    create_admin,
    create_client,
    create_grant,
    create_issuer,
    issue,
    seed_catalog,
)
from tests.fixtures.hub import make_settings
from tests.oauth.helpers import admin_token, client_token, es256_key, forged, revoked

PROBLEM_JSON = "application/problem+json"

# Routes anyone may call, and why. Everything else must be a row of PROTECTED.
PUBLIC: dict[tuple[str, str], str] = {
    **{("GET", path): "API description and its viewers" for path in ("/openapi.json", "/docs", "/redoc")},
    ("HEAD", "/openapi.json"): "API description",
    ("GET", "/docs/assets/{name}"): "the API viewers' script, style and icon (served by the hub, no CDN)",
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/.well-known/jwks.json"): "hub public keys, to verify tokens and proofs offline",
    ("GET", "/.well-known/oauth-authorization-server"): "RFC 8414 metadata, for discovery",
    ("POST", "/oauth/token"): "authenticates the client in the request (RFC 6749 §2.3, RFC 7523)",
    ("POST", "/oauth/introspect"): "authenticates the client in the request (RFC 7662 §2.1)",
    ("POST", "/oauth/revoke"): "authenticates the client in the request (RFC 7009 §2.1)",
    ("GET", "/oauth/authorize"): "citizen's browser; the session cookie and consent, not a bearer token",
    ("POST", "/oauth/authorize"): "citizen's consent form; session cookie and CSRF token",
    ("GET", "/oauth/sign-in"): "citizen sign-in page",
    ("POST", "/oauth/sign-in"): "demo-only citizen sign-in form; refuses outside demo mode",
    ("GET", "/oauth/sign-in/oidc"): "redirect to the upstream identity provider",
    ("GET", "/oauth/sign-in/oidc/callback"): "return from the upstream identity provider",
    ("POST", "/oauth/sign-out"): "ends the citizen's own session; CSRF token",
    ("POST", "/v1/admin/sign-in"): "authenticates the admin by password in the body",
    ("GET", "/v1/regions/{code}"): "catalog",
    ("GET", "/v1/departments"): "catalog",
    ("GET", "/v1/departments/{department}/jwks"): "catalog: department keys, to verify credentials offline",
    ("GET", "/v1/licence-types"): "catalog",
    ("GET", "/v1/licence-types/{code}"): "catalog",
    ("GET", "/v1/licences/{licence_id}/status"): "tier T0 status, no personal field (DESIGN 3)",
    ("GET", "/v1/status-lists/{department}/{list_number}"): "signed status lists are public by design",
    ("GET", "/v1/service-items"): "catalog of service items and their materials",
    ("GET", "/v1/service-items/{code}"): "catalog of service items and their materials",
    ("GET", "/v1/audit/tree-head"): "signed tree head: sizes and hashes only, for anyone to verify",
    ("GET", "/v1/audit/checkpoint"): "the tree head as a C2SP checkpoint: sizes and hashes only",
    ("GET", "/v1/audit/checkpoint-key"): "the public key that verifies checkpoints",
    ("GET", "/v1/audit/proofs/inclusion"): "Merkle audit path: hashes only (RFC 9162 §2.1.3)",
    ("GET", "/v1/audit/proofs/consistency"): "Merkle consistency proof: hashes only (RFC 9162 §2.1.4)",
}


# The world every protected route is called in --------------------------------------------------------


@dataclass
class World:
    """Principals and the resources the permitted calls act on, built once per backend."""

    hub: Hub
    police: Issuer
    commerce: Issuer
    admin: Admin
    county_admin: Admin
    auditor: Admin
    service_client: str
    monitor_client: str = ""
    # Targets of the admin routes, each used by one row only.
    spare_kid: str = ""
    secret_client: str = ""
    jwt_client: str = ""
    doomed_client: str = ""
    pending_grant: int = 0
    revocable_grant: int = 0
    pending_admin: int = 0
    disposable_admin: int = 0
    pending_department: str = ""
    pending_kid: str = ""
    compromised_kid: str = ""
    pending_authorization: int = 0
    revocable_authorization: int = 0
    # Tokens of principals whose access was withdrawn after the token was issued, by audience.
    withdrawn: dict[str, str] = field(default_factory=dict)


def build_world(hub: Hub) -> World:
    seed_catalog(hub)
    admin = create_admin(hub, region="410100")
    second_admin = create_admin(hub, region="410100")
    police, commerce = create_issuer(hub, "police"), create_issuer(hub, "commerce")
    service = create_client(hub, kind="service", by=admin).client_id
    create_grant(hub, service, ID_CARD, max_tier=1, by=admin)
    world = World(
        hub=hub,
        police=police,
        commerce=commerce,
        admin=admin,
        county_admin=create_admin(hub, region="410102"),
        auditor=create_admin(hub, region="410100", role="auditor"),
        service_client=service,
    )

    with transaction(hub.session_factory) as session:
        spare = registry_service.add_department_key(session, police.id, es256_key()[1]["keys"][0])
        world.spare_kid = spare.kid
        world.compromised_kid = registry_service.add_department_key(
            session, police.id, es256_key()[1]["keys"][0]
        ).kid
        # Two-person requests made by the second admin, for the world's admin to approve.
        second = session.get(Admin, second_admin.id)
        assert second is not None
        world.pending_admin = access_service.create_admin(
            session, AdminCreate(username="matrix-pending", display_name="Pending", role="admin",
                                 region_code="410100", password="long enough password"), by=second,
        ).id or 0  # fmt: skip
        world.pending_department = access_service.register_department(
            session, {"id": "zz-matrix-pending", "name": "Pending", "kind": "police", "region_code": "410100",
                      "uscc": uscc_code(random.Random(4), category="11"),
                      "issuer": "https://hub.test/v1/departments/zz-matrix-pending"}, by=second,
        ).id  # fmt: skip
        world.pending_kid = access_service.add_department_key(
            session, police.id, es256_key()[1]["keys"][0], by=second
        ).kid
        until = datetime.now(UTC) + timedelta(days=30)
        world.pending_authorization = access_service.request_issuing_authorization(
            session, IssuingAuthorizationCreate(department_id=police.id, type_code=ID_CARD,
                                                jurisdiction_code="410100", valid_until=until,
                                                legal_basis="matrix"), by=second,
        ).id or 0  # fmt: skip
        world.revocable_authorization = registry_service.authorize_issuing(
            session, department_id=commerce.id, type_code=BUSINESS_LICENCE, jurisdiction_code="410100",
            valid_until=until, legal_basis="matrix",
        ).id or 0  # fmt: skip
    world.disposable_admin = create_admin(hub, region="410100").id or 0
    world.monitor_client = create_client(hub, kind="monitor", by=admin).client_id
    world.secret_client = create_client(hub, by=admin).client_id
    world.jwt_client = create_client(
        hub, auth_method="private_key_jwt", jwks=es256_key()[1], by=admin
    ).client_id
    world.doomed_client = create_client(hub, by=admin).client_id
    world.pending_grant = create_grant(hub, service, NO_CRIMINAL_RECORD, max_tier=3, by=second_admin).id or 0
    world.revocable_grant = create_grant(hub, service, NO_CRIMINAL_RECORD, max_tier=0, by=admin).id or 0

    # Withdrawn after issue: a department client disabled, an admin disabled, a service's grant revoked.
    pusher = create_client(hub, kind="department", department_id=police.id, by=admin).client_id
    world.withdrawn["department"] = client_token(hub, pusher, "licences.push")
    retiring = create_admin(hub, region="410100")
    world.withdrawn["admin"] = admin_token(hub, retiring)
    granted = create_client(hub, kind="service", by=admin).client_id
    grant = create_grant(hub, granted, ID_CARD, max_tier=1, by=admin)
    world.withdrawn["service"] = client_token(hub, granted, f"licence:{ID_CARD}:t1")
    retired_monitor = create_client(hub, kind="monitor", by=admin).client_id
    world.withdrawn["monitor"] = client_token(hub, retired_monitor, "metrics")
    with transaction(hub.session_factory) as session:
        access_service.disable_client(session, pusher, by=admin)
        access_service.disable_client(session, retired_monitor, by=admin)
        session.scalars(select(Admin).where(Admin.id == retiring.id)).one().status = "disabled"
        access_service.revoke_grant(session, grant.id or 0, "withdrawn for the matrix", by=admin)
    return world


# The protected table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # the route template, as the app declares it
    audience: str  # department | admin | service | monitor: who may call
    call: Callable[[World], Call]
    success: int
    # Another principal of the same audience, refused (403); None where any such principal may call,
    # with the reason in ``note``.
    other: Callable[[World], str] | None = None
    auditor_may: bool = False  # admin routes: auditors read, never change
    note: str = ""


def _county_admin(world: World) -> str:
    return admin_token(world.hub, world.county_admin)


def _until() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).isoformat()


# Routes of the signed-in citizen: a browser session (cookie), not a bearer token. Each is refused
# without a session in test_citizen_routes_need_a_session; tests/interop covers the permitted calls.
CITIZEN_SESSION: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/v1/me/consents"): {},
    ("GET", "/v1/me/licences"): {},
    ("GET", "/v1/me/access-log"): {},
    ("POST", "/v1/me/consents/{consent_id}/withdraw"): {"consent_id": "cst_matrix"},
}

# A licence type made for the matrix: its attachment (``scan``) is T1, so the approval service's T1 grant
# releases it without the holder's consent and a plain client token may then download it.
MATRIX_TYPE: dict[str, Any] = {
    "code": "MATRIX0001", "name_zh": "矩阵证明", "name_en": "Matrix certificate",
    "issuer_kind": "civil_affairs", "holder_kind": "person", "holder_field": "id_number",
    "number_field": "number", "classification": "ordinary",
    "fields": [
        {"name": "number", "label_zh": "编号", "label_en": "number", "tier": 0, "kind": "string",
         "required": True},
        {"name": "id_number", "label_zh": "公民身份号码", "label_en": "citizen identity number", "tier": 1,
         "kind": "id_number", "required": True},
        {"name": "scan", "label_zh": "扫描件", "label_en": "scan", "tier": 1, "kind": "attachment",
         "required": True},
    ],
}  # fmt: skip


def _released_attachment(world: World) -> str:
    """Upload a file, issue a licence referencing it and let a lookup release it to the world's approval
    service; return the file's digest (what ``GET /v1/attachments/{sha256}`` then serves that service)."""
    hub, code, holder = world.hub, MATRIX_TYPE["code"], "410105198605141237"
    with transaction(hub.session_factory) as session:
        registry_service.register_licence_type(session, MATRIX_TYPE)
    create_grant(hub, world.service_client, code, max_tier=1, by=world.admin)
    civil = create_issuer(hub, "civil_affairs")
    http = TestClient(create_app(hub=hub))
    uploaded = http.post(
        "/v1/attachments",
        content=b"%PDF-1.4 matrix scan",
        headers={"Content-Type": "application/pdf", **civil.headers},
    )
    digest: str = uploaded.json()["sha256"]
    credential = build_credential(
        licence_type=MATRIX_TYPE, licence_id=civil.licence_id(code),
        values={"number": "M-1", "id_number": holder, "scan": digest}, issuer=civil.issuer, key=civil.key,
        kid=civil.kid, alg=civil.alg, holder_jwk=civil.holder_jwk, hub_url=hub.settings.public_url,
        department_id=civil.id, status_list=0, status_index=0,
    )  # fmt: skip
    ingested = http.post("/v1/licences/batch", json=batch(civil, 1, issue(credential)), headers=civil.headers)
    assert ingested.json()["accepted"] == 1, ingested.text
    lookup = http.post(
        "/v1/lookups",
        json={
            "holder_id": holder,
            "types": [code],
            "purpose": "MZCFBG",
            "case_id": "matrix-3",
            "nonce": "matrix-nonce-3",
        },
        headers={"Authorization": f"Bearer {client_token(hub, world.service_client, f'licence:{code}:t1')}"},
    )
    assert list(lookup.json()["released"][0]["attachments"]) == ["scan"], lookup.text
    return digest


PROTECTED: list[Row] = [
    Row("GET", "/metrics", "monitor", lambda w: Call(), 200,
        note="counts across the hub; any monitor client (made by an admin of the top region) may scrape"),
    Row(
        "POST", "/v1/licences/batch", "department",
        lambda w: Call(json=batch(w.police, 1, issue(w.police.credential(ID_CARD)))), 200,
        other=lambda w: client_token(w.hub, w.commerce.client_id, "licences.push"),
    ),
    Row(
        "GET", "/v1/feeds/{department}/cursor", "department",
        lambda w: Call({"department": w.police.id}), 200,
        other=lambda w: client_token(w.hub, w.commerce.client_id, "licences.push"),
    ),
    Row(
        "POST", "/v1/lookups", "service",
        lambda w: Call(json={
            "holder_id": "410105198605141237", "types": [ID_CARD], "purpose": "MZCFBG",
            "case_id": "matrix-1", "nonce": "matrix-nonce-1",
        }), 200,
        note="any approval service may ask; what it gets is decided per type by its grants",
    ),
    Row(
        "POST", "/v1/prefill", "service",
        lambda w: Call(json={
            "holder_id": "410105198605141237", "service_item": "MZCFBG", "case_id": "matrix-2",
            "nonce": "matrix-nonce-2",
        }), 200,
        note="any approval service may ask; what it gets is decided per material by its grants",
    ),
    Row(
        "PUT", "/v1/admin/service-items/{code}", "admin",
        lambda w: Call({"code": "MATRIX"}, json={
            "code": "MATRIX", "name_zh": "矩阵", "name_en": "Matrix", "owner_kind": "police",
            "levels": ["city"],
            "legal_basis": "test", "statutory_days": 10, "promised_days": 5,
            "materials": [{"type_code": ID_CARD, "tier": 1, "required": True, "fields": {"n": "name"}}],
        }), 200,
        other=_county_admin,
    ),
    Row(
        "POST", "/v1/attachments", "department",
        lambda w: Call(content=b"%PDF-1.4 matrix", headers={"Content-Type": "application/pdf"}), 201,
        note="content-addressed; any department may upload what its credentials reference",
    ),
    Row(
        "GET", "/v1/attachments/{sha256}", "service",
        lambda w: Call({"sha256": _released_attachment(w)}), 200,
        note="another service gets 404, not 403, so as not to reveal which files exist "
        "(tests/lookups/test_attachments.py)",
    ),
    Row("POST", "/v1/admin/sign-out", "admin", lambda w: Call(), 204, auditor_may=True,
        note="signs out the caller"),
    Row("GET", "/v1/admin/me", "admin", lambda w: Call(), 200, auditor_may=True, note="the caller"),
    Row(
        "POST", "/v1/admin/admins", "admin",
        lambda w: Call(json={
            "username": "matrix-admin", "display_name": "Matrix", "role": "admin",
            "region_code": "410100", "password": "long enough password",
        }), 201,
        other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/departments", "admin",
        lambda w: Call(json={
            "id": "zz-matrix", "name": "Matrix department", "kind": "commerce", "region_code": "410100",
            "uscc": uscc_code(random.Random(3), category="11"), "issuer": "https://hub.test/v1/departments/zz-matrix",
        }), 201,
        other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/departments/{department}/keys", "admin",
        lambda w: Call({"department": w.police.id}, json=es256_key()[1]["keys"][0]), 201,
        other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/departments/{department}/keys/{kid}/retire", "admin",
        lambda w: Call({"department": w.police.id, "kid": w.spare_kid}), 200,
        other=_county_admin,
    ),
    Row("GET", "/v1/admin/admins", "admin", lambda w: Call(), 200, auditor_may=True,
        note="lists what lies in the caller's region"),
    Row(
        "POST", "/v1/admin/admins/{admin_id}/approve", "admin",
        lambda w: Call({"admin_id": w.pending_admin}), 200, other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/admins/{admin_id}/disable", "admin",
        lambda w: Call({"admin_id": w.disposable_admin}, json={"reason": "matrix"}), 200, other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/me/password", "admin",
        lambda w: Call(json={"current_password": PASSWORD, "new_password": "a matrix passphrase"}), 204,
        auditor_may=True, note="the caller's own password",
    ),
    Row(
        "POST", "/v1/admin/departments/{department}/approve", "admin",
        lambda w: Call({"department": w.pending_department}), 200, other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/departments/{department}/keys/{kid}/approve", "admin",
        lambda w: Call({"department": w.police.id, "kid": w.pending_kid}), 200, other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/departments/{department}/keys/{kid}/compromised", "admin",
        lambda w: Call({"department": w.police.id, "kid": w.compromised_kid}, json={}), 200,
        other=_county_admin,
    ),
    Row("GET", "/v1/admin/issuing-authorizations", "admin", lambda w: Call(), 200, auditor_may=True,
        note="lists what lies in the caller's region"),
    Row(
        "POST", "/v1/admin/issuing-authorizations", "admin",
        lambda w: Call(json={
            "department_id": w.police.id, "type_code": ID_CARD, "jurisdiction_code": "410100",
            "valid_until": _until(), "legal_basis": "matrix",
        }), 201,
        other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/issuing-authorizations/{authorization_id}/approve", "admin",
        lambda w: Call({"authorization_id": w.pending_authorization}), 200, other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/issuing-authorizations/{authorization_id}/revoke", "admin",
        lambda w: Call({"authorization_id": w.revocable_authorization}), 200, other=_county_admin,
    ),
    Row("GET", "/v1/admin/clients", "admin", lambda w: Call(), 200, auditor_may=True,
        note="lists what lies in the caller's region"),
    Row(
        "POST", "/v1/admin/clients", "admin",
        lambda w: Call(json={
            "name": "matrix", "kind": "service", "region_code": "410100", "auth_method": "client_secret_post",
        }), 201,
        other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/clients/{client_id}/secret", "admin",
        lambda w: Call({"client_id": w.secret_client}), 200, other=_county_admin,
    ),
    Row(
        "PUT", "/v1/admin/clients/{client_id}/jwks", "admin",
        lambda w: Call({"client_id": w.jwt_client}, json={"jwks": es256_key()[1]}), 200,
        other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/clients/{client_id}/disable", "admin",
        lambda w: Call({"client_id": w.doomed_client}), 200, other=_county_admin,
    ),
    Row("GET", "/v1/admin/grants", "admin", lambda w: Call(), 200, auditor_may=True,
        note="lists what lies in the caller's region"),
    Row(
        "POST", "/v1/admin/grants", "admin",
        lambda w: Call(json={
            "client_id": w.service_client, "type_code": ID_CARD, "max_tier": 1, "purposes": ["*"],
            "region_code": "410100", "valid_until": _until(), "legal_basis": "matrix",
        }), 201,
        other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/grants/{grant_id}/approve", "admin",
        lambda w: Call({"grant_id": w.pending_grant}), 200, other=_county_admin,
    ),
    Row(
        "POST", "/v1/admin/grants/{grant_id}/revoke", "admin",
        lambda w: Call({"grant_id": w.revocable_grant}, json={"reason": "matrix"}), 200,
        other=_county_admin,
    ),
    Row("GET", "/v1/audit/events", "admin", lambda w: Call(), 200, auditor_may=True,
        note="lists the events of the caller's region"),
    Row("GET", "/v1/admin/alerts", "admin", lambda w: Call(), 200, auditor_may=True,
        note="lists the alerts of the caller's region"),
    Row(
        "POST", "/v1/admin/alerts/{alert_id}/acknowledge", "admin",
        lambda w: Call({"alert_id": _city_alert(w)}, json={"note": "matrix"}), 200,
        other=_county_admin, auditor_may=True,
        note="auditors acknowledge too: it records that someone looked and changes no access",
    ),
]  # fmt: skip


def _city_alert(world: World) -> int:
    """An open supervision alert in the city's region (what acknowledging acts on)."""
    from hub.audit.models import Alert

    with transaction(world.hub.session_factory) as session:
        alert = Alert(rule="refused", key="matrix", severity="warning", subject_kind="client",
                      subject_id=world.service_client, region_code="410100", summary="matrix")  # fmt: skip
        session.add(alert)
        session.flush()
        return alert.id or 0


def valid_token(world: World, audience: str) -> str:
    """A fresh token of the principal each audience's permitted call is made by."""
    if audience == "department":
        return client_token(world.hub, world.police.client_id, "licences.push")
    if audience == "admin":
        return admin_token(world.hub, world.admin)
    if audience == "monitor":
        return client_token(world.hub, world.monitor_client, "metrics")
    return client_token(world.hub, world.service_client, f"licence:{ID_CARD}:t1")


def wrong_scope_tokens(world: World, audience: str) -> dict[str, str]:
    """Tokens that are valid, but not for this audience's routes."""
    hub = world.hub
    department = client_token(hub, world.police.client_id, "licences.push")
    service = client_token(hub, world.service_client, f"licence:{ID_CARD}:t1")
    admin = admin_token(hub, world.admin)
    if audience == "department":
        return {
            "department token without licences.push": client_token(hub, world.police.client_id, ""),
            "approval-service token": service,
            "admin token": admin,
        }
    if audience == "admin":
        return {"department token": department, "approval-service token": service}
    if audience == "monitor":
        return {
            "monitor token without metrics": client_token(hub, world.monitor_client, ""),
            "department token": department,
            "approval-service token": service,
            "admin token": admin,
        }
    return {"department token": department, "admin token": admin}


@dataclass
class Attempt:
    case: str
    token: str | None
    status: int


def refusals(world: World, row: Row) -> list[Attempt]:
    hub = world.hub
    valid = valid_token(world, row.audience)
    expired = (
        admin_token(hub, world.admin, ttl_seconds=-120)
        if row.audience == "admin"
        else client_token(hub, world.police.client_id, "licences.push", ttl_seconds=-120)
        if row.audience == "department"
        else client_token(hub, world.service_client, f"licence:{ID_CARD}:t1", ttl_seconds=-120)
    )
    attempts = [
        Attempt("no token", None, 401),
        Attempt("expired token", expired, 401),
        Attempt("revoked token", revoked(hub, valid_token(world, row.audience)), 401),
        Attempt("forged token", forged(valid), 401),
        Attempt("not a JWT", "not-a-token", 401),
        # A disabled client or admin: the token no longer stands (401). A service whose grant was revoked
        # still holds a good token, but no longer the permission (403).
        Attempt(
            "access withdrawn after issue",
            world.withdrawn[row.audience],
            403 if row.audience == "service" else 401,
        ),
    ]
    attempts += [Attempt(f"lacks the scope: {name}", token, 403)
                 for name, token in wrong_scope_tokens(world, row.audience).items()]  # fmt: skip
    if row.other is not None:
        attempts.append(Attempt("another principal's token", row.other(world), 403))
    if row.audience == "admin" and not row.auditor_may:
        attempts.append(Attempt("auditor's token on a mutating route", admin_token(hub, world.auditor), 403))
    return attempts


def send(client: TestClient, row: Row, call: Call, token: str | None) -> Any:
    headers = dict(call.headers)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = row.path.format(**call.params)
    return client.request(row.method, url, json=call.json, content=call.content, headers=headers)


def problem(response: Any, attempt: Attempt) -> str | None:
    """What is wrong with a refusal, or None."""
    if response.status_code != attempt.status:
        return f"answered {response.status_code}, expected {attempt.status}: {response.text[:200]}"
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM_JSON:
        return f"not problem+json: {response.headers.get('content-type')}"
    if attempt.status == 401:
        challenge = response.headers.get("www-authenticate", "")
        if not challenge.startswith("Bearer "):
            return f"401 without an RFC 6750 Bearer challenge: {challenge!r}"
        # RFC 6750 §3.1: no error code when the request had no token; invalid_token when it was bad.
        if (attempt.token is None) == ('error="invalid_token"' in challenge):
            return f"challenge does not match the case: {challenge!r}"
    return None


# The tests ----------------------------------------------------------------------------------------------


def _declared_routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path / "objects"))
    declared: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        assert isinstance(route, (APIRoute, Route)), f"unclassifiable route {route!r} (a mount?)"
        assert context.path and context.methods, f"route without path or methods: {route!r}"
        declared.update((method, context.path) for method in context.methods)
    return declared


def test_every_route_is_classified(tmp_path: Path) -> None:
    declared = _declared_routes(tmp_path)
    protected = {(row.method, row.path) for row in PROTECTED}

    assert len(protected) == len(PROTECTED), "a route is listed twice in PROTECTED"
    assert not protected & PUBLIC.keys(), "a route is both public and protected"
    protected |= CITIZEN_SESSION.keys() | CONSOLE_SESSION.keys() | CONSOLE_PUBLIC.keys()  # tests/console
    assert sorted(declared - PUBLIC.keys() - protected) == [], "routes neither public nor in the matrix"
    assert sorted((PUBLIC.keys() | protected) - declared) == [], "stale entries: the app has no such route"


def test_authorization_matrix(client: TestClient, hub: Hub) -> None:
    world = build_world(hub)
    failures = []
    for row in PROTECTED:
        call = row.call(world)
        for attempt in refusals(world, row):
            found = problem(send(client, row, call, attempt.token), attempt)
            if found:
                failures.append(f"{row.method} {row.path} [{attempt.case}]: {found}")
        if row.auditor_may:
            response = send(client, row, call, admin_token(hub, world.auditor))
            if response.status_code != row.success:
                failures.append(f"{row.method} {row.path} [auditor reads]: {response.status_code}")
        response = send(client, row, call, valid_token(world, row.audience))
        if response.status_code != row.success:
            failures.append(
                f"{row.method} {row.path} [permitted]: {response.status_code} {response.text[:300]}"
            )

    assert failures == []


def test_batch_permitted_call_really_ingested(client: TestClient, hub: Hub) -> None:
    """The matrix's permitted batch is accepted, not merely answered 200 with every operation rejected."""
    world = build_world(hub)
    row = next(r for r in PROTECTED if r.path == "/v1/licences/batch")
    response = send(client, row, row.call(world), valid_token(world, "department"))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


def test_feed_cursor_needs_the_departments_push_token(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    police = create_issuer(hub, "police")
    assert client.get(f"/v1/feeds/{police.id}/cursor").status_code == 401


def test_citizen_routes_need_a_session(client: TestClient) -> None:
    for (method, path), params in CITIZEN_SESSION.items():
        response = client.request(method, path.format(**params))
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
