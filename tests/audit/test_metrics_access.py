"""Who may read /metrics (issue 14, item 7): a bearer token with the ``metrics`` scope, which only a
``monitor`` client made by an admin of the top region gets; or, with ``HUB_METRICS_ADDRESS``, only a
separate listener, and the hub's own port has no /metrics at all."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from hub.context import Hub, build_hub
from hub.main import create_app
from tests.access.helpers import problem, problem_fields, token_with_secret
from tests.factories import (
    ID_CARD,
    create_admin,
    create_client,
    create_grant,
    mint_admin_token,
    mint_client_token,
    seed_catalog,
)
from tests.fixtures.hub import make_settings


def test_metrics_need_a_monitor_token(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    assert problem(client.get("/metrics"), 401)
    service = create_client(hub).client_id
    create_grant(hub, service, ID_CARD, max_tier=1)
    lookups_only = {"Authorization": f"Bearer {mint_client_token(hub, service, f'licence:{ID_CARD}:t1')}"}
    assert problem(client.get("/metrics", headers=lookups_only), 403)

    # A monitor client gets the metrics scope at the token endpoint, and nothing else.
    monitor = create_client(hub, kind="monitor")
    assert monitor.secret is not None
    issued = token_with_secret(client, monitor.client_id, monitor.secret, "metrics")
    assert issued.status_code == 200, issued.text
    assert issued.json()["scope"] == "metrics"
    scrape = client.get("/metrics", headers={"Authorization": f"Bearer {issued.json()['access_token']}"})
    assert scrape.status_code == 200 and "hub_http_requests_total" in scrape.text
    more = token_with_secret(client, monitor.client_id, monitor.secret, f"metrics licence:{ID_CARD}:t1")
    assert more.status_code == 400 and more.json()["error"] == "invalid_scope"
    pushing = token_with_secret(client, monitor.client_id, monitor.secret, "licences.push")
    assert pushing.status_code == 400


def test_only_an_admin_of_the_top_region_creates_a_monitor_client(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    county = create_admin(hub, region="410105")
    token = {"Authorization": f"Bearer {mint_admin_token(hub, county)}"}
    body = {
        "name": "普罗米修斯",
        "kind": "monitor",
        "region_code": "410105",
        "auth_method": "client_secret_basic",
    }
    assert problem_fields(client.post("/v1/admin/clients", json=body, headers=token), 403) == ["kind"]
    city = {"Authorization": f"Bearer {mint_admin_token(hub, create_admin(hub))}"}
    made = client.post("/v1/admin/clients", json={**body, "region_code": "410100"}, headers=city)
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "monitor"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_separate_metrics_address_replaces_the_route(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(database_url, tmp_path / "objects", metrics_address=f"127.0.0.1:{port}")
    hub = build_hub(settings)
    try:
        with TestClient(create_app(hub=hub), raise_server_exceptions=False) as client:
            assert client.get("/healthz").status_code == 200
            assert problem(client.get("/metrics"), 404)
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            assert scraped.status_code == 200 and 'route="/healthz"' in scraped.text
        with pytest.raises(httpx.ConnectError):  # the listener stops with the app
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    finally:
        hub.close()


@pytest.mark.parametrize("address", ["9464", "0.0.0.0", "host:port", "a b:1"])
def test_a_metrics_address_is_host_and_port(tmp_path: Path, address: str) -> None:
    with pytest.raises(ValidationError, match="metrics_address"):
        make_settings("sqlite://", tmp_path / "objects", metrics_address=address)


def test_a_metrics_address_needs_one_worker(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="HUB_WORKERS=1"):
        make_settings("sqlite://", tmp_path / "objects", metrics_address="127.0.0.1:9464", workers=2)
    assert make_settings("sqlite://", tmp_path / "o", metrics_address="[::1]:9464").metrics_host_port == (
        "::1",
        9464,
    )
