"""A hub with the catalog, service items, a police and a commerce feed, and an approval service."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from hub.context import Hub
from hub.registry.items import seed_service_items
from storage.database import transaction
from tests.factories import (
    BUSINESS_LICENCE,
    HOUSEHOLD,
    ID_CARD,
    Issuer,
    RegisteredClient,
    batch,
    create_client,
    create_issuer,
    issue,
    mint_client_token,
    seed_catalog,
)


@dataclass
class World:
    hub: Hub
    police: Issuer
    commerce: Issuer
    service: RegisteredClient
    citizen: str
    business: str
    id_card: str
    household: str
    licence: str

    def token(self, *scopes: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {mint_client_token(self.hub, self.service.client_id, ' '.join(scopes))}"
        }


@pytest.fixture
def world(hub: Hub, client: TestClient) -> World:
    seed_catalog(hub)
    with transaction(hub.session_factory) as session:
        seed_service_items(session)
    police = create_issuer(hub, "police")
    commerce = create_issuer(hub, "commerce")
    citizen = "410105198605141237"
    business = "91410100MA44B0Y60K"
    id_card, household = police.licence_id(ID_CARD), police.licence_id(HOUSEHOLD)
    licence = commerce.licence_id(BUSINESS_LICENCE)
    ops = [
        issue(police.credential(ID_CARD, licence_id=id_card, holder=citizen)),
        issue(police.credential(HOUSEHOLD, licence_id=household, holder=citizen)),
    ]
    assert (
        client.post("/v1/licences/batch", json=batch(police, 1, *ops), headers=police.headers).json()[
            "accepted"
        ]
        == 2
    )
    body = batch(
        commerce, 1, issue(commerce.credential(BUSINESS_LICENCE, licence_id=licence, holder=business))
    )
    assert client.post("/v1/licences/batch", json=body, headers=commerce.headers).json()["accepted"] == 1
    service = create_client(hub, kind="service", redirect_uris=["https://approvals.example/cb"])
    return World(
        hub, police, commerce, service, citizen, business, str(id_card), str(household), str(licence)
    )
