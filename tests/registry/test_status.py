"""Licence status and hub-signed status list tokens (IETF Token Status List)."""

from __future__ import annotations

import base64
import time
import zlib

import pytest
from fastapi.testclient import TestClient

from hub.context import Hub
from hub.contract import sdjwt
from tests.factories import ID_CARD, Issuer, batch, create_issuer, issue, seed_catalog, status_op


@pytest.fixture
def police(hub: Hub) -> Issuer:
    seed_catalog(hub)
    return create_issuer(hub, "police")


def _status_values(token: str, jwks: dict, indexes: list[int]) -> tuple[dict, list[int]]:
    keys = {k["kid"]: k for k in jwks["keys"]}
    header, payload = sdjwt.verify_jws(token, lambda h: keys.get(h.get("kid")), typ="statuslist+jwt")
    assert header["alg"] == "ES256"
    raw = zlib.decompress(base64.urlsafe_b64decode(payload["status_list"]["lst"] + "=="))
    bits = payload["status_list"]["bits"]
    per_byte = 8 // bits
    values = [(raw[i // per_byte] >> ((i % per_byte) * bits)) & ((1 << bits) - 1) for i in indexes]
    return payload, values


def test_status_list_token_reflects_status_and_expiry(client: TestClient, hub: Hub, police: Issuer) -> None:
    now = int(time.time())
    ids = [police.licence_id(ID_CARD) for _ in range(4)]
    creds = [police.credential(ID_CARD, licence_id=ids[i], status_index=i) for i in range(3)]
    creds.append(
        police.credential(
            ID_CARD, licence_id=ids[3], status_index=3, valid_from=now - 100, valid_until=now - 10
        )
    )
    response = client.post(
        "/v1/licences/batch", json=batch(police, 1, *map(issue, creds)), headers=police.headers
    )
    assert response.json()["accepted"] == 4
    client.post(
        "/v1/licences/batch",
        headers=police.headers,
        json=batch(police, 2, status_op(police.status(ids[1], "02")), status_op(police.status(ids[2], "07"))),
    )

    token_response = client.get(f"/v1/status-lists/{police.id}/0")
    assert token_response.status_code == 200
    assert token_response.headers["content-type"] == "application/statuslist+jwt"
    payload, values = _status_values(
        token_response.text, client.get("/.well-known/jwks.json").json(), [0, 1, 2, 3, 4]
    )
    assert values == [0, 2, 1, 1, 0]  # valid, suspended, revoked, lapsed, unused
    assert payload["sub"].endswith(f"/v1/status-lists/{police.id}/0")
    assert payload["exp"] > payload["iat"]

    lapsed = client.get(f"/v1/licences/{ids[3]}/status").json()
    assert lapsed["status"] == "05" and lapsed["status_label"] == "lapsed"


def test_status_list_of_unknown_department_is_404(client: TestClient, police: Issuer) -> None:
    response = client.get("/v1/status-lists/nobody/0")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/licences/{police.licence_id(ID_CARD)}/status").status_code == 404
