"""The police adapter end to end: a real hub (uvicorn on PostgreSQL) ← the adapter through the real
token endpoint (private_key_jwt). The hub must hold exactly what the source says, a second sync push
nothing, a 1% change push exactly that, and a sync killed mid-way end where an uninterrupted one ends."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.police.__main__ import app
from adapters.police.generate import append_changes, write_export
from adapters.police.mapping import map_record
from adapters.police.source import PoliceSource
from adapters.samples.population import generate
from adapters.sdk.engine import SyncReport
from adapters.sdk.records import MappingError
from adapters.sdk.validation import problems_with
from tests.adapters.hub_server import DepartmentSetup, HubServer, held_licences
from tests.factories import TYPES

pytestmark = pytest.mark.slow
KEYS = {"11100000000013127D003": "certificate_number"}  # other police types: the holder's id_number


def sync_args(
    hub_server: HubServer, police: DepartmentSetup, source: Path, state: Path, *extra: str
) -> list[str]:
    client = ["--client-id", police.client_id, "--client-key", str(police.client_key_file)]
    return [
        "sync", "--source", str(source), "--hub", hub_server.url, *(client if police.client_id else []),
        "--key", str(police.key_file), "--department", police.id, "--state", str(state), *extra,
    ]  # fmt: skip


def sync(
    hub_server: HubServer, police: DepartmentSetup, source: Path, state: Path, *extra: str
) -> SyncReport:
    """``python -m adapters.police sync …`` in this process; returns the engine's report."""
    from adapters.sdk import cli

    reports: list[SyncReport] = []
    original = cli.print_report
    cli.print_report = reports.append  # type: ignore[assignment]
    try:
        result = CliRunner().invoke(app, sync_args(hub_server, police, source, state, *extra))
    finally:
        cli.print_report = original  # type: ignore[assignment]
    assert result.exit_code == 0, result.output
    return reports[0]


def expected_from_source(source: Path) -> dict[tuple[str, str], tuple[dict[str, object], str]]:
    """What the hub should hold: every valid draft of the source, the latest one per licence."""
    expected: dict[tuple[str, str], tuple[dict[str, object], str]] = {}
    for record in PoliceSource(source).read(None):
        try:
            drafts = map_record(record)
        except MappingError:
            continue
        for draft in drafts:
            if not draft.problems and not problems_with(TYPES[draft.type_code], draft.values):
                expected[(draft.type_code, record.key)] = (dict(draft.values), draft.status.value)
    return expected


def assert_hub_matches(hub_server: HubServer, department: str, source: Path) -> None:
    expected = expected_from_source(source)
    held = {
        (h.type_code, str(h.claims[KEYS.get(h.type_code, "id_number")])): (h.claims, h.status)
        for h in held_licences(hub_server.hub, department).values()
    }
    assert len(held) == len(held_licences(hub_server.hub, department)), "two licences for one record"
    assert held.keys() == expected.keys()
    for key, (values, status) in expected.items():
        assert held[key] == (values, status), key


def test_sync_matches_source_then_pushes_nothing_then_exactly_the_changes(
    hub_server: HubServer, police: DepartmentSetup, tmp_path: Path
) -> None:
    source, state = tmp_path / "export", tmp_path / "state.sqlite3"
    population = generate(400, seed=31)
    info = write_export(population, source, seed=31)

    anonymous = DepartmentSetup(police.id, police.uscc, "", police.key_file, police.client_key_file)
    dry = sync(hub_server, anonymous, source, state, "--dry-run")  # no client: plans on the catalog alone
    assert hub_server.feed_rows(police.id)["last_sequence"] == 0 and not state.exists()

    log_file = tmp_path / "sync.log"
    first = sync(hub_server, police, source, state, "--batch-size", "200", "--log-file", str(log_file))
    rows = hub_server.feed_rows(police.id)
    assert (first.issued, first.status_changes, first.rejected) == (dry.issued, dry.status_changes, 0)
    assert first.dead_letters == dry.dead_letters >= info.broken_rows
    assert (
        rows["licences"] == rows["versions"] == first.issued
        and rows["status_changes"] == first.status_changes
    )
    assert first.status_changes > 0  # voided certificates: issued then annulled
    assert_hub_matches(hub_server, police.id, source)

    logged = log_file.read_text(encoding="utf-8")
    assert '"event": "sync.batch.pushed"' in logged
    assert not any(number in logged for number in population.citizens), "personal data in the logs"
    assert not any(c.name in logged for c in population.citizens.values())
    status = CliRunner().invoke(app, ["status", "--state", str(state)], terminal_width=200)
    assert status.exit_code == 0 and f"feed sequence {rows['last_sequence']}" in status.output
    assert f"open dead letters: {first.dead_letters}" in status.output
    assert not any(number in status.output for number in population.citizens)  # keys are masked

    second = sync(hub_server, police, source, state)
    assert (second.records, second.operations, second.batches) == (0, 0, 0)
    assert hub_server.feed_rows(police.id) == rows

    before = {k: h for k, h in expected_from_source(source).items()}
    events = append_changes(population, source, fraction=0.01, seed=32)
    after = expected_from_source(source)
    new = [k for k in after if k not in before]
    changed = [k for k in before if after[k][0] != before[k][0] and before[k][1] == "01"]
    restated = [k for k in after if after[k][1] != before.get(k, (None, "01"))[1]]
    third = sync(hub_server, police, source, state)
    assert third.records == len(events)
    assert (third.issued, third.updated, third.status_changes) == (len(new), len(changed), len(restated))
    assert third.rejected == 0 and third.batches == 1
    assert Counter(e.op for e in events)["cancelled"] or restated == []
    now = hub_server.feed_rows(police.id)
    assert now["licences"] == rows["licences"] + len(new)
    assert now["versions"] == rows["versions"] + len(new) + len(changed)
    assert now["status_changes"] == rows["status_changes"] + len(restated)
    assert_hub_matches(hub_server, police.id, source)


def test_a_sync_killed_mid_way_ends_like_an_uninterrupted_one(hub_server: HubServer, tmp_path: Path) -> None:
    source = tmp_path / "export"
    write_export(generate(500, seed=41), source, seed=41)
    hub_server.allow_several_per_holder()  # two feeds of the same people, compared
    steady, killed = (
        hub_server.register_police(tmp_path / "keys"),
        hub_server.register_police(tmp_path / "keys"),
    )
    sync(hub_server, steady, source, tmp_path / "steady.sqlite3", "--batch-size", "20")

    state = tmp_path / "killed.sqlite3"
    command = [
        sys.executable,
        "-m",
        "adapters.police",
        *sync_args(hub_server, killed, source, state, "--batch-size", "20"),
    ]
    in_window = 0
    for target in (3, 11, 23, 31):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while hub_server.feed_rows(killed.id)["last_sequence"] < target and process.poll() is None:
            assert time.monotonic() < deadline, "the adapter made no progress"
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, process.stderr.read() if process.stderr else ""
        local = sqlite3.connect(state).execute("SELECT last_sequence FROM feed").fetchone()[0]
        in_window += hub_server.feed_rows(killed.id)["last_sequence"] > local  # committed at the hub only
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr

    steady_held, killed_held = (
        held_licences(hub_server.hub, steady.id),
        held_licences(hub_server.hub, killed.id),
    )
    assert killed_held.keys() == steady_held.keys()
    for key, licence in steady_held.items():
        other = killed_held[key]
        assert (other.version, other.versions, other.status, other.claims) == (
            licence.version, licence.versions, licence.status, licence.claims,
        ), key  # fmt: skip
    assert all(h.versions == h.version for h in killed_held.values())  # no duplicate or missing version
    assert_hub_matches(hub_server, killed.id, source)
    print(f"kills that landed between the hub's commit and the adapter's: {in_window} of 4")
