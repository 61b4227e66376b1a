"""Several writers at once: leaf indexes stay dense and in commit order, and a tree head covers only
committed leaves (a database sequence would hand out ids that commit out of order, or never)."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from hub.audit import heads
from hub.audit import service as audit
from hub.audit.heads import jwks_resolver
from hub.audit.models import AuditEvent
from hub.audit.verify import verify_log
from hub.context import Hub
from storage.database import transaction
from tests.audit.conftest import append_events


class RolledBack(Exception):
    pass


def _record(session: object, n: int) -> AuditEvent:
    return audit.record(
        session,  # type: ignore[arg-type]
        action="lookup", outcome="released", actor_kind="client", actor_id=f"worker-{n % 7}",
        holder_index=f"holder-{n}", case_id=f"case-{n}",
    )  # fmt: skip


def _leaf_indexes(hub: Hub) -> list[int]:
    with hub.read_session_factory() as session:
        return list(session.scalars(select(AuditEvent.leaf_index).order_by(AuditEvent.leaf_index)))  # type: ignore[arg-type]


def _writers(hub: Hub, threads: int, transactions: int) -> int:
    """Each thread runs transactions of one or two events; about one in five rolls back."""

    heads_made: list[int] = []

    def work(worker: int) -> int:
        rng, committed = random.Random(worker), 0
        for t in range(transactions):
            if t % 5 == 4:  # heads signed mid-run by the writers too, so they interleave on every backend
                heads_made.append(heads.fresh_head(hub, min_interval_s=0, max_age_s=3600).tree_size)
            events = rng.choice((1, 2))
            try:
                with transaction(hub.session_factory) as session:
                    for e in range(events):
                        _record(session, worker * 10_000 + t * 10 + e)
                    time.sleep(rng.random() / 500)  # hold the counter a little, as a real request would
                    if rng.random() < 0.2:
                        raise RolledBack
                committed += events
            except RolledBack:
                pass
        return committed

    stop = threading.Event()

    def sign_heads() -> None:
        while not stop.is_set():
            heads_made.append(heads.fresh_head(hub, min_interval_s=0, max_age_s=3600).tree_size)

    signer = threading.Thread(target=sign_heads)
    signer.start()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(work, range(threads)))
    stop.set()
    signer.join()
    assert len(set(heads_made)) > 3
    return total


def test_concurrent_writers_keep_indexes_dense(hub: Hub) -> None:
    committed = _writers(hub, threads=8, transactions=20)
    assert _leaf_indexes(hub) == list(range(committed))
    heads.fresh_head(hub, min_interval_s=0, max_age_s=3600)
    with hub.read_session_factory() as session:
        # Every head signed while the writers ran matches the committed events it claims to cover.
        report = verify_log(session, jwks_resolver(hub.signer.jwks))
    assert report.findings == [] and report.tree_size == committed and report.heads > 3


@pytest.mark.parametrize(
    "slow_commits, expected",
    [
        # The slow writer holds leaf 3 uncommitted: the head covers 3 leaves, the fast writer waits and
        # gets leaf 4 once leaf 3 commits.
        (True, {"head": 3, "slow": 3, "fast": 4, "leaves": [0, 1, 2, 3, 4]}),
        # The slow writer rolls leaf 3 back: the fast writer gets leaf 3 — no gap.
        (False, {"head": 3, "slow": 3, "fast": 3, "leaves": [0, 1, 2, 3]}),
    ],
)
def test_a_head_never_covers_an_uncommitted_leaf_on_postgres(
    pg_hub: Hub, slow_commits: bool, expected: dict[str, object]
) -> None:
    append_events(pg_hub, 3)
    claimed, release, seen = threading.Event(), threading.Event(), {}

    def slow_writer() -> None:
        try:
            with transaction(pg_hub.session_factory) as session:
                seen["slow"] = _record(session, 1).leaf_index
                claimed.set()
                release.wait(10)
                if not slow_commits:
                    raise RolledBack
        except RolledBack:
            pass

    def fast_writer() -> None:
        with transaction(pg_hub.session_factory) as session:
            seen["fast"] = _record(session, 2).leaf_index
        seen["fast_done"] = time.monotonic()

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert claimed.wait(10)
    fast = threading.Thread(target=fast_writer)
    fast.start()
    seen["head"] = heads.fresh_head(pg_hub, min_interval_s=0, max_age_s=3600).tree_size
    time.sleep(0.3)
    assert "fast" not in seen  # it waits for the slow writer's claim on the counter
    released_at = time.monotonic()
    release.set()
    slow.join()
    fast.join()
    assert seen.pop("fast_done") >= released_at  # type: ignore[operator]
    assert {**seen, "leaves": _leaf_indexes(pg_hub)} == expected
