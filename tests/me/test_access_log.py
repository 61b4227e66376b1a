"""GET /v1/me/access-log: every use of the signed-in citizen's licences, and no one else's, each with
an inclusion proof that the test checks with its own RFC 9162 verifier against the signed tree head."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.audit.models import AuditEvent
from tests.audit import rfc9162
from tests.audit.conftest import verify_head_signature
from tests.factories import (
    HOUSEHOLD,
    ID_CARD,
    batch,
    create_admin,
    create_client,
    create_grant,
    issue,
    mint_admin_token,
    mint_client_token,
)
from tests.lookups.conftest import World
from tests.me.conftest import sign_in

OTHER_CITIZEN = "410102199001011234"


def lookup(
    client: TestClient, world: World, service: str, holder: str, types: list[str], case_id: str
) -> Any:
    token = mint_client_token(world.hub, service, " ".join(f"licence:{t}:t1" for t in types))
    body = {
        "holder_id": holder,
        "types": types,
        "purpose": "MZCFBG",
        "case_id": case_id,
        "nonce": "n-0123456789",
    }
    response = client.post("/v1/lookups", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def used(client: TestClient, world: World) -> dict[str, Any]:
    """Two services use the world's citizen's licences (one refused once); a third citizen's licence is
    looked up too."""
    other_service = create_client(world.hub, kind="service").client_id
    for service in (world.service.client_id, other_service):
        create_grant(world.hub, service, ID_CARD, max_tier=1, purposes=["MZCFBG"])
    create_grant(world.hub, other_service, HOUSEHOLD, max_tier=1, purposes=["MZCFBG"])
    other_card = world.police.licence_id(ID_CARD)
    pushed = client.post(
        "/v1/licences/batch", headers=world.police.headers,
        json=batch(world.police, 2, issue(world.police.credential(ID_CARD, licence_id=other_card,
                                                                  holder=OTHER_CITIZEN))),
    )  # fmt: skip
    assert pushed.json()["accepted"] == 1
    receipts = {
        "A-1": lookup(client, world, world.service.client_id, world.citizen, [ID_CARD], "A-1"),
        "B-1": lookup(client, world, other_service, OTHER_CITIZEN, [ID_CARD], "B-1"),
        "A-2": lookup(client, world, other_service, world.citizen, [ID_CARD, HOUSEHOLD], "A-2"),
        "A-3": lookup(client, world, world.service.client_id, world.citizen, [HOUSEHOLD], "A-3"),
        "B-2": lookup(client, world, world.service.client_id, OTHER_CITIZEN, [ID_CARD], "B-2"),
    }
    return {"other_service": other_service, "other_card": str(other_card), "receipts": receipts}


def access_log(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/me/access-log", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def check_proofs(world: World, log: dict[str, Any]) -> None:
    """Each entry's leaf hashes to its proof's leaf hash, and the proof leads to the signed root."""
    head = log["tree_head"]
    payload = verify_head_signature(world.hub, head["signed"])
    assert (payload["tree_size"], payload["root_hash"]) == (head["tree_size"], head["root_hash"])
    root = rfc9162.b64(head["root_hash"])
    for entry in log["entries"]:
        proof = entry["proof"]
        leaf = rfc9162.hash_leaf(entry["leaf"].encode())
        assert leaf == rfc9162.b64(proof["leaf_hash"])
        assert proof["tree_size"] == head["tree_size"] and proof["leaf_index"] == entry["leaf_index"]
        path = [rfc9162.b64(h) for h in proof["audit_path"]]
        assert rfc9162.verify_inclusion(entry["leaf_index"], head["tree_size"], leaf, path, root)
        logged = json.loads(entry["leaf"])  # what was logged is what the entry says
        assert (logged["id"], logged["case_id"], logged["client_id"]) == (
            entry["event_id"],
            entry["case_id"],
            entry["client"]["client_id"],
        )


def test_the_access_log_shows_every_use_and_only_the_citizens(
    client: TestClient, world: World, used: dict[str, Any]
) -> None:
    sign_in(client, world.citizen)
    log = access_log(client)
    entries = log["entries"]
    assert [e["case_id"] for e in entries] == ["A-3", "A-2", "A-1"]  # newest first, nothing of B
    receipts = used["receipts"]
    assert [e["leaf_index"] for e in entries] == [
        receipts[c]["audit_leaf_index"] for c in ("A-3", "A-2", "A-1")
    ]
    assert [e["event_id"] for e in entries] == [receipts[c]["audit_event"] for c in ("A-3", "A-2", "A-1")]
    a3, a2, a1 = entries
    assert a1["client"]["client_id"] == world.service.client_id and a1["client"]["name"] == "service client"
    assert a1["service_item"]["code"] == "MZCFBG" and a1["service_item"]["name_zh"]
    assert [(u["licence_id"], u["type_code"], u["tier"]) for u in a1["licences"]] == [
        (world.id_card, ID_CARD, 1)
    ]
    assert a1["outcome"] == "released" and a1["refused"] == [] and a1["consent"] is False
    assert a2["client"]["client_id"] == used["other_service"]
    assert {u["licence_id"] for u in a2["licences"]} == {world.id_card, world.household}
    assert a3["outcome"] == "refused" and a3["refused"] == [{"type_code": HOUSEHOLD, "reason": "no_grant"}]
    assert a3["licences"] == []
    check_proofs(world, log)
    assert used["other_card"] not in json.dumps(log) and OTHER_CITIZEN not in json.dumps(log)


def test_another_citizen_sees_only_their_own(client: TestClient, world: World, used: dict[str, Any]) -> None:
    sign_in(client, OTHER_CITIZEN)
    log = access_log(client)
    assert [e["case_id"] for e in log["entries"]] == ["B-2", "B-1"]
    assert [u["licence_id"] for e in log["entries"] for u in e["licences"]] == [used["other_card"]] * 2
    check_proofs(world, log)


def test_the_proofs_hold_against_a_later_head(client: TestClient, world: World, used: dict[str, Any]) -> None:
    """After more use, an old entry is proven against the new head, and the new head extends the old."""
    sign_in(client, world.citizen)
    before = access_log(client)
    lookup(client, world, world.service.client_id, world.citizen, [ID_CARD], "A-4")
    after = access_log(client)
    assert after["tree_head"]["tree_size"] == before["tree_head"]["tree_size"] + 1
    assert [e["case_id"] for e in after["entries"]] == ["A-4", "A-3", "A-2", "A-1"]
    check_proofs(world, after)
    first, second = before["tree_head"], after["tree_head"]
    sizes = {"first": first["tree_size"], "second": second["tree_size"]}
    proof = client.get("/v1/audit/proofs/consistency", params=sizes).json()
    assert rfc9162.verify_consistency(
        first["tree_size"], second["tree_size"], rfc9162.b64(first["root_hash"]),
        rfc9162.b64(second["root_hash"]), [rfc9162.b64(h) for h in proof["consistency"]],
    )  # fmt: skip


def test_pages(client: TestClient, world: World, used: dict[str, Any]) -> None:
    sign_in(client, world.citizen)
    first = access_log(client, limit=2)
    assert [e["case_id"] for e in first["entries"]] == ["A-3", "A-2"]
    rest = access_log(client, limit=2, before=first["next_before"])
    assert [e["case_id"] for e in rest["entries"]] == ["A-1"] and rest["next_before"] is None
    check_proofs(world, rest)


def test_the_access_log_needs_a_signed_in_citizen(client: TestClient, world: World) -> None:
    response = client.get("/v1/me/access-log")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    admin = create_admin(world.hub)
    bearer = client.get(
        "/v1/me/access-log", headers={"Authorization": f"Bearer {mint_admin_token(world.hub, admin)}"}
    )
    assert bearer.status_code == 401


def test_the_leaf_bytes_are_the_documented_format(
    client: TestClient, world: World, used: dict[str, Any]
) -> None:
    """The logged bytes are the test's own serialisation of the stored event (hub/audit/leaf.py)."""
    sign_in(client, world.citizen)
    [entry, *_] = access_log(client)["entries"]
    with world.hub.read_session_factory() as session:
        event = session.get(AuditEvent, entry["event_id"])
    assert entry["leaf"].encode() == rfc9162.leaf_of(event)
    assert hashlib.sha256(b"\x00" + rfc9162.leaf_of(event)).digest() == rfc9162.b64(
        entry["proof"]["leaf_hash"]
    )
