"""Signed ingest: POST /v1/licences/batch and the feed cursor (DESIGN 5.1)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.context import Hub
from hub.registry.models import Licence, LicenceVersion
from tests.factories import (
    BUSINESS_LICENCE,
    ID_CARD,
    MARRIAGE,
    Issuer,
    batch,
    create_issuer,
    issue,
    seed_catalog,
    status_op,
    update,
)


@pytest.fixture
def police(hub: Hub) -> Issuer:
    seed_catalog(hub)
    return create_issuer(hub, "police")


def count(hub: Hub, model: type) -> int:
    with hub.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_issue_then_read_status(client: TestClient, hub: Hub, police: Issuer) -> None:
    licence_id = police.licence_id(ID_CARD)
    response = client.post("/v1/licences/batch", json=batch(police, 1, issue(police.credential(ID_CARD, licence_id=licence_id))))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 0, body["results"][0]["problem"]
    assert body["results"][0]["licence_id"] == str(licence_id)

    status = client.get(f"/v1/licences/{licence_id}/status").json()
    assert status["status"] == "01"
    assert status["version"] == 1
    assert status["status_list"]["uri"].endswith(f"/v1/status-lists/{police.id}/0")
    cursor = client.get(f"/v1/feeds/{police.id}/cursor").json()
    assert cursor["last_sequence"] == 1 and cursor["next_sequence"] == 2
    assert cursor["next_status_index"] == {"0": 1}
