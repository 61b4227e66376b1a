"""Helpers of the audit tests: events appended straight through ``hub.audit.service.record`` (the way
every feature records them), the hub's JWKS, and the CLI's environment for a test's hub."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import select

from hub.access import service as access_service
from hub.audit import service as audit
from hub.audit.models import AuditEvent
from hub.context import Hub, build_hub
from hub.settings import Settings
from storage.database import transaction
from tests.audit import rfc9162
from tests.fixtures.hub import _empty_tables, make_settings
from tests.lookups.conftest import world  # noqa: F401  (the lookups' world: catalog, feeds, a service)


def append_events(hub: Hub, count: int, *, per_transaction: int = 10, **fields: Any) -> list[int]:
    """Record ``count`` lookup-like events; returns their leaf indexes."""
    indexes = []
    for start in range(0, count, per_transaction):
        with transaction(hub.session_factory) as session:
            for n in range(start, min(count, start + per_transaction)):
                event = audit.record(
                    session,
                    **{
                        "action": "lookup", "outcome": "released", "actor_kind": "client",
                        "actor_id": f"client-{n % 3}", "holder_index": f"holder-{n % 5}",
                        "purpose": "MZCFBG", "case_id": f"case-{n}", "licence_ids": [f"licence-{n}"],
                        "detail": {"released": [{"type": "T1", "tier": 1}], "n": n},
                        **fields,
                    },
                )  # fmt: skip
                indexes.append(event.leaf_index)
    return indexes


def record_at(hub: Hub, moment: datetime, **fields: Any) -> AuditEvent:
    with transaction(hub.session_factory) as session:
        return audit.record(session, occurred_at=moment, **fields)


def stored_leaf_hashes(hub: Hub) -> list[bytes]:
    """Leaf hashes recomputed by the test from the events' columns, in leaf order."""
    with hub.read_session_factory() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.leaf_index)).all()  # type: ignore[arg-type]
    return [rfc9162.hash_leaf(rfc9162.leaf_of(e)) for e in events]


def verify_head_signature(hub: Hub, signed: str) -> dict[str, Any]:
    """The head's payload, its ES256 signature checked with joserfc against the published JWKS."""
    keys = KeySet.import_key_set(hub.signer.jwks)
    token = jws.deserialize_compact(signed, keys)
    assert token.headers()["typ"] == "tree-head+jwt" and token.headers()["alg"] == "ES256"
    import json

    payload: dict[str, Any] = json.loads(token.payload)
    return payload


def cli_env(settings: Settings) -> dict[str, str]:
    """HUB_* variables for the ``hub`` command to open the same hub as the test."""
    return {
        f"HUB_{name.upper()}": str(value)
        for name, value in settings.model_dump(mode="json").items()
        if value is not None and not isinstance(value, list | dict)
    }


@pytest.fixture
def pg_hub(pg_database: str, tmp_path: Path) -> Iterator[Hub]:
    """A hub on the PostgreSQL test database (for the concurrent writers)."""
    hub = build_hub(make_settings(pg_database, tmp_path / "objects"))
    try:
        yield hub
    finally:
        hub.close()
        _empty_tables(pg_database)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Admins and clients are created in most of these tests; argon2 at its production cost (~0.25 s a
    hash) is not what they test (as tests/interop does)."""
    monkeypatch.setattr(
        access_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
