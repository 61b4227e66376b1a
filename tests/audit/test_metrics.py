"""GET /metrics: lookups and refusals by client and licence type, ingest counts, feed lag, audit tree
size and alerts."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from hub.audit.models import AuditEvent
from hub.kit.time import utcnow
from hub.supervision.metrics import DATABASE
from storage.database import transaction
from tests.factories import BUSINESS_LICENCE, ID_CARD, create_grant, monitor_headers
from tests.lookups.conftest import World


def scrape(
    client: TestClient, headers: dict[str, str]
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    DATABASE._cached = None  # no waiting for the scrape cache in a test
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=1, purposes=["CJRZHF"])
    client_id = world.service.client_id
    monitor = monitor_headers(world.hub)
    before = scrape(client, monitor)
    body = {"holder_id": world.citizen, "types": [ID_CARD, BUSINESS_LICENCE], "purpose": "MZCFBG",
            "case_id": "C-1", "nonce": "n-0123456789"}  # fmt: skip
    for _ in range(2):
        response = client.post("/v1/lookups", json=body, headers=world.token(f"licence:{ID_CARD}:t1"))
        assert response.status_code == 200, response.text
    from hub.supervision.rules import evaluate_rules

    with transaction(world.hub.session_factory) as session:
        assert len(evaluate_rules(session, utcnow())) == 1  # purpose not covered
        assert len(evaluate_rules(session, utcnow() + timedelta(hours=25))) == 2  # both feeds stale
    after = scrape(client, monitor)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert grew("hub_lookups_total", client=client_id, licence_type=ID_CARD, action="lookup") == 2
    assert grew("hub_lookup_refusals_total", client=client_id, licence_type=ID_CARD,
                reason="purpose_not_covered") == 2  # fmt: skip
    assert grew("hub_lookup_refusals_total", client=client_id, licence_type=BUSINESS_LICENCE,
                reason="no_licence") == 2  # fmt: skip
    with world.hub.session_factory() as session:
        actions = Counter(session.scalars(select(AuditEvent.action)))
    assert actions["lookup"] == 2 and actions["alert.raised"] == 3
    assert after[("hub_audit_tree_size", ())] == actions.total()  # setup's admin changes, lookups, alerts
    assert after[("hub_audit_metrics_database_up", ())] == 1
    assert (
        after[("hub_ingest_operations_total", (("department", world.police.id), ("outcome", "accepted")))]
        == 2
    )
    assert after[("hub_ingest_batches_total", (("department", world.commerce.id),))] == 1
    lag = after[("hub_feed_lag_seconds", (("department", world.police.id),))]
    assert 0 <= lag < 120
    assert after[("hub_alerts", (("rule", "feed_stale"), ("status", "open")))] == 2
    assert after[("hub_alerts", (("rule", "purpose_not_covered"), ("status", "open")))] == 1
    assert grew("hub_alerts_raised_total", rule="feed_stale") == 2
    assert re.search(
        r'hub_http_request_seconds_bucket\{.*route="/v1/lookups"',
        client.get("/metrics", headers=monitor).text,
    )


def test_a_rolled_back_lookup_is_not_counted(client: TestClient, world: World) -> None:
    from hub.audit import service as audit
    from hub.audit.metrics import LOOKUP_TYPES

    counter = LOOKUP_TYPES.labels("rollback-client", ID_CARD, "lookup")
    before = counter._value.get()
    try:
        with transaction(world.hub.session_factory) as session:
            audit.record(
                session, action="lookup", outcome="released", actor_kind="client", actor_id="rollback-client",
                detail={"released": [{"type": ID_CARD, "tier": 1}]},
            )  # fmt: skip
            raise RuntimeError("the request failed after the lookup")
    except RuntimeError:
        pass
    assert counter._value.get() == before
