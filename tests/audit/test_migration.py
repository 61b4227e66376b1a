"""Migration 0005 sequences the events recorded before the log existed, so the first head covers them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hub import db
from hub.audit import heads
from hub.audit.heads import jwks_resolver
from hub.audit.verify import verify_log
from hub.context import build_hub
from storage.database import make_engine, transaction
from tests.audit import rfc9162
from tests.audit.conftest import append_events, stored_leaf_hashes
from tests.fixtures.hub import make_settings
from tests.fixtures.postgres import create_database, drop_database


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"hub_audit_migrate_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


def test_events_from_before_the_log_are_sequenced(empty_url: str, tmp_path: Path) -> None:
    engine = make_engine(empty_url, pool_size=1)
    db.upgrade(engine, "0004")
    with engine.begin() as connection:
        for n in range(5):
            connection.execute(
                text(
                    "INSERT INTO audit_event (occurred_at, action, outcome, actor_kind, actor_id, client_id,"
                    " holder_index, purpose, case_id, licence_ids, detail) VALUES (:at, 'lookup', 'released',"
                    " 'client', 'svc', 'svc', 'h', 'MZCFBG', :case, :ids, :detail)"
                ),
                {"at": f"2026-11-2{n} 08:00:00.12345{n}", "case": f"old-{n}", "ids": json.dumps([f"l-{n}"]),
                 "detail": json.dumps({"released": [{"type": "T1", "tier": 1}], "refused": []})},
            )  # fmt: skip
    engine.dispose()

    hub = build_hub(make_settings(empty_url, tmp_path / "objects"))  # migrates to the head
    try:
        with hub.read_session_factory() as session:
            indexes = session.execute(
                text("SELECT case_id, leaf_index, type_codes FROM audit_event ORDER BY id")
            )
            assert [tuple(row) for row in indexes] == [(f"old-{n}", n, " T1 ") for n in range(5)]
        old = stored_leaf_hashes(hub)
        with transaction(hub.session_factory) as session:
            head = heads.sign_head(session, hub)
        assert head.tree_size == 5 and head.root_hash == rfc9162.mth(old)
        append_events(hub, 4)
        with transaction(hub.session_factory) as session:
            heads.sign_head(session, hub)
        with hub.read_session_factory() as session:
            report = verify_log(session, jwks_resolver(hub.signer.jwks))
        assert report.findings == [] and (report.tree_size, report.heads) == (9, 2)
    finally:
        hub.close()
