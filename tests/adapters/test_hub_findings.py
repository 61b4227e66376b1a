"""Hub behaviour the adapters ran into and rely on, found while writing them and pinned here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.police.mapping import map_person
from adapters.sdk.hub_client import HubClient
from adapters.sdk.issuing import Department, DepartmentSigner
from adapters.sdk.keys import load_private_key
from hub.contract.status import LicenceStatus
from tests.adapters.hub_server import DepartmentSetup, HubServer
from tests.adapters.test_police_mapping import row

pytestmark = pytest.mark.slow


def test_a_revoked_licence_cannot_be_made_valid_again_by_a_status_statement(
    hub_server: HubServer, police: DepartmentSetup, tmp_path: Path
) -> None:
    hub = HubClient(
        hub_server.url, client_id=police.client_id, client_key=load_private_key(police.client_key_file)
    )
    signer = DepartmentSigner(
        Department.from_hub(hub.department(police.id)), load_private_key(police.key_file),
        hub_url=hub.public_url, holder_jwk=hub.holder_jwk(),
    )  # fmt: skip
    card = map_person(row())[0]
    licence_id = signer.licence_id(card.type_code, "00000001", 1)
    credential = signer.credential(hub.licence_type(card.type_code), card, licence_id, status_slot=(0, 0))
    operations = [
        {"op": "issue", "credential": credential},
        {
            "op": "status",
            "statement": signer.status_statement(str(licence_id), LicenceStatus.REVOKED, "吊销"),
        },
        {"op": "status", "statement": signer.status_statement(str(licence_id), LicenceStatus.VALID)},
    ]
    body = json.dumps({"department": police.id, "sequence": 1, "operations": operations})
    result = hub.push_batch(body)
    hub.close()
    assert [r["outcome"] for r in result["results"]] == ["accepted", "accepted", "rejected"]
