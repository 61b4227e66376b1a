"""The adapter's local state file: one sync at a time, one feed per file, dead letters resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.sdk.plan import LicenceState
from adapters.sdk.state import DeadLetter, LocalState, OutboxBatch, StateError
from hub.contract.status import LicenceStatus

KEY = ("11100000000013127D001", "410105198003121234", "")
HELD = LicenceState("00000000", 1, "id-1", "hash", LicenceStatus.VALID, 0, 0)


def test_one_sync_at_a_time(tmp_path: Path) -> None:
    first, second = LocalState(tmp_path / "s.sqlite3"), LocalState(tmp_path / "s.sqlite3")
    first.lock()
    with pytest.raises(StateError, match="another sync is running"):
        second.lock()
    first.close()
    second.lock()  # free again once the first process let go
    second.close()


def test_a_file_belongs_to_one_feed(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "s.sqlite3")
    state.create_feed("zz-police", "http://hub", last_sequence=0, status_slot=(0, 0))
    assert state.check_feed("zz-police", "http://hub") is not None
    with pytest.raises(StateError, match="holds the feed of zz-police"):
        state.check_feed("zz-amr", "http://hub")
    state.close()


def test_outbox_round_trip_and_dead_letters_resolved_by_a_later_acceptance(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "s.sqlite3")
    state.create_feed("zz-police", "http://hub", last_sequence=4, status_slot=(0, 0))
    letter = DeadLetter(KEY[1], KEY[0], "hub", "Claims do not match", {"姓名": "王建国"})
    batch = OutboxBatch(5, '{"sequence":5}', {"ops": [], "records": []}, "cursor-5")
    state.record_planned(batch, cursor="cursor-5", status_slot=(0, 1), dead_letters=[letter])
    assert state.pending_batch() == batch
    state.record_applied(batch, accepted=[(KEY, HELD)], dead_letters=[])
    feed = state.feed()
    assert feed is not None and (feed.last_sequence, feed.source_cursor, feed.next_status_index) == (
        5,
        "cursor-5",
        1,
    )
    assert state.pending_batch() is None and state.licence(KEY) == HELD
    assert state.dead_letters() == [] and len(state.dead_letters(include_resolved=True)) == 1
    state.close()
