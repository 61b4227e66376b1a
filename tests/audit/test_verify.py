"""``hub audit verify`` against a log tampered with directly in the database: every change to the
events — an update, a delete, a reorder — is detected and the event named; so is a change whose author
also rewrote the stored hashes (the signed heads still disagree), and a forged head."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from hub.audit import heads
from hub.cli import app
from hub.context import Hub
from hub.settings import Settings
from storage.database import transaction
from tests.audit import rfc9162
from tests.audit.conftest import append_events, cli_env


@pytest.fixture
def logged(hub: Hub) -> Hub:
    """Twenty events under three signed heads (sizes 7, 12 and 20)."""
    for count in (7, 5, 8):
        append_events(hub, count)
        with transaction(hub.session_factory) as session:
            heads.sign_head(session, hub)
    return hub


def run_verify(settings: Settings) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["audit", "verify", "--json"], env=cli_env(settings))
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def kinds(report: dict[str, Any]) -> list[tuple[str, int | None]]:
    return sorted((f["kind"], f["leaf_index"]) for f in report["findings"] if f["leaf_index"] is not None)


def tamper(hub: Hub, *statements: str, **params: Any) -> None:
    with hub.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)


def event_id(hub: Hub, leaf_index: int) -> int:
    with hub.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT id FROM audit_event WHERE leaf_index = :i"), {"i": leaf_index}
            ).scalar_one()
        )


def test_an_untouched_log_verifies(logged: Hub, settings: Settings) -> None:
    code, report = run_verify(settings)
    assert code == 0
    assert report["ok"] and report["findings"] == []
    assert (report["tree_size"], report["events"], report["heads"]) == (20, 20, 3)


def test_plain_output_names_the_modified_event(logged: Hub, settings: Settings) -> None:
    tamper(logged, "UPDATE audit_event SET case_id = 'forged' WHERE leaf_index = 9")
    result = CliRunner().invoke(app, ["audit", "verify"], env=cli_env(settings))
    assert result.exit_code == 1
    assert f"leaf 9 (event {event_id(logged, 9)}): modified" in result.output


def test_an_updated_event_is_named(logged: Hub, settings: Settings) -> None:
    tamper(logged, "UPDATE audit_event SET outcome = 'refused' WHERE leaf_index = 3")
    code, report = run_verify(settings)
    assert code == 1
    assert kinds(report) == [("modified", 3)]
    [named] = [f for f in report["findings"] if f["leaf_index"] == 3]
    assert named["event_id"] == event_id(logged, 3)
    # Every head covering leaf 3 now disagrees with the events.
    assert sorted(f["head_id"] for f in report["findings"] if f["kind"] == "head_mismatch") == [1, 2, 3]


def test_a_deleted_event_is_named(logged: Hub, settings: Settings) -> None:
    tamper(logged, "DELETE FROM audit_event WHERE leaf_index = 15")
    code, report = run_verify(settings)
    assert code == 1
    assert kinds(report) == [("deleted", 15)]
    assert [f["head_id"] for f in report["findings"] if f["kind"] == "head_mismatch"] == [3]


def test_deleting_the_newest_event_is_noticed(logged: Hub, settings: Settings) -> None:
    tamper(logged, "DELETE FROM audit_event WHERE leaf_index = 19")
    code, report = run_verify(settings)
    assert code == 1
    assert kinds(report) == [("deleted", 19)]


def test_reordered_events_are_named(logged: Hub, settings: Settings) -> None:
    first, second = event_id(logged, 4), event_id(logged, 10)
    tamper(
        logged,
        "UPDATE audit_event SET leaf_index = -1 WHERE id = :a",
        "UPDATE audit_event SET leaf_index = 4 WHERE id = :b",
        "UPDATE audit_event SET leaf_index = 10 WHERE id = :a",
        a=first, b=second,
    )  # fmt: skip
    code, report = run_verify(settings)
    assert code == 1
    assert kinds(report) == [("reordered", 4), ("reordered", 10)]
    messages = {f["leaf_index"]: f["message"] for f in report["findings"] if f["kind"] == "reordered"}
    assert f"(event {second})" in messages[4] and "logged at leaf 10" in messages[4]
    assert f"(event {first})" in messages[10] and "logged at leaf 4" in messages[10]


def test_rewriting_the_stored_hashes_too_is_caught_by_the_signed_heads(
    logged: Hub, settings: Settings
) -> None:
    """An operator who edits an event and recomputes every stored hash to match still cannot re-sign
    the heads: the recomputed tree disagrees with them, and so do the consistency proofs."""
    tamper(logged, "UPDATE audit_event SET actor_id = 'someone-else' WHERE leaf_index = 13")
    with logged.engine.begin() as connection:
        rows = connection.execute(text("SELECT * FROM audit_event ORDER BY leaf_index")).mappings().all()
    leaves = [rfc9162.hash_leaf(leaf_of_row(row)) for row in rows]
    rewrite_all_nodes(logged, leaves)

    code, report = run_verify(settings)
    assert code == 1
    assert kinds(report) == []  # the stored leaf hashes now match the edited event…
    found = {(f["kind"], f["head_id"]) for f in report["findings"]}
    assert ("head_mismatch", 3) in found  # …but the head over 20 leaves signed the original
    assert ("head_mismatch", 1) not in found and ("head_mismatch", 2) not in found
    assert any(kind == "inconsistent" for kind, _ in found)
    message = next(f["message"] for f in report["findings"] if f["kind"] == "head_mismatch")
    assert "leaves 12 to 19" in message


def test_a_forged_head_is_named(logged: Hub, settings: Settings) -> None:
    tamper(logged, "UPDATE audit_tree_head SET tree_size = 11 WHERE id = 2")
    code, report = run_verify(settings)
    assert code == 1
    found = {(f["kind"], f["head_id"]) for f in report["findings"]}
    assert ("head_signature", 2) in found


def leaf_of_row(row: Any) -> bytes:
    """The test's own leaf serialisation of a raw row (JSON columns as stored, times as UTC)."""
    from datetime import UTC, datetime

    occurred = row["occurred_at"]
    if isinstance(occurred, str):
        occurred = datetime.fromisoformat(occurred)
    occurred = occurred.replace(tzinfo=UTC) if occurred.tzinfo is None else occurred.astimezone(UTC)

    class Event:
        pass

    event = Event()
    for key, value in row.items():
        setattr(
            event,
            key,
            json.loads(value) if key in ("licence_ids", "detail") and isinstance(value, str) else value,
        )
    event.occurred_at = occurred  # type: ignore[attr-defined]
    return rfc9162.leaf_of(event)


def rewrite_all_nodes(hub: Hub, leaves: list[bytes]) -> None:
    """Replace every stored subtree hash with one computed from ``leaves`` (the forger's move)."""
    rows = []
    level, hashes = 0, leaves
    while hashes:
        rows += [{"level": level, "position": p, "hash": h} for p, h in enumerate(hashes)]
        hashes = [rfc9162.hash_children(hashes[i], hashes[i + 1]) for i in range(0, len(hashes) - 1, 2)]
        level += 1
    with hub.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_node"))
        connection.execute(
            text("INSERT INTO audit_node (level, position, hash) VALUES (:level, :position, :hash)"), rows
        )
