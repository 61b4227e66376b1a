"""``hub audit verify --head`` against a database writer who covers their tracks (issue 14): (a) an event
edited, every ``audit_node`` recomputed and the ``audit_tree_head`` rows deleted; (b) the newest 50 events
deleted with their nodes and heads and the tree size lowered. Both pass the database's own checks;
with checkpoints saved before by ``hub audit checkpoint --out``, verify names the rewritten leaf and the
truncation, and without one it says it cannot rule them out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from hub.audit import external, heads
from hub.cli import app
from hub.context import Hub
from hub.settings import Settings
from storage.database import transaction
from tests.audit import rfc9162
from tests.audit.conftest import append_events, cli_env
from tests.audit.test_verify import event_id, leaf_of_row, rewrite_all_nodes, tamper


def save_checkpoint(settings: Settings, path: Path) -> Path:
    result = CliRunner().invoke(app, ["audit", "checkpoint", "--out", str(path)], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    return path


def verify(settings: Settings, *heads_kept: Path | str, plain: bool = False) -> tuple[int, Any]:
    args = ["audit", "verify", *[a for h in heads_kept for a in ("--head", str(h))]]
    result = CliRunner().invoke(app, args if plain else [*args, "--json"], env=cli_env(settings))
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, result.output if plain else json.loads(result.stdout)


def found(report: dict[str, Any], kind: str) -> list[str]:
    return [f["message"] for f in report["findings"] if f["kind"] == kind]


@pytest.fixture
def saved(hub: Hub, settings: Settings, tmp_path: Path) -> dict[int, Path]:
    """Twenty events; an auditor saved a checkpoint at sizes 7, 13, 14 and 20."""
    kept = {}
    for count, size in ((7, 7), (6, 13), (1, 14), (6, 20)):
        append_events(hub, count)
        kept[size] = save_checkpoint(settings, tmp_path / f"head-{size}.txt")
    return kept


def rewrite_leaf_and_nodes(hub: Hub, leaf_index: int) -> None:
    """The forger's whole move: edit, recompute every stored hash, remove the heads that disagree."""
    tamper(hub, "UPDATE audit_event SET outcome = 'refused' WHERE leaf_index = :i", i=leaf_index)
    with hub.engine.begin() as connection:
        rows = connection.execute(text("SELECT * FROM audit_event ORDER BY leaf_index")).mappings().all()
    rewrite_all_nodes(hub, [rfc9162.hash_leaf(leaf_of_row(row)) for row in rows])
    tamper(hub, "DELETE FROM audit_tree_head")


def truncate(hub: Hub, keep: int) -> None:
    """Delete every event from leaf ``keep`` on, the nodes covering them and the heads above, and
    lower the tree size: what remains is a well-formed shorter log."""
    tamper(
        hub,
        "DELETE FROM audit_event WHERE leaf_index >= :keep",
        "DELETE FROM audit_node WHERE (position + 1) * (1 << level) > :keep",
        "DELETE FROM audit_tree_head WHERE tree_size > :keep",
        "UPDATE audit_tree_state SET size = :keep",
        keep=keep,
    )  # fmt: skip


def test_an_untouched_log_verifies_against_its_checkpoints(
    saved: dict[int, Path], settings: Settings
) -> None:
    code, report = verify(settings, *saved.values())
    assert code == 0 and report["findings"] == []
    assert report["external_heads"] == 4 and report["caveat"] is None


def test_a_rewritten_leaf_with_recomputed_nodes_and_deleted_heads_is_named(
    hub: Hub, saved: dict[int, Path], settings: Settings
) -> None:
    rewrite_leaf_and_nodes(hub, 13)

    code, report = verify(settings)  # (c) the database alone agrees with itself…
    assert code == 0 and report["findings"] == []
    assert "cannot rule out a rewrite or truncation" in report["caveat"]

    code, report = verify(settings, *saved.values())  # (a) …the heads kept elsewhere do not
    assert code == 1
    [rewritten, *_] = [f for f in report["findings"] if f["kind"] == "rewritten"]
    assert (rewritten["leaf_index"], rewritten["event_id"]) == (13, event_id(hub, 13))
    assert f"leaf 13 (event {event_id(hub, 13)}) is the first rewritten leaf" in rewritten["message"]
    assert "stored leaf hash and nodes recomputed" in rewritten["message"]
    assert len(found(report, "rewritten")) == 2  # the heads of 14 and 20 leaves; 7 and 13 still match
    assert len(found(report, "head_deleted")) == 4  # every saved head's row is gone

    code, report = verify(settings, saved[20])  # one head alone bounds the leaf, but cannot name it
    assert code == 1
    assert found(report, "rewritten") == [
        f"rewritten: the log's first 20 leaves no longer hash to the root of external head {saved[20]} "
        "(20 leaves); the first rewritten leaf lies in leaves 0 to 19 (heads kept at sizes closer "
        "together would name it)"
    ]


def test_a_truncation_is_named(hub: Hub, settings: Settings, tmp_path: Path) -> None:
    append_events(hub, 70)
    with transaction(hub.session_factory) as session:
        heads.sign_head(session, hub)
    kept = save_checkpoint(settings, tmp_path / "head-70.txt")
    truncate(hub, 20)  # the newest 50 events, their nodes and heads

    code, report = verify(settings)  # (c)
    assert code == 0 and report["tree_size"] == 20 and report["findings"] == []
    assert "cannot rule out a rewrite or truncation" in report["caveat"]

    code, report = verify(settings, kept)  # (b)
    assert code == 1
    assert found(report, "truncated") == [
        f"truncated: external head {kept} (70 leaves) has 70 leaves, log has 20"
    ]
    assert found(report, "head_deleted") == [
        f"external head {kept} (70 leaves): no stored head has its size and root — deleted"
    ]


def test_plain_output_without_a_head_says_what_it_cannot_rule_out(hub: Hub, settings: Settings) -> None:
    append_events(hub, 3)
    code, output = verify(settings, plain=True)
    assert code == 0
    assert "the log verifies" in output
    assert "cannot rule out a rewrite or truncation" in " ".join(output.split())


def test_the_json_head_counts_as_an_external_head(
    hub: Hub, client: Any, settings: Settings, tmp_path: Path
) -> None:
    append_events(hub, 30)
    kept = tmp_path / "tree-head.json"
    kept.write_text(client.get("/v1/audit/tree-head").text)
    truncate(hub, 25)
    code, report = verify(settings, kept)
    assert code == 1
    assert found(report, "truncated") == [
        f"truncated: external head {kept} (30 leaves) has 30 leaves, log has 25"
    ]


def test_a_head_not_signed_by_the_hub_is_refused(hub: Hub, settings: Settings, tmp_path: Path) -> None:
    append_events(hub, 4)
    kept = save_checkpoint(settings, tmp_path / "head.txt")
    forged = tmp_path / "forged.txt"
    forged.write_text(kept.read_text().replace("\n4\n", "\n400\n", 1))
    result = CliRunner().invoke(app, ["audit", "verify", "--head", str(forged)], env=cli_env(settings))
    assert result.exit_code == 2
    assert "does not verify" in result.output


def test_a_pinned_key_that_did_not_sign_the_head_refuses_it(
    hub: Hub, settings: Settings, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from hub.audit.checkpoint import NoteKey

    append_events(hub, 4)
    kept = save_checkpoint(settings, tmp_path / "head.txt")
    own = heads.note_keys(hub)[0].vkey
    other = NoteKey("hub.test/audit", ec.generate_private_key(ec.SECP256R1()).public_key()).vkey
    runner = CliRunner()
    good = runner.invoke(app, ["audit", "verify", "--head", str(kept), "--key", own], env=cli_env(settings))
    assert good.exit_code == 0, good.output
    bad = runner.invoke(app, ["audit", "verify", "--head", str(kept), "--key", other], env=cli_env(settings))
    assert bad.exit_code == 2 and "no signature of a known key" in bad.output


def test_a_head_is_read_from_a_url() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200 if request.url.path == "/head" else 404, text="a checkpoint")

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        assert external.read_source("https://witness.test/head", client=client) == "a checkpoint"
        with pytest.raises(external.HeadError, match="HTTP 404"):
            external.read_source("https://witness.test/gone", client=client)
