"""Fixtures of the adapters' tests: one real hub server on PostgreSQL for the whole package (each test
registers its own department, so feeds never mix), and sample police exports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapters.hub_server import DepartmentSetup, HubServer
from tests.fixtures.postgres import create_database, drop_database


@pytest.fixture(scope="session")
def hub_server(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    name = f"hub_adapters_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_admin_url, name)
    server = HubServer(url, tmp_path_factory.mktemp("hub-server"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        drop_database(postgres_admin_url, name)


@pytest.fixture
def police(hub_server: HubServer, tmp_path: Path) -> DepartmentSetup:
    """A fresh police department in the running hub, with its key files."""
    return hub_server.register_police(tmp_path / "keys")
