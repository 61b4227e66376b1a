"""One hub per module, filled through its public API, whose lookup results the verifier tests check.

The verifier only reads what the hub produced (presentations, key bundle, status lists), so the hub is
built once per module on its own SQLite copy and never changed after setup: every test reads the same
finished state. Everything is produced as a real client would get it: licences pushed through
``POST /v1/licences/batch``, presentations from ``POST /v1/lookups``, status changes department-signed and
pushed after the lookup, as a revocation after use would be.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.context import Hub, build_hub
from hub.contract.verifier import TrustedKeys, fetch_trusted_keys
from hub.main import create_app
from tests.factories import (
    BUSINESS_LICENCE,
    HOUSEHOLD,
    ID_CARD,
    NO_CRIMINAL_RECORD,
    Issuer,
    batch,
    create_client,
    create_grant,
    create_issuer,
    issue,
    mint_client_token,
    seed_catalog,
    status_op,
)
from tests.fixtures.hub import make_settings

NONCE = "n-verify-0123456789"
CITIZEN = "410105198605141237"
BUSINESSES = ("91410100MA44B0Y60K", "91410100K8PBRNYTPP")


@dataclass(frozen=True)
class Evidence:
    hub: Hub
    client: TestClient
    police: Issuer
    commerce: Issuer
    aud: str
    keys: TrustedKeys
    bundle: Path  # the key bundle saved from the running hub
    status_lists: Path  # both departments' status list tokens, saved after the status changes
    presentations: dict[str, str]  # id_card, household (revoked), expired, business (EdDSA), suspended
    licence_ids: dict[str, str]

    def write(self, directory: Path, name: str, text: str) -> Path:
        path = directory / f"{name}.sd-jwt"
        path.write_text(text + "\n")
        return path


def _push(client: TestClient, issuer: Issuer, sequence: int, *operations: dict[str, Any]) -> None:
    response = client.post(
        "/v1/licences/batch", json=batch(issuer, sequence, *operations), headers=issuer.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(operations), response.text


def _lookup(client: TestClient, headers: dict[str, str], holder: str, purpose: str, *types: str) -> dict:
    body = {
        "holder_id": holder,
        "types": list(types),
        "purpose": purpose,
        "case_id": "ZZ-V-1",
        "nonce": NONCE,
    }
    response = client.post("/v1/lookups", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["refused"] == []
    return {r["licence_id"]: r["presentation"] for r in response.json()["released"]}


def _gather(hub: Hub, client: TestClient, root: Path) -> Evidence:
    seed_catalog(hub)
    police = create_issuer(hub, "police")  # ES256
    commerce = create_issuer(hub, "commerce", alg="EdDSA")
    now = int(time.time())
    ids = {
        "id_card": police.licence_id(ID_CARD),
        "household": police.licence_id(HOUSEHOLD),
        "expired": police.licence_id(NO_CRIMINAL_RECORD),
        "business": commerce.licence_id(BUSINESS_LICENCE),
        "suspended": commerce.licence_id(BUSINESS_LICENCE),
    }
    _push(
        client, police, 1,
        issue(police.credential(ID_CARD, licence_id=ids["id_card"], holder=CITIZEN)),
        issue(police.credential(HOUSEHOLD, licence_id=ids["household"], holder=CITIZEN)),
        issue(police.credential(
            NO_CRIMINAL_RECORD, licence_id=ids["expired"], holder=CITIZEN,
            valid_from=now - 30 * 86400, valid_until=now - 86400,
        )),
    )  # fmt: skip
    _push(
        client, commerce, 1,
        issue(commerce.credential(BUSINESS_LICENCE, licence_id=ids["business"], holder=BUSINESSES[0])),
        issue(commerce.credential(BUSINESS_LICENCE, licence_id=ids["suspended"], holder=BUSINESSES[1])),
    )  # fmt: skip

    service = create_client(hub, kind="service")
    codes = (ID_CARD, HOUSEHOLD, NO_CRIMINAL_RECORD, BUSINESS_LICENCE)
    for code in codes:  # identity cards only up to tier 1, so tier-2 fields stay undisclosed
        create_grant(hub, service.client_id, code, max_tier=1 if code == ID_CARD else 2)
    scopes = " ".join(f"licence:{code}:t2" for code in codes)
    headers = {"Authorization": f"Bearer {mint_client_token(hub, service.client_id, scopes)}"}
    released = _lookup(client, headers, CITIZEN, "MZCFBG", ID_CARD, HOUSEHOLD, NO_CRIMINAL_RECORD)
    released |= _lookup(client, headers, BUSINESSES[0], "SPJYXK", BUSINESS_LICENCE)
    released |= _lookup(client, headers, BUSINESSES[1], "SPJYXK", BUSINESS_LICENCE)

    # After the client received them: the household register is revoked, a business licence suspended.
    _push(client, police, 2, status_op(police.status(ids["household"], "07", reason="吊销")))
    _push(client, commerce, 2, status_op(commerce.status(ids["suspended"], "02", reason="暂扣")))

    keys = fetch_trusted_keys("http://hub.test", http=client)
    bundle = root / "keys.json"
    keys.save(bundle)
    status_lists = root / "status-lists.jwt"
    tokens = [client.get(f"/v1/status-lists/{d.id}/0") for d in (police, commerce)]
    assert all(t.status_code == 200 for t in tokens)
    status_lists.write_text("\n".join(t.text for t in tokens) + "\n")
    return Evidence(
        hub=hub, client=client, police=police, commerce=commerce, aud=service.client_id, keys=keys,
        bundle=bundle, status_lists=status_lists,
        presentations={name: released[str(licence_id)] for name, licence_id in ids.items()},
        licence_ids={name: str(licence_id) for name, licence_id in ids.items()},
    )  # fmt: skip


@pytest.fixture(scope="module")
def evidence(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    root = tmp_path_factory.mktemp("verify")
    shutil.copyfile(sqlite_template, root / "hub.sqlite3")
    hub = build_hub(make_settings(f"sqlite:///{root / 'hub.sqlite3'}", root / "objects"))
    try:
        with TestClient(create_app(hub=hub), raise_server_exceptions=False) as client:
            yield _gather(hub, client, root)
    finally:
        hub.close()
