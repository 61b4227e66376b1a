"""Limits callers rely on: body size and batch size (413), per-caller rate limits (429 with
Retry-After), and pagination caps (422 naming the field)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.context import Hub, build_hub
from hub.main import create_app
from tests.factories import (
    ID_CARD,
    batch,
    create_admin,
    create_client,
    create_issuer,
    issue,
    mint_admin_token,
    mint_client_token,
    seed_catalog,
)
from tests.faults.helpers import assert_problem
from tests.fixtures.hub import make_settings


@pytest.fixture
def limited_hub(sqlite_template: Path, tmp_path: Path) -> Iterator[Hub]:
    shutil.copyfile(sqlite_template, tmp_path / "hub.sqlite3")
    settings = make_settings(
        f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path / "objects",
        rate_limit_per_second=2, rate_limit_burst=3, max_batch_operations=3,
    )  # fmt: skip
    hub = build_hub(settings)
    seed_catalog(hub)
    yield hub
    hub.close()


@pytest.fixture
def limited(limited_hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub=limited_hub), raise_server_exceptions=False) as client:
        yield client


def bearer(hub: Hub, client_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_client_token(hub, client_id, '')}"}


def test_each_caller_has_its_own_bucket_and_is_told_when_to_retry(
    limited: TestClient, limited_hub: Hub
) -> None:
    first = bearer(limited_hub, create_client(limited_hub).client_id)
    second = bearer(limited_hub, create_client(limited_hub).client_id)
    assert [limited.get("/v1/licence-types", headers=first).status_code for _ in range(3)] == [200] * 3
    refused = limited.get("/v1/licence-types", headers=first)
    assert_problem(refused, 429, "2 requests a second")
    assert refused.headers["retry-after"] == "1"
    # Another client is another caller.
    assert limited.get("/v1/licence-types", headers=second).status_code == 200
    # Health and metrics are never limited.
    assert {limited.get("/healthz").status_code for _ in range(10)} == {200}
    time.sleep(1.05)
    assert limited.get("/v1/licence-types", headers=first).status_code == 200


def test_a_client_cannot_escape_its_bucket_with_a_new_token(limited: TestClient, limited_hub: Hub) -> None:
    client_id = create_client(limited_hub).client_id
    statuses = [limited.get("/v1/licence-types", headers=bearer(limited_hub, client_id)).status_code
                for _ in range(4)]  # fmt: skip
    assert statuses == [200, 200, 200, 429]


def test_unauthenticated_callers_are_limited_by_address(limited: TestClient) -> None:
    statuses = [limited.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code
                for _ in range(4)]  # fmt: skip
    assert all(s in (400, 401) for s in statuses[:3]), statuses
    assert statuses[3] == 429
    # A forged token is no way around it: it counts against the address.
    forged = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJ4In0."}
    assert limited.get("/v1/licence-types", headers=forged).status_code == 429


def test_batch_over_the_operation_limit_is_413_naming_the_field(
    limited: TestClient, limited_hub: Hub
) -> None:
    police = create_issuer(limited_hub, "police")
    body = batch(police, 1, *[issue(police.credential(ID_CARD)) for _ in range(4)])
    problem = assert_problem(
        limited.post("/v1/licences/batch", json=body, headers=police.headers), 413, "at most 3"
    )
    assert problem["errors"][0]["field"] == "operations"


def test_request_body_over_the_limit_is_413(limited: TestClient, limited_hub: Hub) -> None:
    service = bearer(limited_hub, create_client(limited_hub).client_id)
    body = b'{"purpose": "' + b"x" * (1 << 20) + b'"}'
    response = limited.post(
        "/v1/lookups", content=body, headers={**service, "content-type": "application/json"}
    )
    assert_problem(response, 413, "over the limit")


@pytest.mark.parametrize(
    "path", ["/v1/admin/clients", "/v1/admin/grants", "/v1/admin/alerts", "/v1/audit/events"]
)
def test_page_sizes_are_capped(path: str, sqlite_template: Path, tmp_path: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "hub.sqlite3")
    hub = build_hub(make_settings(f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path / "objects"))
    try:
        seed_catalog(hub)
        admin = {"Authorization": f"Bearer {mint_admin_token(hub, create_admin(hub))}"}
        with TestClient(create_app(hub=hub), raise_server_exceptions=False) as client:
            assert client.get(path, params={"limit": 1}, headers=admin).status_code == 200
            problem = assert_problem(client.get(path, params={"limit": 501}, headers=admin), 422)
            assert problem["errors"][0]["field"] == "limit"
            assert_problem(client.get(path, params={"limit": 0}, headers=admin), 422)
    finally:
        hub.close()


@pytest.mark.parametrize("path", ["/v1/admin/clients", "/v1/admin/grants"])
def test_page_offsets_are_bounded(path: str, sqlite_template: Path, tmp_path: Path) -> None:
    """Past the end a page is empty; past what SQLite takes (found by the fuzz test: a 500) a 422."""
    shutil.copyfile(sqlite_template, tmp_path / "hub.sqlite3")
    hub = build_hub(make_settings(f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path / "objects"))
    try:
        seed_catalog(hub)
        admin = create_admin(hub)
        create_client(hub, by=admin)
        headers = {"Authorization": f"Bearer {mint_admin_token(hub, admin)}"}
        with TestClient(create_app(hub=hub), raise_server_exceptions=False) as client:
            far = client.get(path, params={"offset": 1_000_000_000}, headers=headers)
            assert far.status_code == 200 and far.json() == []
            problem = assert_problem(client.get(path, params={"offset": 2**63}, headers=headers), 422)
            assert problem["errors"][0]["field"] == "offset"
    finally:
        hub.close()


def test_client_list_pages(limited_hub: Hub) -> None:
    hub = limited_hub
    admin = create_admin(hub)
    ids = sorted(create_client(hub, by=admin).client_id for _ in range(3))
    headers = {"Authorization": f"Bearer {mint_admin_token(hub, admin)}"}
    with TestClient(create_app(hub=hub), raise_server_exceptions=False) as client:
        pages = [client.get("/v1/admin/clients", params={"limit": 2, "offset": o}, headers=headers).json()
                 for o in (0, 2)]  # fmt: skip
    assert [c["client_id"] for c in pages[0] + pages[1]] == ids
