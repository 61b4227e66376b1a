"""Issue 14, replayed through the HTTP API on both databases: who may issue what (issuing
authorizations, one ID card per person) and the two-person rule that no single admin can defeat."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlmodel import select

from hub.access.models import Admin
from hub.audit.models import AuditEvent
from hub.context import Hub
from hub.demo_data import citizen_id, uscc_code
from tests.access.helpers import bearer, make_admin, problem
from tests.factories import (
    HOUSEHOLD,
    ID_CARD,
    SUBSISTENCE,
    Issuer,
    batch,
    create_client,
    create_grant,
    create_issuer,
    issue,
    mint_client_token,
    seed_catalog,
)

XINMI_CITIZEN = citizen_id(random.Random(1), county="410183")  # 新密市
JINSHUI_CITIZEN = citizen_id(random.Random(2), county="410105")  # 金水区


def _until(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _push(client: TestClient, issuer: Issuer, sequence: int, *credentials: str) -> Any:
    return client.post(
        "/v1/licences/batch",
        json=batch(issuer, sequence, *[issue(c) for c in credentials]),
        headers=issuer.headers,
    )


def _problem_types(body: dict[str, Any]) -> list[str]:
    return [r["problem"]["type"].rsplit("/", 1)[-1] for r in body["results"] if r["outcome"] == "rejected"]


def _event(hub: Hub, action: str) -> AuditEvent:
    with hub.session_factory() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)).one()


def test_a_county_admin_cannot_forge_official_id_cards(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    city_police = create_issuer(hub, "police")  # 郑州市公安局, authorized over the whole city
    real = _push(client, city_police, 1, *(city_police.credential(ID_CARD, holder=h)
                                           for h in (XINMI_CITIZEN, JINSHUI_CITIZEN)))  # fmt: skip
    assert real.json()["accepted"] == 2, real.text

    jinshui, accomplice, city = (make_admin(hub, region=r) for r in ("410105", "410105", "410100"))
    forger = bearer(hub, jinshui)
    department = {
        "id": "jinshui-police", "name": "伪公安分局", "kind": "police", "region_code": "410105",
        "uscc": uscc_code(random.Random(9), category="11"),
        "issuer": f"{hub.settings.public_url}/v1/departments/jinshui-police",
    }  # fmt: skip
    registered = client.post("/v1/admin/departments", json=department, headers=forger)
    assert registered.status_code == 201 and registered.json()["status"] == "pending", registered.text
    key = ECKey.generate_key("P-256", private=True)
    added = client.post(
        "/v1/admin/departments/jinshui-police/keys",
        json={**key.as_dict(private=False), "alg": "ES256"},
        headers=forger,
    )
    assert added.status_code == 201 and added.json()["status"] == "pending", added.text
    pusher = create_client(
        hub, kind="department", region="410105", department_id="jinshui-police", by=jinshui
    )
    forged = Issuer(
        hub, "jinshui-police", "police", department["uscc"], department["issuer"], key, added.json()["kid"],
        "ES256", client_id=pusher.client_id,
    )  # fmt: skip

    # 1. One admin alone: the department is pending, its key too; nothing is taken in.
    alone = _push(client, forged, 1, forged.credential(ID_CARD, holder=XINMI_CITIZEN))
    assert "pending" in problem(alone, 403)["detail"]

    # 2. A second county admin approves both: still no issuing authorization, so every credential is refused.
    for path in ("/v1/admin/departments/jinshui-police/approve",
                 f"/v1/admin/departments/jinshui-police/keys/{forged.kid}/approve"):  # fmt: skip
        assert client.post(path, headers=bearer(hub, accomplice)).status_code == 200
    approved = _event(hub, "department.approved").detail
    assert (approved["requested_by"], approved["approved_by"]) == (jinshui.id, accomplice.id)
    unauthorized = _push(client, forged, 1, forged.credential(ID_CARD, holder=XINMI_CITIZEN)).json()
    assert _problem_types(unauthorized) == ["not-authorized-to-issue"]

    # 3. An authorization over 金水区 is approved only at the city's level, and covers 金水 holders only.
    requested = client.post(
        "/v1/admin/issuing-authorizations",
        json={"department_id": "jinshui-police", "type_code": ID_CARD, "jurisdiction_code": "410105",
              "valid_until": _until(), "legal_basis": "《居民身份证法》第八条"},
        headers=forger,
    )  # fmt: skip
    assert requested.status_code == 201 and requested.json()["status"] == "pending", requested.text
    approve = f"/v1/admin/issuing-authorizations/{requested.json()['id']}/approve"
    assert (
        "level that owns the catalog"
        in problem(client.post(approve, headers=bearer(hub, accomplice)), 403)["detail"]
    )
    assert client.post(approve, headers=bearer(hub, city)).json()["status"] == "active"

    outside = _push(client, forged, 2, forged.credential(ID_CARD, holder=XINMI_CITIZEN)).json()
    assert _problem_types(outside) == ["not-authorized-to-issue"]
    assert "410183" in outside["results"][0]["problem"]["detail"]
    second_card = _push(client, forged, 3, forged.credential(ID_CARD, holder=JINSHUI_CITIZEN)).json()
    assert _problem_types(second_card) == ["conflicting-issuer"]
    alerts = client.get("/v1/admin/alerts", headers=bearer(hub, city)).json()["alerts"]
    assert [a["rule"] for a in alerts] == ["conflicting_issuer"]
    assert alerts[0]["subject_id"] == "jinshui-police"

    # The city's approval service still gets exactly the one real ID card of the 新密 citizen.
    service = create_client(hub, kind="service").client_id
    create_grant(hub, service, ID_CARD, max_tier=1)
    lookup = client.post(
        "/v1/lookups",
        json={"holder_id": XINMI_CITIZEN, "types": [ID_CARD], "purpose": "MZCFBG", "case_id": "trust-1",
              "nonce": "trust-nonce-1"},
        headers={"Authorization": f"Bearer {mint_client_token(hub, service, f'licence:{ID_CARD}:t1')}"},
    )  # fmt: skip
    released = lookup.json()["released"]
    assert [r["licence_id"].split(".")[6] for r in released] == [city_police.uscc], lookup.text


def test_a_department_may_reissue_its_own_one_per_holder_licence_types(client: TestClient, hub: Hub) -> None:
    """The one-per-holder rule counts other issuers only: a household register re-issued by the same
    department (a new booklet) is taken in."""
    seed_catalog(hub)
    police = create_issuer(hub, "police")
    first = _push(client, police, 1, police.credential(HOUSEHOLD, holder=JINSHUI_CITIZEN)).json()
    again = _push(client, police, 2, police.credential(HOUSEHOLD, holder=JINSHUI_CITIZEN)).json()
    assert (first["accepted"], again["accepted"]) == (1, 1)


def _sign_in(client: TestClient, username: str) -> int:
    return client.post(
        "/v1/admin/sign-in", json={"username": username, "password": "long enough password 1"}
    ).status_code


def test_one_admin_cannot_be_both_people_of_the_two_person_rule(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    jinshui, city = make_admin(hub, region="410105"), make_admin(hub, region="410100")
    headers = bearer(hub, jinshui)
    service = create_client(hub, kind="service", region="410105", by=jinshui).client_id
    grant = create_grant(hub, service, SUBSISTENCE, max_tier=3, region_code="410105", by=jinshui)
    assert grant.status == "pending"

    # The admin makes a second admin in its own county: a request, which cannot sign in or act.
    body = {"username": "jinshui-puppet", "display_name": "傀儡", "role": "admin", "region_code": "410105",
            "password": "long enough password 1"}  # fmt: skip
    puppet = client.post("/v1/admin/admins", json=body, headers=headers)
    assert puppet.status_code == 201 and puppet.json()["status"] == "pending", puppet.text
    assert _sign_in(client, "jinshui-puppet") == 401
    assert (
        "you requested it"
        in problem(client.post(f"/v1/admin/admins/{puppet.json()['id']}/approve", headers=headers), 403)[
            "detail"
        ]
    )

    # Appointed from above, one admin's appointees are all its own hands: none approves for another.
    township = [
        client.post("/v1/admin/admins", headers=headers, json={**body, "username": f"street-{n}",
                                                              "region_code": "410105001"}).json()
        for n in (1, 2)
    ]  # fmt: skip
    assert [t["status"] for t in township] == ["active", "active"]
    with hub.session_factory() as session:
        one, two = (session.get(Admin, t["id"]) for t in township)
    assert one is not None and two is not None
    street_service = create_client(hub, kind="service", region="410105001", by=one).client_id
    street_grant = create_grant(hub, street_service, SUBSISTENCE, max_tier=3, region_code="410105001", by=one)
    approve = f"/v1/admin/grants/{street_grant.id}/approve"
    assert "both appointed by" in problem(client.post(approve, headers=bearer(hub, two)), 403)["detail"]
    assert "you appointed them" in problem(client.post(approve, headers=headers), 403)["detail"]
    # The county's own grant lies outside a township admin's region.
    assert problem(client.post(f"/v1/admin/grants/{grant.id}/approve", headers=bearer(hub, one)), 403)

    # An independent admin (the city's) approves both; the event names the two people.
    assert client.post(approve, headers=bearer(hub, city)).json()["status"] == "active"
    approved = client.post(f"/v1/admin/grants/{grant.id}/approve", headers=bearer(hub, city))
    assert approved.json()["status"] == "active", approved.text
    with hub.session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "grant.approved")).all()
        assert {(e.detail["requested_by"], e.detail["approved_by"]) for e in events} == {
            (one.id, city.id),
            (jinshui.id, city.id),
        }

    # The city approves the puppet: made by two people, it is nobody's hand and may now sign in.
    assert (
        client.post(f"/v1/admin/admins/{puppet.json()['id']}/approve", headers=bearer(hub, city)).json()[
            "status"
        ]
        == "active"
    )
    assert _sign_in(client, "jinshui-puppet") == 200
