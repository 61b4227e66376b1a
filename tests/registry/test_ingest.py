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

ISSUERS: dict[str, Issuer] = {}


@pytest.fixture
def police(hub: Hub) -> Issuer:
    seed_catalog(hub)
    ISSUERS.clear()
    issuer = ISSUERS["zz-police"] = create_issuer(hub, "police")
    return issuer


def count(hub: Hub, model: type) -> int:
    with hub.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_issue_then_read_status(client: TestClient, hub: Hub, police: Issuer) -> None:
    licence_id = police.licence_id(ID_CARD)
    response = client.post(
        "/v1/licences/batch",
        json=batch(police, 1, issue(police.credential(ID_CARD, licence_id=licence_id))),
        headers=police.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 0, body["results"][0]["problem"]
    assert body["results"][0]["licence_id"] == str(licence_id)

    status = client.get(f"/v1/licences/{licence_id}/status").json()
    assert status["status"] == "01"
    assert status["version"] == 1
    assert status["status_list"]["uri"].endswith(f"/v1/status-lists/{police.id}/0")
    cursor = client.get(f"/v1/feeds/{police.id}/cursor", headers=police.headers).json()
    assert cursor["last_sequence"] == 1 and cursor["next_sequence"] == 2
    assert cursor["next_status_index"] == {"0": 1}


def post(client: TestClient, body: dict, issuer: Issuer | None = None) -> dict:
    """POST a batch as its department's client (``issuer`` when the body names another feed)."""
    headers = (issuer or ISSUERS[body["department"]]).headers
    response = client.post("/v1/licences/batch", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def only_problem(body: dict) -> dict:
    assert body["accepted"] == 0 and body["rejected"] == 1
    problem = body["results"][0]["problem"]
    assert problem["type"].startswith("https://") and problem["status"] >= 400
    return problem


def tamper_disclosure(credential: str) -> str:
    import base64
    import json

    jwt, *disclosures, _ = credential.split("~")
    raw = json.loads(base64.urlsafe_b64decode(disclosures[0] + "=="))
    raw[2] = "tampered" if not isinstance(raw[2], str) or raw[2] != "tampered" else "other"
    disclosures[0] = base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode()
    return "~".join([jwt, *disclosures, ""])


def wrong_check_digit(holder: str) -> str:
    last = holder[-1]
    return holder[:-1] + ("0" if last != "0" else "1")


@pytest.mark.parametrize(
    "case, expected_type, field_part",
    [
        ("unknown key", "unknown-key", None),
        ("tampered disclosure", "invalid-signature", "disclosures"),
        ("wrong check digit", "invalid-claims", "claims.id_number"),
        ("field not in type", "invalid-claims", "claims.shoe_size"),
        ("type not issuable", "type-not-issuable", "vct"),
        ("state-secret claim", "state-secret-refused", None),
        ("malformed", "malformed-credential", "credential"),
        ("unknown type", "invalid-claims", "vct"),
        ("wrong issuer", "invalid-claims", "iss"),
        ("personal field in the clear", "invalid-claims", "claims.name"),
        ("missing required field", "invalid-claims", "claims.name"),
        ("bad date", "invalid-claims", "claims.birth_date"),
        ("status list elsewhere", "invalid-claims", "status"),
    ],
)
def test_bad_credential_is_refused_and_nothing_is_stored(
    client: TestClient, hub: Hub, police: Issuer, case: str, expected_type: str, field_part: str | None
) -> None:
    from joserfc.jwk import ECKey

    from hub.contract import sdjwt
    from tests.factories import TYPES, sample_values

    spec = TYPES[ID_CARD]
    holder = police.holder_for(ID_CARD)
    values = sample_values(spec, holder, police.rng)
    if case == "unknown key":
        credential = police.credential(ID_CARD, key=ECKey.generate_key("P-256", private=True), kid="stranger")
    elif case == "tampered disclosure":
        credential = tamper_disclosure(police.credential(ID_CARD))
    elif case == "wrong check digit":
        credential = police.credential(ID_CARD, values={**values, "id_number": wrong_check_digit(holder)})
    elif case == "field not in type":
        widened = {**spec, "fields": [*spec["fields"], {"name": "shoe_size", "tier": 2}]}
        credential = police.credential(ID_CARD, licence_type=widened, values={**values, "shoe_size": "42"})
    elif case == "type not issuable":
        credential = police.credential(
            BUSINESS_LICENCE, licence_id=police.licence_id(BUSINESS_LICENCE),
            values=sample_values(TYPES[BUSINESS_LICENCE], "91410100MA44B0Y60Y", police.rng),
        )  # fmt: skip
    elif case == "state-secret claim":
        credential = _reissue(police, police.credential(ID_CARD), classification="state_secret")
    elif case == "malformed":
        credential = "not.an~sd-jwt"
    elif case == "unknown type":
        credential = _reissue(police, police.credential(ID_CARD), vct="11100000000013127D999")
    elif case == "wrong issuer":
        credential = _reissue(police, police.credential(ID_CARD), iss="https://elsewhere.example/issuer")
    elif case == "personal field in the clear":
        without_name = police.credential(ID_CARD, values={k: v for k, v in values.items() if k != "name"})
        credential = _reissue(police, without_name, name="张三")
    elif case == "missing required field":
        credential = police.credential(ID_CARD, values={k: v for k, v in values.items() if k != "name"})
    elif case == "status list elsewhere":
        status = {"status_list": {"idx": 0, "uri": f"https://evil.example/v1/status-lists/{police.id}/0"}}
        credential = _reissue(police, police.credential(ID_CARD), status=status)
    elif case == "bad date":
        credential = police.credential(ID_CARD, values={**values, "birth_date": "1990-02-30"})
    else:  # pragma: no cover
        raise AssertionError(case)
    assert isinstance(sdjwt, object)

    problem = only_problem(post(client, batch(police, 1, issue(credential))))
    assert problem["type"].endswith("/" + expected_type), problem
    if field_part:
        assert any(field_part in e["field"] for e in problem["errors"]), problem
    assert count(hub, Licence) == 0
    assert count(hub, LicenceVersion) == 0


def _reissue(issuer: Issuer, credential: str, **changes: object) -> str:
    """Re-sign a credential's issuer JWT with some plain claims changed (still a valid signature)."""
    from hub.contract import sdjwt

    parsed = sdjwt.parse(credential)
    payload = {**parsed.payload, **changes}
    jwt = sdjwt.sign_jws(payload, key=issuer.key, kid=issuer.kid, alg=issuer.alg, typ="dc+sd-jwt")
    return jwt + "~" + "".join(d.encoded + "~" for d in parsed.disclosures)


def test_state_secret_type_cannot_enter_the_catalog(hub: Hub) -> None:
    from hub.errors import Forbidden
    from hub.registry import service
    from hub.registry.catalog_data import load_refused_examples
    from storage.database import transaction

    refused = load_refused_examples()[0]
    with pytest.raises(Forbidden, match="state-secret"), transaction(hub.session_factory) as session:
        service.register_licence_type(session, refused)
    with hub.session_factory() as session:
        assert service.list_licence_types(session) == []


def test_oversize_batch_is_refused_whole(client: TestClient, hub: Hub, police: Issuer) -> None:
    credential = police.credential(ID_CARD)
    too_many = hub.settings.max_batch_operations + 1
    response = client.post(
        "/v1/licences/batch", json=batch(police, 1, *[issue(credential)] * too_many), headers=police.headers
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "operations"
    assert client.get(f"/v1/feeds/{police.id}/cursor", headers=police.headers).json()["last_sequence"] == 0


def test_oversize_body_is_refused_before_parsing(client: TestClient, hub: Hub, police: Issuer) -> None:
    body = b'{"department": "' + b"x" * (hub.settings.max_batch_bytes + 10) + b'"}'
    response = client.post(
        "/v1/licences/batch", content=body, headers={"content-type": "application/json", **police.headers}
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")


def test_a_bad_operation_does_not_block_the_good_ones(client: TestClient, hub: Hub, police: Issuer) -> None:
    good = [police.credential(ID_CARD) for _ in range(3)]
    body = post(
        client,
        batch(police, 1, issue(good[0]), issue("garbage~"), issue(good[1]), {"op": "erase"}, issue(good[2])),
    )
    assert [r["outcome"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
        "accepted",
    ]
    assert body["results"][3]["problem"]["errors"][0]["field"] == "operations[3].op"
    assert count(hub, Licence) == 3


def test_replay_returns_the_stored_result_and_gap_is_refused(
    client: TestClient, hub: Hub, police: Issuer
) -> None:
    first = batch(police, 1, issue(police.credential(ID_CARD)), issue("garbage~"))
    stored = post(client, first)
    replayed = post(client, first)
    assert replayed["replayed"] is True
    assert {**replayed, "replayed": False} == stored
    assert count(hub, LicenceVersion) == 1

    different = client.post(
        "/v1/licences/batch", json=batch(police, 1, issue(police.credential(ID_CARD))), headers=police.headers
    )
    assert different.status_code == 409

    gap = client.post(
        "/v1/licences/batch", json=batch(police, 3, issue(police.credential(ID_CARD))), headers=police.headers
    )
    assert gap.status_code == 409
    assert gap.headers["content-type"] == "application/problem+json"
    assert gap.json()["expected_sequence"] == 2
    assert gap.json()["type"].endswith("/sequence-gap")
    assert count(hub, LicenceVersion) == 1


def test_update_makes_a_linked_version_and_status_change_applies(
    client: TestClient, hub: Hub, police: Issuer
) -> None:
    v1 = police.licence_id(ID_CARD)
    holder = police.holder_for(ID_CARD)
    post(
        client,
        batch(police, 1, issue(police.credential(ID_CARD, licence_id=v1, holder=holder, status_index=5))),
    )
    v2 = v1.with_version(2)
    body = post(
        client,
        batch(
            police, 2,
            update(police.credential(ID_CARD, licence_id=v2, holder=holder, status_index=5)),
            update(police.credential(ID_CARD, licence_id=v1.with_version(4), holder=holder, status_index=5)),
            status_op(police.status(v2, "02", reason="暂扣", reason_code="penalty")),
        ),
    )  # fmt: skip
    assert [r["outcome"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert body["results"][1]["problem"]["type"].endswith("/version-conflict")
    status = client.get(f"/v1/licences/{v1}/status").json()
    assert (
        status["current_licence_id"] == str(v2) and status["current_version"] == 2 and status["version"] == 1
    )
    assert status["status"] == "02" and status["status_reason_code"] == "penalty"
    with hub.session_factory() as session:
        assert session.get(LicenceVersion, str(v2)).previous_licence_id == str(v1)

    # A revoked licence takes no new version.
    post(client, batch(police, 3, status_op(police.status(v2, "07"))))
    refused = post(
        client,
        batch(
            police,
            4,
            update(police.credential(ID_CARD, licence_id=v1.with_version(3), holder=holder, status_index=5)),
        ),
    )
    assert only_problem(refused)["type"].endswith("/conflict")


def test_issue_twice_and_reused_status_index_are_refused(
    client: TestClient, hub: Hub, police: Issuer
) -> None:
    licence_id = police.licence_id(ID_CARD)
    post(client, batch(police, 1, issue(police.credential(ID_CARD, licence_id=licence_id, status_index=9))))
    again = post(
        client, batch(police, 2, issue(police.credential(ID_CARD, licence_id=licence_id, status_index=10)))
    )
    assert only_problem(again)["type"].endswith("/version-conflict")
    slot = post(client, batch(police, 3, issue(police.credential(ID_CARD, status_index=9))))
    assert "index" in only_problem(slot)["detail"]


def test_status_statement_replay_and_forgery_are_refused(
    client: TestClient, hub: Hub, police: Issuer
) -> None:
    from joserfc.jwk import ECKey

    from hub.contract.issuing import build_status_statement

    licence_id = police.licence_id(ID_CARD)
    post(client, batch(police, 1, issue(police.credential(ID_CARD, licence_id=licence_id))))
    statement = police.status(licence_id, "02")
    post(client, batch(police, 2, status_op(statement)))
    assert only_problem(post(client, batch(police, 3, status_op(statement))))["type"].endswith("/conflict")
    forged = build_status_statement(
        licence_id=licence_id, status="01", issuer=police.issuer,
        key=ECKey.generate_key("P-256", private=True), kid=police.kid, alg="ES256",
    )  # fmt: skip
    assert only_problem(post(client, batch(police, 4, status_op(forged))))["type"].endswith(
        "/invalid-signature"
    )
    assert client.get(f"/v1/licences/{licence_id}/status").json()["status"] == "02"


def test_retired_key_signs_nothing_that_arrives_after_retirement(
    client: TestClient, hub: Hub, police: Issuer
) -> None:
    """Issue 14: after retirement a key's signatures are refused whatever ``iat`` claims; what the hub
    received before stays."""
    import time

    from hub.registry import service
    from storage.database import transaction

    received_before = police.credential(ID_CARD, issued_at=int(time.time()) - 60)
    assert post(client, batch(police, 1, issue(received_before)))["accepted"] == 1
    with transaction(hub.session_factory) as session:
        service.retire_department_key(session, police.id, police.kid)
    backdated = police.credential(ID_CARD, issued_at=int(time.time()) - 3600)
    body = post(client, batch(police, 2, issue(backdated)))
    assert body["results"][0]["outcome"] == "rejected"
    assert body["results"][0]["problem"]["type"].endswith("/key-not-in-force")
    assert "retired" in body["results"][0]["problem"]["detail"]
    [key] = client.get(f"/v1/departments/{police.id}/jwks").json()["keys"]
    assert key["status"] == "retired"
    assert key["retired_at"] >= key["activated_at"]


def test_eddsa_department_and_other_departments(client: TestClient, hub: Hub, police: Issuer) -> None:
    commerce = ISSUERS["zz-amr"] = create_issuer(hub, "commerce", alg="EdDSA")
    civil = ISSUERS["zz-civil"] = create_issuer(hub, "civil_affairs")
    assert post(client, batch(commerce, 1, issue(commerce.credential(BUSINESS_LICENCE))))["accepted"] == 1
    assert post(client, batch(civil, 1, issue(civil.credential(MARRIAGE))))["accepted"] == 1
    # A feed belongs to its department: a police credential in the commerce feed fails its signature check.
    wrong_feed = post(client, batch(commerce, 2, issue(police.credential(ID_CARD))))
    assert only_problem(wrong_feed)["type"].endswith(
        ("/unknown-key", "/invalid-claims", "/type-not-issuable")
    )


def test_invalid_request_is_problem_json(client: TestClient, police: Issuer) -> None:
    response = client.post(
        "/v1/licences/batch",
        json={"department": police.id, "sequence": 0, "operations": []},
        headers=police.headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"sequence", "operations"} <= fields
    other_feed = client.post(
        "/v1/licences/batch",
        json=batch(police, 1, issue("x~")) | {"department": "nobody"},
        headers=police.headers,
    )
    assert other_feed.status_code == 403
    assert other_feed.json()["errors"][0]["field"] == "department"
    assert client.get("/v1/licences/not-an-id/status").status_code == 422


def test_credentials_are_sealed_and_reseal_after_data_key_rotation(
    client: TestClient, hub: Hub, police: Issuer
) -> None:
    from hub.registry.service import reseal_credentials
    from storage.database import transaction
    from storage.sealing import Keyring

    holder = police.holder_for(ID_CARD)
    licence_id = police.licence_id(ID_CARD)
    credential = police.credential(ID_CARD, licence_id=licence_id, holder=holder)
    post(client, batch(police, 1, issue(credential)))
    with hub.session_factory() as session:
        row = session.get(LicenceVersion, str(licence_id))
        assert holder.encode() not in row.credential_sealed
        assert hub.keyring.open(row.credential_sealed, aad=str(licence_id).encode()) == credential.encode()
        licence = session.get(Licence, row.licence_pk)
        assert holder not in licence.holder_index and licence.holder_index == hub.blind_index.of(
            "person", holder
        )

    old_spec = hub.settings.data_keys
    hub.keyring = Keyring.from_spec(Keyring.generate_spec("next") + "," + old_spec)
    with transaction(hub.session_factory) as session:
        assert reseal_credentials(session, hub) == 1
    with transaction(hub.session_factory) as session:
        assert reseal_credentials(session, hub) == 0
    with hub.session_factory() as session:
        sealed = session.get(LicenceVersion, str(licence_id)).credential_sealed
    assert hub.keyring.key_id_of(sealed) == "next"
    assert hub.keyring.open(sealed, aad=str(licence_id).encode()) == credential.encode()


def test_a_failed_commit_is_never_reported_as_accepted(client: TestClient, hub: Hub, police: Issuer) -> None:
    from sqlalchemy import event

    def fail(_session: object) -> None:
        raise RuntimeError("disk full")

    headers = police.headers
    event.listen(hub.session_factory, "before_commit", fail)
    try:
        response = client.post(
            "/v1/licences/batch", json=batch(police, 1, issue(police.credential(ID_CARD))), headers=headers
        )
    finally:
        event.remove(hub.session_factory, "before_commit", fail)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert count(hub, LicenceVersion) == 0
    assert client.get(f"/v1/feeds/{police.id}/cursor", headers=police.headers).json()["last_sequence"] == 0


def test_an_ended_licence_does_not_come_back(client: TestClient, hub: Hub, police: Issuer) -> None:
    licence_id = police.licence_id(ID_CARD)
    post(client, batch(police, 1, issue(police.credential(ID_CARD, licence_id=licence_id))))
    post(client, batch(police, 2, status_op(police.status(licence_id, "07"))))
    revived = post(client, batch(police, 3, status_op(police.status(licence_id, "01"))))
    assert only_problem(revived)["errors"][0]["field"].endswith(".status")
    assert client.get(f"/v1/licences/{licence_id}/status").json()["status"] == "07"
