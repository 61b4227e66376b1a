"""GET /v1/me/licences: the signed-in citizen's licences by type and status."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.registry.models import Department
from tests.factories import HOUSEHOLD, ID_CARD, batch, status_op
from tests.lookups.conftest import World
from tests.me.conftest import sign_in


def test_a_citizen_lists_their_licences(client: TestClient, world: World) -> None:
    sign_in(client, world.citizen)
    response = client.get("/v1/me/licences")
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [(x["licence_id"], x["type_code"], x["status"]) for x in listed] == [
        (world.id_card, ID_CARD, "01"), (world.household, HOUSEHOLD, "01"),
    ]  # fmt: skip
    card = listed[0]
    with world.hub.read_session_factory() as session:
        department = session.get(Department, world.police.id)
    assert department is not None
    assert card["department"] == world.police.id and card["department_name"] == department.name
    assert card["type_name_en"] and card["status_label"] == "valid" and card["valid_until"]
    assert set(card) == {"licence_id", "type_code", "type_name_zh", "type_name_en", "department",
                         "department_name", "version", "status", "status_label", "status_reason_code",
                         "status_reason", "valid_from", "valid_until"}  # fmt: skip
    only = client.get("/v1/me/licences", params={"type_code": HOUSEHOLD}).json()
    assert [x["licence_id"] for x in only] == [world.household]


def test_filtering_by_status(client: TestClient, world: World) -> None:
    suspended = world.police.status(
        world.household, "02", reason="户籍核查 2026-11", reason_code="under_review"
    )
    pushed = client.post("/v1/licences/batch", json=batch(world.police, 2, status_op(suspended)),
                         headers=world.police.headers)  # fmt: skip
    assert pushed.json()["accepted"] == 1, pushed.text
    sign_in(client, world.citizen)
    [held] = client.get("/v1/me/licences", params={"status": "02"}).json()
    # The holder reads the department's own words too (the public status answer carries the code only).
    assert (held["licence_id"], held["status_reason_code"], held["status_reason"]) == (
        world.household, "under_review", "户籍核查 2026-11",
    )  # fmt: skip
    assert [x["licence_id"] for x in client.get("/v1/me/licences", params={"status": "01"}).json()] == [
        world.id_card
    ]
    assert client.get("/v1/me/licences", params={"status": "42"}).status_code == 422


def test_no_one_elses_licences(client: TestClient, world: World) -> None:
    sign_in(client, "410102199001011234")
    assert client.get("/v1/me/licences").json() == []
    client.cookies.clear()
    assert client.get("/v1/me/licences").status_code == 401
