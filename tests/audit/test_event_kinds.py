"""Every kind of event reaches the log: ingest batches, tokens issued, admin changes and sign-ins, consent
given and withdrawn, and refused attempts — each with the actor and region auditors filter by."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from hub.audit.models import AuditEvent
from hub.audit.settings import AuditSettings, get_audit_settings
from hub.kit.time import utcnow
from hub.supervision.rules import evaluate_rules
from storage.database import transaction
from tests.access.helpers import bearer, grant_body, token_with_secret
from tests.factories import ID_CARD, batch, create_admin, issue
from tests.lookups.conftest import World


def logged(world: World, action: str | None = None) -> list[AuditEvent]:
    with world.hub.read_session_factory() as session:
        stmt = select(AuditEvent).order_by(AuditEvent.leaf_index)  # type: ignore[arg-type]
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return list(session.scalars(stmt))


def last_leaf(world: World) -> int:
    return max((e.leaf_index for e in logged(world)), default=-1)


def test_an_ingest_batch_is_one_event_naming_its_licences(client: TestClient, world: World) -> None:
    licence_id = world.police.licence_id(ID_CARD)
    body = batch(world.police, 2, issue(world.police.credential(ID_CARD, licence_id=licence_id)))
    answer = client.post("/v1/licences/batch", json=body, headers=world.police.headers).json()
    [event] = [e for e in logged(world, "ingest.batch") if e.leaf_index == answer["audit_leaf_index"]]
    assert event.licence_ids == [str(licence_id)] and event.department_id == world.police.id
    assert event.outcome == "accepted" and event.detail["sequence"] == 2
    assert event.detail["operations"] == {"issue.accepted": 1}
    assert event.type_codes == f" {ID_CARD} " and event.region_code is not None
    assert world.citizen not in str(event.model_dump())

    before = len(logged(world))
    replay = client.post("/v1/licences/batch", json=body, headers=world.police.headers).json()
    assert replay["replayed"] and replay["audit_leaf_index"] == answer["audit_leaf_index"]
    assert len(logged(world)) == before  # a replay changes nothing, so it records nothing


def test_a_partly_rejected_batch_names_the_rejections(client: TestClient, world: World) -> None:
    good = issue(world.police.credential(ID_CARD, licence_id=world.police.licence_id(ID_CARD)))
    body = batch(world.police, 2, good, {"op": "issue", "credential": "not-a-credential"})
    answer = client.post("/v1/licences/batch", json=body, headers=world.police.headers).json()
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    [event] = [e for e in logged(world, "ingest.batch") if e.leaf_index == answer["audit_leaf_index"]]
    assert event.outcome == "partial" and [r["index"] for r in event.detail["rejected"]] == [1]
    assert event.detail["rejected"][0]["type"]  # the problem's code, e.g. invalid-credential


def test_tokens_issued_at_the_token_endpoint_are_events(client: TestClient, world: World) -> None:
    admin = create_admin(world.hub)
    headers = bearer(world.hub, admin)
    assert client.post("/v1/admin/grants", json=grant_body(world.service.client_id, tier=1), headers=headers)
    assert world.service.secret
    response = token_with_secret(
        client, world.service.client_id, world.service.secret, f"licence:{ID_CARD}:t1"
    )
    assert response.status_code == 200, response.text
    leaf = response.json()["audit_leaf_index"]
    [event] = [e for e in logged(world, "token.issued") if e.leaf_index == leaf]
    assert event.actor_kind == "client" and event.actor_id == world.service.client_id
    assert event.detail["grant_type"] == "client_credentials" and event.detail["jti"]
    assert event.detail["scope"] == f"licence:{ID_CARD}:t1"


def test_admin_changes_are_events_of_the_admin(client: TestClient, world: World) -> None:
    admin = create_admin(world.hub, region="410100")
    headers = bearer(world.hub, admin)
    start = last_leaf(world)
    grant = client.post(
        "/v1/admin/grants", json=grant_body(world.service.client_id, tier=1), headers=headers
    ).json()
    assert client.post(f"/v1/admin/grants/{grant['id']}/revoke", json={"reason": "case closed"},
                       headers=headers).status_code == 200  # fmt: skip
    secret = client.post(f"/v1/admin/clients/{world.service.client_id}/secret", headers=headers)
    assert secret.status_code == 200, secret.text
    changes = [e for e in logged(world) if e.leaf_index > start]
    assert [e.action for e in changes] == ["grant.requested", "grant.revoked", "client.secret_rotated"]
    for event in changes:
        assert (event.actor_kind, event.actor_id) == ("admin", f"admin:{admin.id}")
        assert event.region_code == "410100" and event.client_id == world.service.client_id
    assert changes[0].detail["grant"] == grant["id"] and changes[0].type_codes == f" {ID_CARD} "
    assert changes[1].detail["reason"] == "case closed"
    assert "secret" not in str(changes[2].detail).replace("secret_rotated", "")


def sign_in(client: TestClient, username: str, password: str) -> Any:
    return client.post("/v1/admin/sign-in", json={"username": username, "password": password})


def test_admin_sign_ins_and_refused_sign_ins(client: TestClient, world: World) -> None:
    admin = create_admin(world.hub, region="410102", password="correct horse battery")
    assert sign_in(client, admin.username, "correct horse battery").status_code == 200
    assert sign_in(client, admin.username, "wrong").status_code == 401
    assert sign_in(client, "nobody-at-all", "wrong").status_code == 401
    [signed_in] = logged(world, "admin.sign_in")
    assert (signed_in.actor_id, signed_in.region_code) == (f"admin:{admin.id}", "410102")
    # The wrong password of an existing admin is an event; an unknown username only a count (issue 14).
    [named] = logged(world, "access.refused")
    assert (named.actor_kind, named.actor_id, named.region_code) == ("admin", f"admin:{admin.id}", "410102")
    assert named.detail["status"] == 401 and named.detail["path"] == "/v1/admin/sign-in"


def _unaudited(status: str) -> float:
    return REGISTRY.get_sample_value("hub_refusals_total", {"status": status, "audited": "no"}) or 0.0


def test_refused_calls_are_events_only_when_they_name_an_identity(client: TestClient, world: World) -> None:
    counted = _unaudited("401")
    pusher = client.post(
        "/v1/lookups", json={"holder_id": world.citizen, "types": [ID_CARD], "purpose": "MZCFBG",
                             "case_id": "C-1", "nonce": "n-0123456789"}, headers=world.police.headers,
    )  # fmt: skip
    assert pusher.status_code == 403
    forged = client.get("/v1/admin/me", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401
    bare = client.get("/v1/admin/me")
    assert bare.status_code == 401
    wrong_secret = token_with_secret(client, world.service.client_id, "not-the-secret", "")
    assert wrong_secret.status_code == 401
    unknown_client = token_with_secret(client, "svc-unknown", "whatever", "")
    assert unknown_client.status_code == 401

    junk = [client.get("/v1/admin/me", headers={"Authorization": f"Bearer junk{i}"}) for i in range(20)]
    assert {r.status_code for r in junk} == {401}

    refused = logged(world, "access.refused")
    assert [(e.actor_kind, e.detail["status"], e.detail["path"]) for e in refused] == [
        ("client", 403, "/v1/lookups"),
        ("client", 401, "/oauth/token"),
    ]
    police_client, service_client = refused
    assert police_client.client_id is not None and police_client.client_id != world.service.client_id
    assert police_client.detail["credential"] == "bearer"
    assert service_client.client_id == world.service.client_id
    assert service_client.detail["reason"] == "invalid_client"
    # A forged token, none at all, an unknown client and 20 junk tokens: counted, not in the log.
    assert _unaudited("401") - counted == 23


def test_one_identity_fills_the_log_only_up_to_its_cap(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_AUDIT_REFUSALS_PER_MINUTE", "3")
    get_audit_settings.cache_clear()
    try:
        for _ in range(5):  # five: more would be answered 429 by the back-off (tests/access/test_backoff.py)
            assert token_with_secret(client, world.service.client_id, "wrong", "").status_code == 401
    finally:
        get_audit_settings.cache_clear()
    assert len(logged(world, "access.refused")) == 3


def test_an_unknown_client_costs_a_secret_check_like_a_wrong_secret(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing does not tell which client ids exist: both refusals verify one Argon2 hash."""
    verified: list[str] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str, password: str) -> bool:
        verified.append(password)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    assert token_with_secret(client, world.service.client_id, "not-the-secret", "").status_code == 401
    wrong = len(verified)
    assert token_with_secret(client, "svc-unknown", "whatever", "").status_code == 401
    assert (wrong, len(verified) - wrong) == (1, 1)


def test_refusals_feed_the_refused_attempts_rule(client: TestClient, world: World) -> None:
    settings = AuditSettings(refused_per_hour=2)
    for _ in range(3):
        assert token_with_secret(client, world.service.client_id, "wrong", "").status_code == 401
    with transaction(world.hub.session_factory) as session:
        raised = evaluate_rules(session, utcnow(), settings)
    assert [(a.rule, a.region_code) for a in raised if a.subject_id == world.service.client_id] == [
        ("refused", "410100")
    ]
