"""Recovery against the real hub: a crash between the hub's commit and the local one, a lost state
file, broken sources and a wrong key, each ending with nothing lost, nothing doubled, nothing half-pushed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.police.__main__ import app
from adapters.police.generate import append_changes, write_export
from adapters.police.mapping import map_record
from adapters.police.source import POPULATION_FILE, PoliceSource
from adapters.samples.population import generate
from adapters.sdk.engine import SyncEngine, SyncReport
from adapters.sdk.hub_client import HubClient
from adapters.sdk.keys import load_private_key
from adapters.sdk.pushing import SyncAborted
from adapters.sdk.state import LocalState
from tests.adapters.hub_server import DepartmentSetup, HubServer, held_licences
from tests.adapters.test_police_e2e import assert_hub_matches, sync_args

pytestmark = pytest.mark.slow


class Crash(Exception):
    """Stands for the adapter dying: nothing after it runs."""


def engine_sync(
    hub_server: HubServer, police: DepartmentSetup, source: Path, state_file: Path, batch_size: int = 50
) -> SyncReport:
    hub = HubClient(
        hub_server.url, client_id=police.client_id, client_key=load_private_key(police.client_key_file)
    )
    state = LocalState(state_file)
    try:
        engine = SyncEngine(
            hub=hub, state=state, department_id=police.id, signing_key=load_private_key(police.key_file),
            mapper=map_record, batch_size=batch_size,
        )  # fmt: skip
        return engine.run(PoliceSource(source).read)
    finally:
        state.close()
        hub.close()


def test_a_crash_after_the_hub_committed_is_healed_by_replaying_the_outbox(
    hub_server: HubServer, police: DepartmentSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, state = tmp_path / "export", tmp_path / "state.sqlite3"
    write_export(generate(150, seed=51), source, seed=51)
    applied = LocalState.record_applied
    calls = {"n": 0}

    def dies_on_the_third_batch(self: LocalState, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash
        applied(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalState, "record_applied", dies_on_the_third_batch)
    with pytest.raises(Crash):
        engine_sync(hub_server, police, source, state)
    assert hub_server.feed_rows(police.id)["last_sequence"] == 3  # the hub has batch 3, the state file not

    monkeypatch.setattr(LocalState, "record_applied", applied)
    report = engine_sync(hub_server, police, source, state)
    assert report.replayed_batches == 1 and report.rejected == 0
    assert_hub_matches(hub_server, police.id, source)
    assert all(h.versions == h.version == 1 for h in held_licences(hub_server.hub, police.id).values())


def test_a_new_state_file_continues_the_hubs_feed(
    hub_server: HubServer, police: DepartmentSetup, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_export(generate(60, seed=61), first, seed=61)
    write_export(generate(60, seed=62), second, seed=62)  # other people
    before = engine_sync(hub_server, police, first, tmp_path / "lost.sqlite3")

    report = engine_sync(hub_server, police, second, tmp_path / "new.sqlite3")
    assert report.adopted_at_sequence == before.last_sequence
    assert report.last_sequence > before.last_sequence and report.rejected == 0  # no sequence or slot reused
    held = held_licences(hub_server.hub, police.id)
    assert len(held) == before.issued + report.issued
    assert len({h.serial for h in held.values()}) == len(held)


@pytest.mark.parametrize("damage", ["encoding", "columns"])
def test_a_broken_export_ends_with_a_clear_message_and_pushes_nothing(
    hub_server: HubServer, police: DepartmentSetup, tmp_path: Path, damage: str
) -> None:
    source, state = tmp_path / "export", tmp_path / "state.sqlite3"
    write_export(generate(80, seed=71), source, seed=71)
    path = source / POPULATION_FILE
    text = path.read_text(encoding="utf-8")
    if damage == "encoding":
        lines = text.splitlines()
        path.write_bytes("\n".join(lines[:40]).encode() + b"\n" + "\n".join(lines[40:]).encode("gbk"))
        message = "not valid utf-8 at byte"
    else:
        path.write_text(text.replace("户口登记机关", "登记机关名称", 1), encoding="utf-8")
        message = "missing columns 户口登记机关"
    result = CliRunner().invoke(app, sync_args(hub_server, police, source, state))
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert hub_server.feed_rows(police.id)["last_sequence"] == 0 and not state.exists()


def test_a_key_the_hub_does_not_know_signs_nothing(
    hub_server: HubServer, police: DepartmentSetup, tmp_path: Path
) -> None:
    source = tmp_path / "export"
    write_export(generate(30, seed=81), source, seed=81)
    args = sync_args(hub_server, police, source, tmp_path / "state.sqlite3")
    args[args.index("--key") + 1] = str(police.client_key_file)  # the client key is no signing key
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "is not registered for department" in result.output
    assert hub_server.feed_rows(police.id)["last_sequence"] == 0


def test_a_batch_the_hub_refuses_whole_is_dropped_and_planned_again(
    hub_server: HubServer, police: DepartmentSetup, tmp_path: Path
) -> None:
    source, state_file = tmp_path / "export", tmp_path / "state.sqlite3"
    write_export(generate(700, seed=91), source, seed=91)
    with pytest.raises(SyncAborted, match=r"HTTP 413 .* Nothing of it was stored"):
        engine_sync(hub_server, police, source, state_file, batch_size=1200)  # the hub takes 1000 at most
    state = LocalState(state_file)
    assert state.pending_batch() is None and state.feed().source_cursor is None  # type: ignore[union-attr]
    state.close()
    assert hub_server.feed_rows(police.id)["last_sequence"] == 0

    report = engine_sync(hub_server, police, source, state_file, batch_size=500)
    assert report.rejected == 0 and report.last_sequence == report.batches
    assert_hub_matches(hub_server, police.id, source)


def test_an_old_copy_of_the_state_file_is_refused(
    hub_server: HubServer, police: DepartmentSetup, tmp_path: Path
) -> None:
    source, state_file, backup = tmp_path / "export", tmp_path / "state.sqlite3", tmp_path / "backup.sqlite3"
    population = generate(80, seed=95)
    write_export(population, source, seed=95)
    engine_sync(hub_server, police, source, state_file)
    shutil.copyfile(state_file, backup)
    append_changes(population, source, fraction=0.05, seed=96)
    pushed = engine_sync(hub_server, police, source, state_file).last_sequence
    with pytest.raises(SyncAborted, match=rf"the hub's feed is at sequence {pushed}.*older copy"):
        engine_sync(hub_server, police, source, backup)
    assert hub_server.feed_rows(police.id)["last_sequence"] == pushed
