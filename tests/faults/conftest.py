"""Fixtures of the fault tests: a PostgreSQL cluster of their own, which they stop and restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.context import Hub, build_hub
from tests.fixtures.hub import make_settings
from tests.fixtures.postgres import Cluster, create_database, restartable_cluster


@pytest.fixture(scope="session")
def own_cluster() -> Iterator[Cluster]:
    """Never the machine's shared server: other tests use that one while these restart theirs."""
    with restartable_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_hub(own_cluster: Cluster, tmp_path: Path) -> Iterator[Hub]:
    """A migrated hub on a fresh database of the fault tests' own cluster."""
    url = create_database(own_cluster.url, f"hub_fault_{uuid.uuid4().hex[:12]}")
    hub = build_hub(make_settings(url, tmp_path / "objects", max_concurrent_requests=4))
    yield hub
    hub.close()
