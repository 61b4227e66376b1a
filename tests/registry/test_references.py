"""Licences and versions always name rows that exist, on both backends: foreign keys on SQLite, and on
PostgreSQL triggers that check each statement's rows at once (migration 0007). A row naming nothing is
refused, a referenced row cannot be deleted, and nothing is written by the refused statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub.context import Hub
from hub.kit.time import utcnow
from hub.registry.models import Department, Licence, LicenceType, LicenceVersion
from tests.factories import ID_CARD, batch, create_issuer, issue, seed_catalog
from tests.registry.test_ingest import count

L, V = Licence.__table__, LicenceVersion.__table__  # type: ignore[attr-defined]


@pytest.fixture
def stored(client: TestClient, hub: Hub) -> dict[str, Any]:
    """One licence with its first version, ingested as a department would."""
    seed_catalog(hub)
    police = create_issuer(hub, "police")
    body = batch(police, 1, issue(police.credential(ID_CARD)))
    assert client.post("/v1/licences/batch", json=body, headers=police.headers).json()["accepted"] == 1
    with hub.engine.connect() as connection:
        licence = connection.execute(select(L)).mappings().one()
        version = connection.execute(select(V)).mappings().one()
    return {"licence": dict(licence), "version": dict(version)}


def licence_row(stored: dict[str, Any], **changes: Any) -> dict[str, Any]:
    row = {k: v for k, v in stored["licence"].items() if k != "id"}
    return {**row, "serial": "99999999", "status_index": 4000, **changes}


def version_row(stored: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**stored["version"], "licence_id": f"{stored['version']['licence_id']}-x", **changes}


CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "licence of no department": lambda s: insert(L).values(licence_row(s, department_id="nobody")),
    "licence of no type": lambda s: insert(L).values(licence_row(s, type_code="99999999999999999X999")),
    "licence moved to no department": lambda s: update(L).values(department_id="nobody"),
    "version of no licence": lambda s: insert(V).values(version_row(s, licence_pk=10**9)),
    "department still issuing": lambda s: delete(Department).where(
        Department.id == s["licence"]["department_id"]  # type: ignore[arg-type]
    ),
    "licence type still used": lambda s: delete(LicenceType).where(
        LicenceType.code == s["licence"]["type_code"]  # type: ignore[arg-type]
    ),
    "licence with versions": lambda s: delete(L),
    "licence renumbered under its versions": lambda s: update(L).values(id=10**9),
}


@pytest.mark.parametrize("case", CASES)
def test_a_statement_breaking_a_reference_is_refused_and_writes_nothing(
    hub: Hub, stored: dict[str, Any], case: str
) -> None:
    before = _snapshot(hub)
    with pytest.raises(IntegrityError), hub.engine.begin() as connection:
        connection.execute(CASES[case](stored))
    assert _snapshot(hub) == before


def test_statements_keeping_references_pass(hub: Hub, stored: dict[str, Any]) -> None:
    """The checks can pass: rows naming what exists go in, and a licence's state changes."""
    with hub.engine.begin() as connection:
        licence_pk = connection.execute(insert(L).values(licence_row(stored)).returning(L.c.id)).scalar_one()
        connection.execute(insert(V).values(version_row(stored, licence_pk=licence_pk)))
        connection.execute(update(L).where(L.c.id == licence_pk).values(status="02", updated_at=utcnow()))
    assert (count(hub, Licence), count(hub, LicenceVersion)) == (2, 2)


def _snapshot(hub: Hub) -> tuple[int, ...]:
    with hub.engine.connect() as connection:
        tables = (L, V, Department.__table__, LicenceType.__table__)  # type: ignore[attr-defined]
        return tuple(_count(connection, table) for table in tables)


def _count(connection: Connection, table: Any) -> int:
    return len(connection.execute(select(table)).all())
