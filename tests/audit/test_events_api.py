"""GET /v1/audit/events: filters, region scope and pagination, for auditors and admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from hub.kit.time import utcnow
from tests.audit.conftest import record_at
from tests.factories import BUSINESS_LICENCE, ID_CARD, create_admin, create_grant, mint_admin_token
from tests.lookups.conftest import World


def headers(world: World, region: str = "410100", role: str = "auditor") -> dict[str, str]:
    admin = create_admin(world.hub, region=region, role=role)
    return {"Authorization": f"Bearer {mint_admin_token(world.hub, admin)}"}


def events(client: TestClient, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit/events", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def lookup(client: TestClient, world: World, types: list[str], case_id: str) -> None:
    body = {"holder_id": world.citizen, "types": types, "purpose": "MZCFBG", "case_id": case_id,
            "nonce": "n-0123456789"}  # fmt: skip
    scopes = " ".join(f"licence:{t}:t1" for t in types)
    assert client.post("/v1/lookups", json=body, headers=world.token(scopes)).status_code == 200


def test_filters(client: TestClient, world: World) -> None:
    auditor = headers(world)
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=1, purposes=["MZCFBG"])
    lookup(client, world, [ID_CARD], "C-1")
    lookup(client, world, [BUSINESS_LICENCE], "C-2")
    start = utcnow()
    record_at(world.hub, start + timedelta(seconds=1), action="grant.revoked", outcome="ok",
              actor_kind="admin", actor_id="admin:1", region_code="410102")  # fmt: skip

    everything = events(client, auditor)  # newest first: the two lookups after the setup's admin changes
    assert [e["case_id"] for e in everything[:3]] == [None, "C-2", "C-1"]
    assert {e["action"] for e in everything[3:]} <= {"admin.created", "client.created", "grant.requested",
                                                     "ingest.batch"}  # fmt: skip
    by_client = events(client, auditor, client_id=world.service.client_id, action="lookup")
    assert [e["case_id"] for e in by_client] == ["C-2", "C-1"]
    [police] = events(client, auditor, department=world.police.id, action="lookup")
    assert police["case_id"] == "C-1" and police["licence_ids"] == [world.id_card]
    [business] = events(client, auditor, type_code=BUSINESS_LICENCE, action="lookup")
    assert business["outcome"] == "refused" and business["type_codes"] == [BUSINESS_LICENCE]
    assert [e["case_id"] for e in events(client, auditor, outcome="released")] == ["C-1"]
    assert [e["action"] for e in events(client, auditor, action="grant.revoked")] == ["grant.revoked"]
    assert [e["action"] for e in events(client, auditor, since=start.isoformat())] == ["grant.revoked"]
    assert len(events(client, auditor, until=start.isoformat())) == len(everything) - 1
    assert events(client, auditor, client_id="nobody") == []


def test_events_are_scoped_to_the_callers_region(client: TestClient, world: World) -> None:
    city_admin = headers(world, "410100", role="admin")
    for region in ("410102", "410102", "410103"):
        record_at(world.hub, utcnow(), action="admin.sign_in", outcome="ok", actor_kind="admin",
                  actor_id=f"admin-of-{region}", region_code=region)  # fmt: skip
    record_at(world.hub, utcnow(), action="hub.started", outcome="ok", actor_kind="hub", actor_id="hub")
    city = events(client, city_admin)
    assert [e["action"] for e in city[:4]] == ["hub.started"] + ["admin.sign_in"] * 3
    county = events(client, headers(world, "410102"))
    assert [e["actor_id"] for e in county] == ["admin-of-410102", "admin-of-410102"]
    assert events(client, headers(world, "410103"))[0]["actor_id"] == "admin-of-410103"


def test_pages_are_capped_and_chained(client: TestClient, world: World) -> None:
    leaves = [
        record_at(world.hub, utcnow(), action="admin.sign_in", outcome="ok", actor_kind="admin",
                  actor_id=f"admin:{n}", region_code="410100").leaf_index
        for n in range(5)
    ]  # fmt: skip
    auditor = headers(world)
    page = {"limit": 2, "action": "admin.sign_in"}
    first = client.get("/v1/audit/events", params=page, headers=auditor).json()
    assert [e["leaf_index"] for e in first["events"]] == leaves[4:2:-1] and first["next_before"] == leaves[3]
    second = client.get("/v1/audit/events", params={**page, "before": leaves[3]}, headers=auditor).json()
    assert [e["leaf_index"] for e in second["events"]] == leaves[2:0:-1]
    last = client.get("/v1/audit/events", params={**page, "before": leaves[1]}, headers=auditor).json()
    assert [e["leaf_index"] for e in last["events"]] == leaves[:1] and last["next_before"] is None
    assert client.get("/v1/audit/events", params={"limit": 201}, headers=auditor).status_code == 422
    bad = client.get("/v1/audit/events", params={"type_code": "A%"}, headers=auditor)
    assert bad.status_code == 422


def test_events_need_an_admin_or_auditor(client: TestClient, world: World) -> None:
    assert client.get("/v1/audit/events").status_code == 401
    assert client.get("/v1/audit/events", headers=world.token(f"licence:{ID_CARD}:t1")).status_code == 403
