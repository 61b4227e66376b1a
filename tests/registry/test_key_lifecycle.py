"""Issue 14, key lifecycle, over HTTP on both databases: a retired key signs nothing that reaches the hub
after retirement whatever its ``iat``; a compromised key's credentials received (or claiming to be
signed) from ``compromised_since`` on are withheld, marked invalid in the status list, and refused by
the offline verifier; a new version from a key in force brings the licence back."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from hub.context import Hub
from hub.contract import sdjwt
from hub.contract.licence_id import LicenceId
from hub.contract.verifier import TrustedKey, VerificationFailed, status_value
from hub.kit.time import utcnow
from hub.registry import service
from storage.database import transaction
from tests.access.helpers import bearer, make_admin
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
    status_op,
    update,
)


@pytest.fixture
def police(hub: Hub) -> Issuer:
    seed_catalog(hub)
    return create_issuer(hub, "police")


def _push(client: TestClient, issuer: Issuer, sequence: int, *operations: dict) -> dict:
    response = client.post(
        "/v1/licences/batch", json=batch(issuer, sequence, *operations), headers=issuer.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_retired_key_cannot_backdate_a_status_change(client: TestClient, hub: Hub, police: Issuer) -> None:
    licence_id = police.licence_id(ID_CARD)
    assert _push(client, police, 1, issue(police.credential(ID_CARD, licence_id=licence_id)))["accepted"] == 1
    with transaction(hub.session_factory) as session:
        service.retire_department_key(session, police.id, police.kid)
    backdated = police.status(licence_id, "07", issued_at=int(time.time()) - 86400)
    body = _push(client, police, 2, status_op(backdated))
    assert body["results"][0]["problem"]["type"].endswith("/key-not-in-force")
    status = client.get(f"/v1/licences/{licence_id}/status").json()
    assert (status["status"], status["status_changed_at"]) == ("01", None)


def _lookup(client: TestClient, hub: Hub, service_client: str, holder: str) -> dict:
    token = mint_client_token(hub, service_client, f"licence:{ID_CARD}:t1")
    return client.post(
        "/v1/lookups",
        json={"holder_id": holder, "types": [ID_CARD], "purpose": "MZCFBG", "case_id": "key-1",
              "nonce": "key-nonce-1"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()  # fmt: skip


def _list_value(client: TestClient, department: str, index: int) -> int:
    token = client.get(f"/v1/status-lists/{department}/0").text
    return status_value(sdjwt.decode_jws(token).payload["status_list"], index)


def test_a_compromised_key_withholds_what_it_signed_from_then_on(
    client: TestClient, hub: Hub, police: Issuer
) -> None:
    reader = create_client(hub, kind="service").client_id
    create_grant(hub, reader, ID_CARD, max_tier=1)
    early_holder, late_holder = police.holder_for(ID_CARD), police.holder_for(ID_CARD)
    early = police.licence_id(ID_CARD)
    _push(client, police, 1, issue(police.credential(ID_CARD, licence_id=early, holder=early_holder,
                                                     status_index=0)))  # fmt: skip
    time.sleep(0.01)
    since = utcnow()
    time.sleep(0.01)
    # Received after ``since`` though it claims to be signed an hour before: withheld by its receipt.
    late = police.licence_id(ID_CARD)
    backdated = police.credential(
        ID_CARD, licence_id=late, holder=late_holder, status_index=1, issued_at=int(time.time()) - 3600
    )
    assert _push(client, police, 2, issue(backdated))["accepted"] == 1

    admin = make_admin(hub, region="410100")
    marked = client.post(
        f"/v1/admin/departments/{police.id}/keys/{police.kid}/compromised",
        json={"compromised_since": since.isoformat()},
        headers=bearer(hub, admin),
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "compromised"
    future = client.post(
        f"/v1/admin/departments/{police.id}/keys/{police.kid}/compromised",
        json={"compromised_since": (utcnow() + timedelta(days=1)).isoformat()},
        headers=bearer(hub, admin),
    )
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "compromised_since"

    assert [r["licence_id"] for r in _lookup(client, hub, reader, early_holder)["released"]] == [str(early)]
    refused = _lookup(client, hub, reader, late_holder)
    assert refused["released"] == [] and refused["refused"][0]["reason"] == "key_compromised"
    assert (_list_value(client, police.id, 0), _list_value(client, police.id, 1)) == (0, 1)
    [published] = client.get(f"/v1/departments/{police.id}/jwks").json()["keys"]
    assert published["status"] == "compromised" and published["compromised_since"] == int(since.timestamp())

    # Nothing more signed by it is taken in; a new version from a key in force brings the licence back.
    again = _push(client, police, 3, issue(police.credential(ID_CARD, issued_at=int(time.time()) - 7200)))
    assert again["results"][0]["problem"]["type"].endswith("/key-not-in-force")
    fresh = ECKey.generate_key("P-256", private=True)
    with transaction(hub.session_factory) as session:
        row = service.add_department_key(session, police.id, {**fresh.as_dict(private=False), "alg": "ES256"})
    renewed = Issuer(hub, police.id, "police", police.uscc, police.issuer, fresh, row.kid, "ES256",
                     client_id=police.client_id)  # fmt: skip
    version_2 = LicenceId(ID_CARD, police.uscc, late.serial, 2)
    credential = renewed.credential(ID_CARD, licence_id=version_2, holder=late_holder, status_index=1)
    assert _push(client, police, 4, update(credential))["accepted"] == 1
    assert [r["licence_id"] for r in _lookup(client, hub, reader, late_holder)["released"]] == [
        str(version_2)
    ]
    assert _list_value(client, police.id, 1) == 0


def test_the_offline_verifier_applies_the_key_states() -> None:
    jwk = ECKey.generate_key("P-256", private=True).as_dict(private=False)
    retired = TrustedKey(iss="https://d", kid="k", jwk=jwk, status="retired", retired_at=1_000)
    retired.check_signed_at(1_000)
    with pytest.raises(VerificationFailed) as after:
        retired.check_signed_at(1_001)
    assert after.value.reason == "key_retired"
    compromised = TrustedKey(iss="https://d", kid="k", jwk=jwk, status="compromised", compromised_since=500)
    compromised.check_signed_at(499)
    with pytest.raises(VerificationFailed) as since:
        compromised.check_signed_at(500)
    assert since.value.reason == "key_compromised"
    TrustedKey(iss="https://d", kid="k", jwk=jwk, status="active").check_signed_at(10**9)
