"""The PostgreSQL test fixture hands out a server where tests may create their own databases."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.fixtures.postgres import create_database, drop_database, libpq_url, throwaway_cluster

pytestmark = pytest.mark.postgres


def test_admin_url_connects(postgres_admin_url: str) -> None:
    assert postgres_admin_url.startswith("postgresql+psycopg://")
    with psycopg.connect(libpq_url(postgres_admin_url), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_create_and_drop_database(postgres_admin_url: str) -> None:
    name = f"hub_fixture_{uuid.uuid4().hex[:12]}"

    url = create_database(postgres_admin_url, name)
    try:
        assert url.startswith("postgresql+psycopg://")
        held_open = psycopg.connect(libpq_url(url), connect_timeout=5)
        assert held_open.execute("SELECT current_database()").fetchone() == (name,)

        drop_database(postgres_admin_url, name)  # must not be blocked by the open session

        with pytest.raises(psycopg.OperationalError):
            held_open.execute("SELECT 1")
        held_open.close()
    finally:
        drop_database(postgres_admin_url, name)
    with psycopg.connect(libpq_url(postgres_admin_url), connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone() == (0,)


@pytest.mark.slow
def test_throwaway_cluster_fallback_starts_and_stops() -> None:
    with throwaway_cluster() as url:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        assert create_database(url, "hub_fallback").endswith("/hub_fallback")
