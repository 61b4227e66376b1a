"""Each supervision rule, evaluated directly at a chosen ``now``: one case that raises its alert and one
that does not. Then the alerts API: listing by region, filters, acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hub.audit import service as audit
from hub.audit.models import Alert, AuditEvent, TreeHead
from hub.audit.settings import AuditSettings, get_audit_settings
from hub.cli import app
from hub.context import Hub
from hub.kit.time import utcnow
from hub.settings import Settings
from hub.supervision.rules import evaluate_rules
from storage.database import transaction
from tests.audit.conftest import cli_env
from tests.factories import ID_CARD, create_admin, create_grant, create_issuer, mint_admin_token, seed_catalog
from tests.lookups.conftest import World

NOW = datetime(2026, 11, 28, 10, 5, tzinfo=UTC)
SETTINGS = AuditSettings(
    volume_factor=5, volume_baseline_hours=10, volume_min_lookups=10, refused_per_hour=5,
    purpose_not_covered_per_hour=1, feed_stale_hours=24, grant_expiry_days=7,
)  # fmt: skip


def lookups(hub: Hub, actor: str, count: int, start: datetime, span: timedelta, **fields: Any) -> None:
    """``count`` lookups by ``actor`` spread evenly over ``[start, start + span)``."""
    with transaction(hub.session_factory) as session:
        for n in range(count):
            audit.record(
                session, occurred_at=start + span * n / count,
                **{"action": "lookup", "outcome": "released", "actor_kind": "client", "actor_id": actor,
                   "region_code": "410102", **fields},
            )  # fmt: skip


def evaluate(hub: Hub, now: datetime = NOW) -> list[Alert]:
    with transaction(hub.session_factory) as session:
        return evaluate_rules(session, now, SETTINGS)


def rules(alerts: list[Alert]) -> list[tuple[str, str]]:
    return sorted((a.rule, a.subject_id) for a in alerts)


# Rules look at ten-minute buckets: at 10:05 the last hour is the buckets from 09:10 to 10:10, and the
# baseline the ten hours before 09:10.
LAST_HOUR = NOW - timedelta(minutes=55)
BASELINE_START, BASELINE = NOW - timedelta(hours=10, minutes=50), timedelta(hours=9, minutes=50)


def test_volume_far_above_the_baseline_raises(hub: Hub) -> None:
    lookups(hub, "svc-busy", 20, BASELINE_START, BASELINE)  # 2 an hour
    lookups(hub, "svc-busy", 15, LAST_HOUR, timedelta(minutes=50))  # 15 > 5 × 2
    [alert] = evaluate(hub)
    assert (alert.rule, alert.subject_id, alert.region_code) == ("volume", "svc-busy", "410102")
    assert alert.detail["lookups"] == 15 and alert.detail["baseline_per_hour"] == 2


def test_volume_within_the_factor_does_not_raise(hub: Hub) -> None:
    lookups(hub, "svc-steady", 30, BASELINE_START, BASELINE)  # 3 an hour
    lookups(hub, "svc-steady", 12, LAST_HOUR, timedelta(minutes=50))  # 12 <= 5 × 3, though above the floor
    assert evaluate(hub) == []


def test_refused_attempts_above_the_threshold_raise(hub: Hub) -> None:
    lookups(hub, "svc-probing", 6, LAST_HOUR, timedelta(minutes=30), outcome="refused")
    assert rules(evaluate(hub)) == [("refused", "svc-probing")]


def test_refused_attempts_at_the_threshold_do_not_raise(hub: Hub) -> None:
    lookups(hub, "svc-unlucky", 5, LAST_HOUR, timedelta(minutes=30), outcome="refused")
    lookups(hub, "svc-unlucky", 3, NOW - timedelta(hours=3), timedelta(minutes=30), outcome="refused")
    assert evaluate(hub) == []


def lookup(client: TestClient, world: World, purpose: str) -> Any:
    body = {"holder_id": world.citizen, "types": [ID_CARD], "purpose": purpose, "case_id": "C-9",
            "nonce": "n-0123456789"}  # fmt: skip
    response = client.post("/v1/lookups", json=body, headers=world.token(f"licence:{ID_CARD}:t1"))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_purpose_no_grant_covers_raises(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=1, purposes=["CJRZHF"])
    assert lookup(client, world, "MZCFBG")["refused"][0]["reason"] == "purpose_not_covered"
    [alert] = evaluate(world.hub, utcnow())
    assert (alert.rule, alert.subject_id, alert.severity) == (
        "purpose_not_covered",
        world.service.client_id,
        "critical",
    )
    assert alert.region_code == "410100"


def test_lookups_within_the_grants_purposes_do_not_raise(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=1, purposes=["MZCFBG"])
    assert lookup(client, world, "MZCFBG")["released"]
    assert evaluate(world.hub, utcnow()) == []


def test_a_stale_feed_raises_once(client: TestClient, world: World) -> None:
    """The world's police and commerce feeds accepted a batch just now; a day and more later they are
    stale (one alert per feed per quiet spell)."""
    later = utcnow() + timedelta(hours=25)
    assert rules(evaluate(world.hub, later)) == [
        ("feed_stale", world.commerce.id),
        ("feed_stale", world.police.id),
    ]
    assert evaluate(world.hub, later + timedelta(hours=1)) == []


def test_a_recent_feed_does_not_raise(client: TestClient, world: World) -> None:
    assert evaluate(world.hub, utcnow() + timedelta(hours=23)) == []


def test_a_department_that_never_pushed_is_stale_too(hub: Hub) -> None:
    seed_catalog(hub)
    police = create_issuer(hub, "police")
    assert evaluate(hub, utcnow() + timedelta(hours=12)) == []
    [alert] = evaluate(hub, utcnow() + timedelta(hours=25))
    assert (alert.rule, alert.subject_id) == ("feed_stale", police.id) and "never pushed" in alert.summary


def test_a_grant_ending_soon_raises(client: TestClient, world: World) -> None:
    soon = create_grant(world.hub, world.service.client_id, ID_CARD, valid_until=utcnow() + timedelta(days=3))
    create_grant(world.hub, world.service.client_id, ID_CARD, valid_until=utcnow() + timedelta(days=30))
    assert rules(evaluate(world.hub, utcnow())) == [("grant_expiring", str(soon.id))]
    assert evaluate(world.hub, utcnow()) == []  # raised once


def test_grants_ending_later_do_not_raise(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, valid_until=utcnow() + timedelta(days=8))
    assert evaluate(world.hub, utcnow()) == []


def test_evaluating_again_raises_nothing_twice(hub: Hub) -> None:
    lookups(hub, "svc-probing", 6, LAST_HOUR, timedelta(minutes=30), outcome="refused")
    assert len(evaluate(hub)) == 1
    assert evaluate(hub) == [] and evaluate(hub, NOW + timedelta(minutes=20)) == []
    # The next clock hour is a new window: still more refusals there than the threshold allows.
    lookups(hub, "svc-probing", 6, NOW + timedelta(minutes=56), timedelta(minutes=5), outcome="refused")
    assert rules(evaluate(hub, NOW + timedelta(hours=1))) == [("refused", "svc-probing")]


# The alerts API --------------------------------------------------------------------------------------


@pytest.fixture
def raised(hub: Hub) -> dict[str, int]:
    """A refused-attempts alert in county 410102 and one in county 410103."""
    seed_catalog(hub)
    lookups(hub, "svc-a", 6, LAST_HOUR, timedelta(minutes=30), outcome="refused")
    lookups(hub, "svc-b", 6, LAST_HOUR, timedelta(minutes=30), outcome="refused", region_code="410103")
    alerts = evaluate(hub)
    return {a.subject_id: a.id or 0 for a in alerts}


def headers(hub: Hub, region: str, role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_admin_token(hub, create_admin(hub, region=region, role=role))}"}


def test_alerts_are_listed_by_region(client: TestClient, hub: Hub, raised: dict[str, int]) -> None:
    city = client.get("/v1/admin/alerts", headers=headers(hub, "410100"))
    assert city.status_code == 200, city.text
    assert sorted(a["subject_id"] for a in city.json()["alerts"]) == ["svc-a", "svc-b"]
    county = client.get("/v1/admin/alerts", headers=headers(hub, "410102", role="auditor")).json()
    assert [a["subject_id"] for a in county["alerts"]] == ["svc-a"]
    assert (
        client.get("/v1/admin/alerts", params={"rule": "volume"}, headers=headers(hub, "410100")).json()[
            "alerts"
        ]
        == []
    )


def test_an_alert_is_acknowledged_once(client: TestClient, hub: Hub, raised: dict[str, int]) -> None:
    auditor = headers(hub, "410102", role="auditor")
    url = f"/v1/admin/alerts/{raised['svc-a']}/acknowledge"
    response = client.post(url, json={"note": "called the service's operator"}, headers=auditor)
    assert response.status_code == 200, response.text
    acknowledged = response.json()
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledgement"].startswith("called")
    assert client.post(url, headers=headers(hub, "410100")).json() == acknowledged
    listed = client.get("/v1/admin/alerts", params={"status": "open"}, headers=headers(hub, "410100")).json()
    assert [a["subject_id"] for a in listed["alerts"]] == ["svc-b"]


def test_an_alert_of_another_region_is_refused(client: TestClient, hub: Hub, raised: dict[str, int]) -> None:
    response = client.post(f"/v1/admin/alerts/{raised['svc-b']}/acknowledge", headers=headers(hub, "410102"))
    assert response.status_code == 403
    assert (
        client.post("/v1/admin/alerts/999999/acknowledge", headers=headers(hub, "410100")).status_code == 404
    )


def test_acknowledging_is_itself_audited(client: TestClient, hub: Hub, raised: dict[str, int]) -> None:
    client.post(f"/v1/admin/alerts/{raised['svc-a']}/acknowledge", headers=headers(hub, "410100"))
    with hub.read_session_factory() as session:
        actions = _actions(session)
    assert actions.count("alert.raised") == 2 and actions.count("alert.acknowledged") == 1


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action)))


def test_the_supervise_command_runs_a_round(hub: Hub, settings: Settings) -> None:
    """``hub audit supervise --once``: the rules at the current time, then a tree head."""
    lookups(hub, "svc-probing", 6, utcnow() - timedelta(minutes=5), timedelta(minutes=2), outcome="refused")
    env = {**cli_env(settings), "HUB_AUDIT_REFUSED_PER_HOUR": "5"}
    get_audit_settings.cache_clear()  # read HUB_AUDIT_* again, as a new process would
    try:
        result = CliRunner().invoke(app, ["audit", "supervise", "--once"], env=env)
    finally:
        get_audit_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1 alerts raised" in result.output
    with hub.read_session_factory() as session:
        [head] = session.scalars(select(TreeHead)).all()
    assert head.tree_size == 7  # six lookups and the alert's own event
