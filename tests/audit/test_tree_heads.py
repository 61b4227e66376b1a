"""Signed tree heads: what they sign, when a new one is made, and that lookups carry their leaf."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from hub.audit import heads
from hub.audit.models import TreeHead
from hub.audit.settings import AuditSettings
from hub.context import Hub
from hub.kit.time import utcnow
from storage.database import transaction
from tests.audit import rfc9162
from tests.audit.conftest import append_events, stored_leaf_hashes, verify_head_signature
from tests.factories import ID_CARD, create_grant
from tests.lookups.conftest import World


def head_count(hub: Hub) -> int:
    with hub.read_session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(TreeHead)) or 0)


@pytest.fixture
def no_min_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "hub.web.audit.get_audit_settings", lambda: AuditSettings(head_min_interval_seconds=0)
    )


def test_tree_head_signs_size_root_and_time(client: TestClient, hub: Hub) -> None:
    append_events(hub, 11)
    before = int(utcnow().timestamp() * 1000)
    response = client.get("/v1/audit/tree-head")
    assert response.status_code == 200, response.text
    head = response.json()
    payload = verify_head_signature(hub, head["signed"])
    assert payload["tree_size"] == head["tree_size"] == 11
    assert base64.b64decode(payload["root_hash"]) == rfc9162.mth(stored_leaf_hashes(hub))
    assert payload["root_hash"] == head["root_hash"] and payload["timestamp"] == head["timestamp"]
    assert before - 5000 <= payload["timestamp"] <= int(utcnow().timestamp() * 1000)
    assert payload["iss"] == hub.settings.public_url


def test_an_empty_log_has_a_head_too(client: TestClient, hub: Hub) -> None:
    head = client.get("/v1/audit/tree-head").json()
    assert head["tree_size"] == 0
    assert base64.b64decode(head["root_hash"]) == rfc9162.sha256(b"")


def test_a_new_head_only_when_the_log_grew(client: TestClient, hub: Hub, no_min_interval: None) -> None:
    first = client.get("/v1/audit/tree-head").json()
    assert client.get("/v1/audit/tree-head").json() == first
    append_events(hub, 3)
    second = client.get("/v1/audit/tree-head").json()
    assert second["tree_size"] == 3 and second["timestamp"] >= first["timestamp"]
    assert head_count(hub) == 2


def test_within_the_minimum_interval_the_newest_head_is_served(client: TestClient, hub: Hub) -> None:
    """HUB_AUDIT_HEAD_MIN_INTERVAL_SECONDS (default 1 s) bounds how often readers make the hub sign."""
    client.get("/v1/audit/tree-head")
    append_events(hub, 2)
    assert client.get("/v1/audit/tree-head").json()["tree_size"] == 0
    with transaction(hub.session_factory) as session:  # the newest head is now 2 seconds old
        session.execute(update(TreeHead).values(created_at=utcnow() - timedelta(seconds=2)))
    assert client.get("/v1/audit/tree-head").json()["tree_size"] == 2


def test_an_old_head_is_replaced_even_without_growth(hub: Hub) -> None:
    first = heads.fresh_head(hub, min_interval_s=0, max_age_s=3600)
    assert heads.fresh_head(hub, min_interval_s=0, max_age_s=3600).id == first.id
    with transaction(hub.session_factory) as session:
        session.execute(update(TreeHead).values(created_at=utcnow() - timedelta(hours=2)))
    renewed = heads.fresh_head(hub, min_interval_s=0, max_age_s=3600)
    assert renewed.id != first.id and renewed.tree_size == first.tree_size == 0


def test_consistency_between_two_served_heads(client: TestClient, hub: Hub, no_min_interval: None) -> None:
    append_events(hub, 6)
    old = client.get("/v1/audit/tree-head").json()
    append_events(hub, 9)
    new = client.get("/v1/audit/tree-head").json()
    proof = client.get("/v1/audit/proofs/consistency", params={"first": 6, "second": 15}).json()
    assert rfc9162.verify_consistency(
        old["tree_size"], new["tree_size"], rfc9162.b64(old["root_hash"]), rfc9162.b64(new["root_hash"]),
        [rfc9162.b64(h) for h in proof["consistency"]],
    )  # fmt: skip


def test_a_lookup_names_its_leaf_and_the_leaf_is_provably_logged(
    client: TestClient, world: World, no_min_interval: None
) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=1, purposes=["MZCFBG"])
    body = {"holder_id": world.citizen, "types": [ID_CARD], "purpose": "MZCFBG", "case_id": "C-1",
            "nonce": "n-0123456789"}  # fmt: skip
    receipts = [
        client.post("/v1/lookups", json=body, headers=world.token(f"licence:{ID_CARD}:t1")).json()
        for _ in range(3)
    ]
    first = receipts[0]["audit_leaf_index"]
    assert [r["audit_leaf_index"] for r in receipts] == [first, first + 1, first + 2]
    head = client.get("/v1/audit/tree-head").json()
    leaves = stored_leaf_hashes(world.hub)
    for receipt in receipts:
        i = receipt["audit_leaf_index"]
        proof = client.get(
            "/v1/audit/proofs/inclusion", params={"leaf_index": i, "tree_size": head["tree_size"]}
        ).json()
        assert rfc9162.b64(proof["leaf_hash"]) == leaves[i]
        assert rfc9162.verify_inclusion(
            i, head["tree_size"], leaves[i], [rfc9162.b64(h) for h in proof["audit_path"]],
            rfc9162.b64(head["root_hash"]),
        )  # fmt: skip
