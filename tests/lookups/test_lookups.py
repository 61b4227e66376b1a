"""POST /v1/lookups and /v1/prefill: what is released, what is refused and why, and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.audit.models import AuditEvent
from hub.contract import sdjwt
from tests.factories import (
    BUSINESS_LICENCE,
    HOUSEHOLD,
    ID_CARD,
    MARRIAGE,
    TYPES,
    create_admin,
    create_grant,
)
from tests.lookups.conftest import World

NONCE = "n-0123456789"


def lookup(client: TestClient, world: World, headers: dict[str, str], **body: Any) -> Any:
    payload = {
        "holder_id": world.citizen,
        "purpose": "MZCFBG",
        "case_id": "ZZ-2026-0001",
        "nonce": NONCE,
    } | body
    return client.post("/v1/lookups", json=payload, headers=headers)


def tiers_of(type_code: str) -> dict[str, int]:
    return {f["name"]: f["tier"] for f in TYPES[type_code]["fields"]}


def disclosed_names(presentation: str) -> set[str]:
    return {d.name for d in sdjwt.parse(presentation).disclosures if d.name}


def verify(world: World, presentation: str) -> dict[str, Any]:
    keys = {
        world.police.kid: world.police.key.as_dict(private=False),
        world.commerce.kid: world.commerce.key.as_dict(private=False),
    }
    return sdjwt.verify_presentation(
        presentation,
        issuer_key_resolver=lambda header: keys.get(header.get("kid")),
        aud=world.service.client_id,
        nonce=NONCE,
    )


def test_lookup_releases_exactly_the_granted_tier(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=1, purposes=["MZCFBG"])
    response = lookup(client, world, world.token(f"licence:{ID_CARD}:t1"), types=[ID_CARD])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refused"] == []
    [released] = body["released"]
    assert released["licence_id"] == world.id_card and released["tier"] == 1 and released["status"] == "01"
    tiers = tiers_of(ID_CARD)
    assert disclosed_names(released["presentation"]) == {n for n, t in tiers.items() if 1 <= t <= 1}
    claims = verify(world, released["presentation"])
    assert claims["id_number"] == world.citizen
    assert "address" not in claims and "sex" not in released["claims"]
    assert released["claims"]["name"] == claims["name"]


@pytest.mark.parametrize(
    "grant, scope_tier, types, reason",
    [
        (None, 2, [ID_CARD], "no_grant"),
        ({"purposes": ["CJRZHF"]}, 2, [ID_CARD], "purpose_not_covered"),
        ({"region_code": "410102"}, 2, [ID_CARD], "outside_region"),
        ({"consent_required": True}, 2, [ID_CARD], "consent_needed"),
        ({"max_tier": 1}, 2, [{"type_code": ID_CARD, "tier": 2}], "tier_too_high"),
        ({}, 2, [MARRIAGE], "no_licence"),
    ],
)
def test_refusals_name_their_reason(
    client: TestClient, world: World, grant: dict | None, scope_tier: int, types: list, reason: str
) -> None:
    type_code = types[0] if isinstance(types[0], str) else types[0]["type_code"]
    if grant is not None:
        create_grant(world.hub, world.service.client_id, type_code, **({"max_tier": 2} | grant))
    else:  # the client holds a grant, just not for this type
        create_grant(world.hub, world.service.client_id, HOUSEHOLD, max_tier=2)
    response = lookup(client, world, world.token(f"licence:{type_code}:t{scope_tier}"), types=types)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["released"] == []
    assert [(r["type_code"], r["reason"]) for r in body["refused"]] == [(type_code, reason)]


def test_a_client_without_any_grant_in_force_is_refused(client: TestClient, world: World) -> None:
    response = lookup(client, world, world.token(f"licence:{ID_CARD}:t2"), types=[ID_CARD])
    assert response.status_code == 403
    assert response.json()["detail"] == "the client holds no grant in force"


def test_revoked_grant_counts_on_the_next_request(client: TestClient, world: World) -> None:
    from hub.access import service as access_service
    from storage.database import transaction

    grant = create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=2)
    create_grant(world.hub, world.service.client_id, HOUSEHOLD, max_tier=2)
    headers = world.token(f"licence:{ID_CARD}:t2")
    assert len(lookup(client, world, headers, types=[ID_CARD]).json()["released"]) == 1
    admin = create_admin(world.hub)
    with transaction(world.hub.session_factory) as session:
        access_service.revoke_grant(session, grant.id, "case closed", by=admin)
    assert lookup(client, world, headers, types=[ID_CARD]).json()["refused"][0]["reason"] == "no_grant"


def test_every_lookup_is_audited_without_personal_data(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=2)
    headers = world.token(f"licence:{ID_CARD}:t2", f"licence:{HOUSEHOLD}:t2")
    first = lookup(client, world, headers, types=[ID_CARD, HOUSEHOLD]).json()
    with world.hub.session_factory() as session:
        event = session.get(AuditEvent, first["audit_event"])
        assert event is not None
        assert event.action == "lookup" and event.outcome == "partial"
        assert event.licence_ids == [world.id_card] and event.case_id == "ZZ-2026-0001"
        assert world.citizen not in str(event.model_dump())
        assert event.holder_index == world.hub.blind_index.of("person", world.citizen)
        lookups = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "lookup")
        assert session.scalar(lookups) == 1


def test_bad_requests_are_problems(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=2)
    headers = world.token(f"licence:{ID_CARD}:t2")
    unknown_item = lookup(client, world, headers, types=[ID_CARD], purpose="NOPE")
    assert unknown_item.status_code == 422 and unknown_item.json()["errors"][0]["field"] == "purpose"
    bad_holder = lookup(client, world, headers, types=[ID_CARD], holder_id="41010519860514123I")
    assert bad_holder.status_code == 422 and bad_holder.json()["errors"][0]["field"] == "holder_id"
    # The case id lands in the permanent log: an identifier, never prose that could carry personal data.
    prose = ("张三 申请 结婚登记", "ZZ 2026 1", "-ZZ", "", "Z" * 65, "ZZ\n1", "ZZ1\n", "ZZ;DROP")
    for case_id in (*prose, f"ZZ-{world.citizen}-1"):
        for path, body in (
            ("/v1/lookups", {"holder_id": world.citizen, "types": [ID_CARD], "purpose": "MZCFBG"}),
            ("/v1/prefill", {"holder_id": world.citizen, "service_item": "MZCFBG"}),
        ):
            refused = client.post(
                path, json={**body, "case_id": case_id, "nonce": "n-0123456789"}, headers=headers
            )
            assert refused.status_code == 422, (path, case_id, refused.text)
            assert [e["field"] for e in refused.json()["errors"]] == ["case_id"], refused.text
    for case_id in ("ZZ-2026-000123", "410100:2026/0001.a_b", "Z" * 64):
        assert lookup(client, world, headers, types=[ID_CARD], case_id=case_id).status_code == 200
    pusher = lookup(client, world, world.police.headers, types=[ID_CARD])
    assert pusher.status_code == 403
    no_token = client.post("/v1/lookups", json={"types": [ID_CARD]})
    assert no_token.status_code == 401


def test_organisation_holder(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, BUSINESS_LICENCE, max_tier=2, purposes=["SPJYXK"])
    response = lookup(
        client, world, world.token(f"licence:{BUSINESS_LICENCE}:t2"),
        types=[BUSINESS_LICENCE], holder_id=world.business, purpose="SPJYXK",
    )  # fmt: skip
    [released] = response.json()["released"]
    assert released["claims"]["uscc"] == world.business
    assert verify(world, released["presentation"])["uscc"] == world.business


def test_prefill_maps_claims_to_form_fields_and_names_what_is_missing(
    client: TestClient, world: World
) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=2)
    create_grant(world.hub, world.service.client_id, HOUSEHOLD, max_tier=2)
    headers = world.token(f"licence:{ID_CARD}:t2", f"licence:{HOUSEHOLD}:t2")
    body = {"service_item": "MZCFBG", "case_id": "ZZ-2026-0002", "nonce": NONCE, "holder_id": world.citizen}
    result = client.post("/v1/prefill", json=body, headers=headers).json()
    assert result["complete"] is True
    assert result["form"]["applicant_id_number"] == {
        "value": world.citizen,
        "licence_id": world.id_card,
        "claim": "id_number",
    }
    assert result["form"]["household_number"]["licence_id"] == world.household
    assert {m["outcome"] for m in result["materials"]} == {"obtained"}

    disability = client.post("/v1/prefill", json=body | {"service_item": "CJRZHF"}, headers=headers).json()
    assert disability["complete"] is False
    outcomes = {(m["type_code"], m["outcome"]) for m in disability["materials"]}
    assert (None, "bring") in outcomes and (ID_CARD, "obtained") in outcomes
