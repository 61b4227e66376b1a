"""A status change's reason: a code from a closed list, public with the status; the department's own
words only where a licence's personal fields are released (tier T1 and above) and to its holder
(tests/me/test_my_licences.py)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from hub.contract import sdjwt
from hub.contract.status import STATUS_CHANGE_TYP, StatusReason
from tests.factories import HOUSEHOLD, batch, create_grant, status_op
from tests.lookups.conftest import World

WORDS = "离婚登记 2026-11-02 金水区民政局"


def change_status(client: TestClient, world: World, licence_id: str, sequence: int, **claims: object) -> dict:
    statement = world.police.status(licence_id, "04", **claims)
    response = client.post(
        "/v1/licences/batch",
        json=batch(world.police, sequence, status_op(statement)),
        headers=world.police.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


def test_the_public_status_names_the_code_and_never_the_words(client: TestClient, world: World) -> None:
    result = change_status(
        client, world, world.household, 2, reason=WORDS, reason_code=StatusReason.REGISTRATION_ENDED
    )
    assert result["outcome"] == "accepted", result
    public = client.get(f"/v1/licences/{world.household}/status")
    assert public.status_code == 200
    body = public.json()
    assert body["status"] == "04" and body["status_reason_code"] == "registration_ended"
    assert "离婚" not in public.text and "status_reason" not in body


def test_the_words_are_released_at_t1_and_above_only(client: TestClient, world: World) -> None:
    change_status(client, world, world.household, 2, reason=WORDS, reason_code="registration_ended")
    create_grant(world.hub, world.service.client_id, HOUSEHOLD, max_tier=1, purposes=["MZCFBG"])
    payload = {"holder_id": world.citizen, "purpose": "MZCFBG", "case_id": "ZZ-1", "nonce": "n-0123456789"}

    t1 = client.post("/v1/lookups", json=payload | {"types": [HOUSEHOLD]},
                     headers=world.token(f"licence:{HOUSEHOLD}:t1"))  # fmt: skip
    assert t1.status_code == 200, t1.text
    [released] = t1.json()["released"]
    assert (released["status"], released["status_reason_code"], released["status_reason"]) == (
        "04", "registration_ended", WORDS,
    )  # fmt: skip

    t0 = client.post("/v1/lookups", json=payload | {"types": [HOUSEHOLD]},
                     headers=world.token(f"licence:{HOUSEHOLD}:t0"))  # fmt: skip
    assert t0.status_code == 200, t0.text
    [released] = t0.json()["released"]
    assert released["tier"] == 0 and released["status_reason_code"] == "registration_ended"
    assert released["status_reason"] is None and "离婚" not in t0.text


@pytest.mark.parametrize(
    "claims, field",
    [
        ({"reason_code": "divorced"}, "operations[0].statement.reason_code"),
        ({"reason_code": 7}, "operations[0].statement.reason_code"),
        ({"reason_code": ["penalty"]}, "operations[0].statement.reason_code"),
        ({"reason": "x" * 256}, "operations[0].statement.reason"),
    ],
)
def test_a_reason_outside_the_list_is_refused_naming_the_claim(
    client: TestClient, world: World, claims: dict, field: str
) -> None:
    # Signed as a department would if it sent its own words as the code; built past the typed helper.
    payload = {"iss": world.police.issuer, "licence_id": world.household, "status": "04",
               "iat": int(time.time()), "jti": "reason-0123456789"} | claims  # fmt: skip
    statement = sdjwt.sign_jws(
        payload, key=world.police.key, kid=world.police.kid, alg=world.police.alg, typ=STATUS_CHANGE_TYP
    )
    response = client.post(
        "/v1/licences/batch", json=batch(world.police, 2, status_op(statement)), headers=world.police.headers
    )
    [result] = response.json()["results"]
    assert result["outcome"] == "rejected"
    assert [e["field"] for e in result["problem"]["errors"]] == [field]
    assert client.get(f"/v1/licences/{world.household}/status").json()["status"] == "01"
