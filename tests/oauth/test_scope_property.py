"""No token ever carries a scope that no active grant covers (issue 3), over random grants and requests.

Each example registers a fresh approval-service client with random grants (catalog types, tiers 0–3, some
revoked, expired, not yet valid, or T3 still waiting for a second admin), then asks the real token endpoint
for random scopes, covered or not. The expected outcome is computed here from the example itself, not by
the hub's ``grantable_scopes``.

Runs on both backends: the hub is built once per backend and shared by the examples (a new client per
example keeps them apart), which is what makes PostgreSQL fast enough (~40 examples in a few seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.access import service as access_service
from hub.access.models import Admin
from hub.access.schemas import ClientCreate, GrantCreate
from hub.context import Hub
from hub.oauth import tokens
from storage.database import transaction
from tests.factories import TYPES, create_admin, seed_catalog

TYPE_CODES = sorted(TYPES)
FATES = ["in force", "revoked", "expired", "not yet valid"]
# Scopes a client might ask for: every licence scope of the catalog, plus ones no grant can cover.
UNIVERSE = sorted(
    {f"licence:{code}:t{tier}" for code in TYPE_CODES for tier in range(4)}
    | {"licences.push", "openid", f"licence:{TYPE_CODES[0]}:t4", "licence:99999999999999999X999:t0"}
)


@dataclass(frozen=True)
class GrantSpec:
    type_code: str
    tier: int
    fate: str
    approved: bool  # T3 only: a second admin approved it


grants_strategy = st.lists(
    st.builds(
        GrantSpec,
        type_code=st.sampled_from(TYPE_CODES),
        tier=st.integers(0, 3),
        fate=st.just("in force") | st.sampled_from(FATES),  # about half the grants in force
        approved=st.booleans(),
    ),
    max_size=6,
)


def requests_for(covered: set[str]) -> st.SearchStrategy[set[str] | None]:
    """None: no scope parameter at all; else scopes to send, mostly covered ones plus a few of any kind."""
    inside = st.sets(st.sampled_from(sorted(covered)), max_size=4) if covered else st.just(set())
    anywhere = st.sets(st.sampled_from(UNIVERSE), max_size=2)
    return st.none() | st.tuples(inside, anywhere).map(lambda pair: pair[0] | pair[1]).filter(bool)


def covered_by(specs: list[GrantSpec]) -> set[str]:
    """What the grants in force cover, worked out from the example (a tier includes those below)."""
    scopes: set[str] = set()
    for spec in specs:
        if spec.fate == "in force" and (spec.tier < 3 or spec.approved):
            scopes.update(f"licence:{spec.type_code}:t{tier}" for tier in range(spec.tier + 1))
    return scopes


def register_with_grants(hub: Hub, admin: Admin, approver: Admin, specs: list[GrantSpec]) -> tuple[str, str]:
    """A new approval-service client holding ``specs``, made through the access service's rules."""
    now = datetime.now(UTC)
    with transaction(hub.session_factory) as session:
        client, secret = access_service.create_client(
            session,
            ClientCreate(
                name="property", kind="service", region_code="410100", auth_method="client_secret_post"
            ),
            by=admin,
        )
        for spec in specs:
            future = spec.fate == "not yet valid"
            valid_from = now + timedelta(days=1) if future else None
            grant = access_service.request_grant(
                session,
                GrantCreate(
                    client_id=client.client_id, type_code=spec.type_code, max_tier=spec.tier,
                    purposes=["*"], region_code="410100", valid_from=valid_from,
                    valid_until=now + timedelta(days=30),
                    legal_basis="property test",
                ),
                by=admin,
            )  # fmt: skip
            if spec.tier == 3 and spec.approved:
                access_service.approve_grant(session, grant.id or 0, by=approver)
            if spec.fate == "revoked":
                access_service.revoke_grant(session, grant.id or 0, "property test", by=admin)
            if spec.fate == "expired":
                # As if its window had passed: the service refuses to grant (or approve) a past window.
                grant.valid_from, grant.valid_until = now - timedelta(days=10), now - timedelta(days=1)
    assert secret is not None
    return client.client_id, secret


@pytest.fixture
def admins(hub: Hub) -> tuple[Admin, Admin]:
    """Two city admins: one requests grants, the other approves T3 ones."""
    seed_catalog(hub)
    return create_admin(hub), create_admin(hub)


# The hub fixtures are function-scoped and shared by every example on purpose (see the module docstring).
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=grants_strategy, data=st.data())
def test_tokens_carry_only_covered_scopes(
    client: TestClient, hub: Hub, admins: tuple[Admin, Admin], specs: list[GrantSpec], data: st.DataObject
) -> None:
    covered = covered_by(specs)
    requested = data.draw(requests_for(covered), label="requested")
    client_id, secret = register_with_grants(hub, *admins, specs)
    asked = requested or set()
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if requested is not None:
        form["scope"] = " ".join(sorted(requested))

    response = client.post("/oauth/token", data=form)

    uncovered = asked - covered
    if uncovered or not (asked or covered):
        event("invalid_scope")
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "invalid_scope"
        assert "access_token" not in body
        named = set(body["error_description"].partition(":")[2].split())
        assert named == uncovered
        return
    event("token issued, scopes requested" if asked else "token issued, no scope requested")
    assert response.status_code == 200, response.text
    body = response.json()
    granted = set(body["scope"].split())
    claims = tokens.decode(hub, body["access_token"])
    assert set(claims["scope"].split()) == granted
    assert granted <= covered
    assert granted == (asked or covered)
