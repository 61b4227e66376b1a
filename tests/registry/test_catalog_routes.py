"""Read-only catalog routes: regions, departments and their keys, licence types; health and readiness."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.context import Hub
from tests.factories import ID_CARD, create_issuer, monitor_headers, seed_catalog


def test_region_tree(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    city = client.get("/v1/regions/410100").json()
    assert city["level"] == "city" and city["parent_code"] is None
    assert len([c for c in city["children"] if c["level"] == "county"]) == 12
    township = client.get("/v1/regions/410105001").json()
    assert township["path"] == ["410100", "410105", "410105001"]
    assert client.get("/v1/regions/999999").status_code == 404
    bad = client.get("/v1/regions/41x")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "code"


def test_catalog_and_departments(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    police = create_issuer(hub, "police")
    types = client.get("/v1/licence-types").json()
    assert {t["code"] for t in types} >= {ID_CARD}
    assert all(t["classification"] != "state_secret" for t in types)
    card = client.get(f"/v1/licence-types/{ID_CARD}").json()
    assert card["holder_field"] == "id_number"
    assert {f["tier"] for f in card["fields"]} <= {0, 1, 2, 3}
    assert client.get("/v1/licence-types/NOPE").status_code == 404
    departments = client.get("/v1/departments").json()
    assert [d["id"] for d in departments] == [police.id]
    jwks = client.get(f"/v1/departments/{police.id}/jwks").json()
    assert jwks["keys"][0]["kid"] == police.kid and "d" not in jwks["keys"][0]
    hub_jwks = client.get("/.well-known/jwks.json").json()
    assert hub_jwks["keys"][0]["alg"] == "ES256" and "d" not in hub_jwks["keys"][0]


def test_health_readiness_and_metrics(client: TestClient, hub: Hub) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "objects": "ok"}
    seed_catalog(hub)  # the monitor client belongs to a region
    metrics = client.get("/metrics", headers=monitor_headers(hub)).text
    assert 'hub_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics


def test_readyz_reports_an_unreachable_object_store(client: TestClient, hub: Hub) -> None:
    from storage.objects import object_store_from_url

    hub.objects = object_store_from_url("s3://k:s@127.0.0.1:1/bucket?secure=false")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["check"] == "objects"
