"""Reference data read by lookups (regions, licence types, service items) is cached in process: read
once, and a write by this process is seen by the very next request. Grants are read once a request and
never kept beyond it."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from hub.kit.cache import ReferenceCache
from hub.registry import repository as registry_repository
from hub.registry import service as registry_service
from hub.registry.items import save_service_item
from hub.registry.schemas import ServiceItemWrite
from storage.database import transaction
from tests.factories import ID_CARD, TYPES, create_admin, create_grant, mint_admin_token
from tests.lookups.conftest import World
from tests.lookups.test_lookups import lookup


class Statements:
    """Every SQL statement the hub's engine runs while counting."""

    def __init__(self, world: World) -> None:
        self.engine = world.hub.engine
        self.seen: list[str] = []

    def _record(self, *args: Any) -> None:
        self.seen.append(" ".join(args[2].split()).lower())

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def reading(self, table: str) -> list[str]:
        return [s for s in self.seen if s.startswith("select") and f" from {table}" in s]


def test_a_lookup_reads_reference_data_from_the_cache_and_grants_once(
    client: TestClient, world: World
) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=2)
    headers = world.token(f"licence:{ID_CARD}:t2")
    assert lookup(client, world, headers, types=[ID_CARD]).status_code == 200  # fills the caches
    with Statements(world) as statements:
        response = lookup(client, world, headers, types=[ID_CARD], case_id="ZZ-2026-0002")
    assert response.status_code == 200, response.text
    assert len(response.json()["released"]) == 1
    for table in ("region", "licence_type", "service_item"):
        assert statements.reading(table) == [], table
    assert len(statements.reading("access_grant")) == 1
    # the token and its client come in one query
    assert len(statements.reading("issued_token")) == 1 and statements.reading("client") == []


def test_a_changed_licence_type_counts_on_the_next_lookup(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=2)
    headers = world.token(f"licence:{ID_CARD}:t2")
    first = lookup(client, world, headers, types=[ID_CARD]).json()["released"][0]
    assert "name" in first["claims"]
    spec = copy.deepcopy(TYPES[ID_CARD])
    for field in spec["fields"]:
        if field["name"] == "name":
            field["tier"] = 3  # name now sensitive: a T2 lookup no longer discloses it
    with transaction(world.hub.session_factory) as session:
        registry_service.register_licence_type(session, spec)
    second = lookup(client, world, headers, types=[ID_CARD], case_id="ZZ-2026-0002").json()
    assert second["refused"] == []
    assert "name" not in second["released"][0]["claims"]


def test_a_service_item_saved_by_an_admin_is_a_purpose_at_once(client: TestClient, world: World) -> None:
    create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=2)
    headers = world.token(f"licence:{ID_CARD}:t2")
    assert lookup(client, world, headers, types=[ID_CARD]).status_code == 200  # items cached
    refused = lookup(client, world, headers, types=[ID_CARD], purpose="NEWITEM")
    assert refused.status_code == 422 and "NEWITEM" in refused.text
    admin = mint_admin_token(world.hub, create_admin(world.hub))
    item = {
        "code": "NEWITEM", "name_zh": "新事项", "name_en": "New item", "owner_kind": "police",
        "levels": ["city"], "legal_basis": "test", "statutory_days": 5, "promised_days": 1,
        "materials": [{"type_code": ID_CARD, "tier": 1, "required": True, "fields": {"applicant": "name"}}],
    }  # fmt: skip
    saved = client.put(
        "/v1/admin/service-items/NEWITEM", json=item, headers={"Authorization": f"Bearer {admin}"}
    )
    assert saved.status_code == 200, saved.text
    response = lookup(client, world, headers, types=[ID_CARD], purpose="NEWITEM")
    assert response.status_code == 200, response.text
    prefill = client.post(
        "/v1/prefill",
        json={
            "holder_id": world.citizen,
            "service_item": "NEWITEM",
            "case_id": "c1",
            "nonce": "n-0123456789",
        },
        headers=headers,
    )
    assert prefill.status_code == 200, prefill.text
    assert set(prefill.json()["form"]) == {"applicant"}


def test_a_rolled_back_write_leaves_no_trace_in_the_cache(world: World) -> None:
    spec = copy.deepcopy(TYPES[ID_CARD]) | {"name_en": "Changed, then rolled back"}
    with pytest.raises(RuntimeError), transaction(world.hub.session_factory) as session:
        registry_service.register_licence_type(session, spec)
        # read inside the writing transaction: sees its own change, which must not be kept for others
        assert registry_repository.catalog_type(session, ID_CARD).name_en == spec["name_en"]  # type: ignore[union-attr]
        raise RuntimeError("roll back")
    with transaction(world.hub.session_factory) as session:
        assert registry_repository.catalog_type(session, ID_CARD).name_en == TYPES[ID_CARD]["name_en"]  # type: ignore[union-attr]


def test_snapshots_are_kept_until_the_ttl_then_read_again(world: World) -> None:
    reads: list[int] = []

    def load(session: Any) -> int:
        reads.append(1)
        return len(registry_repository.list_service_items(session))

    cache = ReferenceCache("service_item", load, ttl=0.3)
    with transaction(world.hub.session_factory) as session:
        assert cache.get(session) == cache.get(session) == 5
        assert len(reads) == 1
        time.sleep(0.35)
        assert cache.get(session) == 5 and len(reads) == 2
    off = ReferenceCache("service_item", load, ttl=0)
    with transaction(world.hub.session_factory) as session:
        off.get(session), off.get(session)
    assert len(reads) == 4


def test_each_database_has_its_own_snapshot(world: World, tmp_path: Any) -> None:
    """Two hubs in one process (tests, the CLI beside a server) never share cached rows."""
    from hub.context import build_hub
    from tests.fixtures.hub import make_settings

    other = build_hub(make_settings(f"sqlite:///{tmp_path / 'other.sqlite3'}", tmp_path / "objects2"))
    try:
        with transaction(world.hub.session_factory) as session:
            assert registry_repository.item_materials(session, "MZCFBG") is not None
        with transaction(other.session_factory) as session:
            assert registry_repository.item_materials(session, "MZCFBG") is None  # empty hub
            save_service_item(
                session,
                ServiceItemWrite.model_validate(
                    {
                        "code": "ONLYHERE", "name_zh": "仅此", "name_en": "Only here", "owner_kind": "police",
                        "levels": ["city"], "legal_basis": "test", "statutory_days": 5, "promised_days": 1,
                        "materials": [{"type_code": None, "tier": 0, "required": False,
                                       "name_zh": "照片", "name_en": "Photo"}],
                    }
                ),
            )  # fmt: skip
        with transaction(other.session_factory) as session:
            assert registry_repository.item_materials(session, "ONLYHERE") is not None
        with transaction(world.hub.session_factory) as session:
            assert registry_repository.item_materials(session, "ONLYHERE") is None
    finally:
        other.close()


def test_grants_are_never_cached_across_requests(client: TestClient, world: World) -> None:
    grant = create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=2)
    other = create_grant(world.hub, world.service.client_id, ID_CARD, max_tier=1)
    headers = world.token(f"licence:{ID_CARD}:t2")
    assert lookup(client, world, headers, types=[ID_CARD]).json()["released"][0]["tier"] == 2
    admin = mint_admin_token(world.hub, create_admin(world.hub))
    revoked = client.post(
        f"/v1/admin/grants/{grant.id}/revoke",
        json={"reason": "test"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert revoked.status_code == 200, revoked.text
    second = lookup(client, world, headers, types=[ID_CARD], case_id="ZZ-2026-0002").json()
    assert [r["tier"] for r in second["released"]] == [1]  # only the T1 grant is left
    assert other.status == "active"
