"""PostgreSQL stopped or restarted under the hub: requests fail cleanly with 503 problem+json in bounded
time, service comes back by itself, and every batch is wholly in or wholly out, never doubled.

The hub runs on the fault tests' own cluster (never the shared server other tests use)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi.testclient import TestClient

from hub.context import Hub
from hub.main import create_app
from tests.factories import (
    ID_CARD,
    Issuer,
    batch,
    create_client,
    create_grant,
    create_issuer,
    issue,
    mint_client_token,
    seed_catalog,
)
from tests.faults.helpers import assert_problem, expected_rows, feed_rows
from tests.fixtures.postgres import Cluster

pytestmark = pytest.mark.postgres

BATCH = 5
# A request while the database is away must be answered within this (connect timeout 5 s, pool 10 s).
OUTAGE_ANSWER_SECONDS = 12
CITIZEN = "410105198605141237"


@dataclass
class Feed:
    """A department pushing batches as its adapter would: the same body again after a 503."""

    police: Issuer
    headers: dict[str, str]
    pushed: dict[int, list[str]] = field(default_factory=dict)
    bodies: dict[int, dict[str, object]] = field(default_factory=dict)

    def body(self, sequence: int, *, holder: str | None = None) -> dict[str, object]:
        if sequence not in self.bodies:
            ids = [self.police.licence_id(ID_CARD) for _ in range(BATCH)]
            credentials = [
                self.police.credential(ID_CARD, licence_id=i, holder=holder if n == 0 else None)
                for n, i in enumerate(ids)
            ]
            self.bodies[sequence] = batch(self.police, sequence, *[issue(c) for c in credentials])
            self.pushed[sequence] = [str(i) for i in ids]
        return self.bodies[sequence]


@pytest.fixture
def client(pg_hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub=pg_hub), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def feed(pg_hub: Hub) -> Feed:
    seed_catalog(pg_hub)
    police = create_issuer(pg_hub, "police")
    return Feed(police, police.headers)


def lookup_headers(hub: Hub) -> dict[str, str]:
    service = create_client(hub, kind="service")
    create_grant(hub, service.client_id, ID_CARD, max_tier=1, purposes=["MZCFBG"])
    token = mint_client_token(hub, service.client_id, f"licence:{ID_CARD}:t1")
    return {"Authorization": f"Bearer {token}"}


def lookup(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    body = {"holder_id": CITIZEN, "types": [ID_CARD], "purpose": "MZCFBG", "case_id": "C-1", "nonce": "n" * 8}
    return client.post("/v1/lookups", json=body, headers=headers)


def timed(call: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()  # type: ignore[operator]
    return response, time.monotonic() - started


def test_stopped_database_gives_503_and_the_hub_recovers_with_exact_counts(
    client: TestClient, pg_hub: Hub, feed: Feed, own_cluster: Cluster
) -> None:
    service = lookup_headers(pg_hub)
    first = client.post("/v1/licences/batch", json=feed.body(1, holder=CITIZEN), headers=feed.headers)
    assert first.status_code == 200 and first.json()["accepted"] == BATCH, first.text
    assert len(lookup(client, service).json()["released"]) == 1
    before = feed_rows(pg_hub, feed.police.id)
    assert before == expected_rows({1: feed.pushed[1]})

    own_cluster.stop()
    try:
        calls = {
            "batch": lambda: client.post("/v1/licences/batch", json=feed.body(2), headers=feed.headers),
            "lookup": lambda: lookup(client, service),
            "cursor": lambda: client.get(f"/v1/feeds/{feed.police.id}/cursor", headers=feed.headers),
            "readyz": lambda: client.get("/readyz"),
        }
        for name, call in calls.items():
            response, seconds = timed(call)
            assert seconds < OUTAGE_ANSWER_SECONDS, f"{name} took {seconds:.1f}s with the database down"
            assert_problem(response, 503, "database")
            if name != "readyz":
                assert response.headers["retry-after"].isdigit(), name
        assert client.get("/healthz").status_code == 200
    finally:
        own_cluster.start()

    assert feed_rows(pg_hub, feed.police.id) == before
    # The adapter sends the refused batch again: it goes in once, as new.
    again = client.post("/v1/licences/batch", json=feed.body(2), headers=feed.headers)
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is False and again.json()["accepted"] == BATCH
    assert lookup(client, service).status_code == 200
    assert client.get("/readyz").status_code == 200
    assert feed_rows(pg_hub, feed.police.id) == expected_rows({1: feed.pushed[1], 2: feed.pushed[2]})


def push_until_accepted(client: TestClient, feed: Feed, sequence: int, statuses: list[int]) -> None:
    """What an adapter does: send the same batch until the hub answers 200 (a replay counts)."""
    deadline = time.monotonic() + 60
    while True:
        response = client.post("/v1/licences/batch", json=feed.body(sequence), headers=feed.headers)
        statuses.append(response.status_code)
        if response.status_code == 200:
            result = response.json()
            assert result["accepted"] == BATCH and result["rejected"] == 0, result
            return
        assert_problem(response, 503, "database")
        assert time.monotonic() < deadline, f"sequence {sequence} never accepted: {statuses}"
        time.sleep(0.05)


def restart_during_pushes(
    client: TestClient, feed: Feed, cluster: Cluster, *, restarts: int, after: int = 3
) -> list[int]:
    """Push batch after batch while the cluster restarts ``restarts`` times, then ``after`` more;
    return every status the hub answered."""
    statuses: list[int] = []
    windows: list[tuple[float, float]] = []
    pushes: list[tuple[float, float]] = []

    def restart_repeatedly() -> None:
        for _ in range(restarts):
            time.sleep(0.3)
            began = time.monotonic()
            cluster.restart("fast")
            windows.append((began, time.monotonic()))

    restarter = threading.Thread(target=restart_repeatedly, daemon=True)
    restarter.start()
    sequence, remaining = 0, after
    while restarter.is_alive() or remaining > 0:
        if not restarter.is_alive():
            remaining -= 1
        sequence += 1
        began = time.monotonic()
        push_until_accepted(client, feed, sequence, statuses)
        pushes.append((began, time.monotonic()))
    restarter.join()
    assert len(windows) == restarts, f"only {len(windows)} of {restarts} restarts ran"
    during = [p for p in pushes if any(p[0] < end and began < p[1] for began, end in windows)]
    assert during, "no push was in flight during a restart"
    assert set(statuses) <= {200, 503}, statuses
    return statuses


def test_restart_during_ingest_loses_and_doubles_nothing(
    client: TestClient, pg_hub: Hub, feed: Feed, own_cluster: Cluster
) -> None:
    assert feed_rows(pg_hub, feed.police.id) == expected_rows({})
    statuses = restart_during_pushes(client, feed, own_cluster, restarts=1)
    assert statuses.count(200) == len(feed.pushed) > 3
    assert feed_rows(pg_hub, feed.police.id) == expected_rows(feed.pushed)


@pytest.mark.soak
def test_repeated_restarts_during_ingest_lose_and_double_nothing(
    client: TestClient, pg_hub: Hub, feed: Feed, own_cluster: Cluster
) -> None:
    statuses = restart_during_pushes(client, feed, own_cluster, restarts=20, after=20)
    assert statuses.count(200) == len(feed.pushed)
    assert 503 in statuses, "no request met the database down in 20 restarts"
    assert feed_rows(pg_hub, feed.police.id) == expected_rows(feed.pushed)
