"""The check pool: a large batch's operations checked across worker processes give exactly what checking
them in the request's own process gives, in order, and the pool survives a worker's death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from hub.context import Hub
from hub.kit import pool
from hub.kit.pool import MAX_BREAKS, MIN_SHARE, Checking, WorkerPool
from hub.registry import repository
from hub.registry.ingest import load_context
from hub.registry.ingest_checks import OperationChecker
from hub.registry.ingest_rules import Prepared
from hub.registry.models import Licence, LicenceStatusChange, LicenceVersion
from tests.factories import (
    ID_CARD,
    TYPES,
    Issuer,
    batch,
    create_issuer,
    issue,
    sample_values,
    seed_catalog,
    status_op,
    update,
)
from tests.registry.test_ingest import count, tamper_disclosure, wrong_check_digit


@pytest.fixture
def police(hub: Hub) -> Issuer:
    seed_catalog(hub)
    return create_issuer(hub, "police")


def use_workers(hub: Hub, workers: int) -> None:
    """The hub's pool replaced by one of ``workers`` workers, started and ready (a batch uses only the
    workers that are ready: it does not wait for one still starting)."""
    hub.checks.close()
    hub.checks = WorkerPool(workers, hub.checks.preload)
    if workers:
        hub.checks.start()
        assert hub.checks.wait_ready(timeout=60)


def mixed_batch(police: Issuer, sequence: int, size: int) -> tuple[dict[str, Any], list[str]]:
    """``size`` operations across every chunk the pool makes: mostly good issues, bad credentials of
    several kinds, a duplicate issue, and updates and status changes of licences issued earlier in the
    same batch (so a later chunk depends on an earlier one). Also the expected outcome of each: the
    problem type's last segment, or "accepted"."""
    operations: list[dict[str, Any]] = []
    expected: list[str] = []
    issued: list[tuple[Any, str, int]] = []
    stranger = ECKey.generate_key("P-256", private=True)
    for index in range(size):
        licence_id = police.licence_id(ID_CARD)
        holder = police.holder_for(ID_CARD)
        slot = 1000 * sequence + index
        kind = index % 10
        if kind == 3:
            operations.append(issue(tamper_disclosure(police.credential(ID_CARD))))
            expected.append("invalid-signature")
        elif kind == 5:
            values = sample_values(TYPES[ID_CARD], holder, police.rng)
            values["id_number"] = wrong_check_digit(holder)
            operations.append(issue(police.credential(ID_CARD, values=values)))
            expected.append("invalid-claims")
        elif kind == 7:
            operations.append(issue(police.credential(ID_CARD, key=stranger, kid="stranger")))
            expected.append("unknown-key")
        elif kind == 8 and issued:
            # A licence issued (in an earlier chunk, for the late ones) gets version 2, then is suspended.
            first_id, first_holder, first_slot = issued.pop(0)
            v2 = first_id.with_version(2)
            credential = police.credential(
                ID_CARD, licence_id=v2, holder=first_holder, status_index=first_slot
            )
            operations.append(update(credential))
            expected.append("accepted")
            operations.append(status_op(police.status(v2, "02", reason="暂扣")))
            expected.append("accepted")
        elif kind == 9 and issued:
            operations.append(issue(police.credential(ID_CARD, licence_id=issued[-1][0], status_index=slot)))
            expected.append("version-conflict")
        else:
            operations.append(issue(police.credential(ID_CARD, licence_id=licence_id, holder=holder,
                                                      status_index=slot)))  # fmt: skip
            expected.append("accepted")
            issued.append((licence_id, holder, slot))
    return batch(police, sequence, *operations), expected


def outcomes(body: dict[str, Any]) -> list[str]:
    return [
        "accepted" if r["outcome"] == "accepted" else r["problem"]["type"].rsplit("/", 1)[-1]
        for r in body["results"]
    ]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_large_mixed_batch_gives_the_same_results_with_and_without_workers(
    client: TestClient, hub: Hub, police: Issuer, workers: int
) -> None:
    use_workers(hub, workers)
    body, expected = mixed_batch(police, 1, 6 * MIN_SHARE)
    response = client.post("/v1/licences/batch", json=body, headers=police.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert outcomes(result) == expected
    assert [r["index"] for r in result["results"]] == list(range(len(expected)))
    assert len(hub.checks.worker_pids()) == workers  # the pool's path was really taken (or not)

    accepted_issues = sum(1 for op, e in zip(body["operations"], expected, strict=True)
                          if op["op"] == "issue" and e == "accepted")  # fmt: skip
    updates = sum(1 for op in body["operations"] if op["op"] == "update")
    stored = (count(hub, Licence), count(hub, LicenceVersion), count(hub, LicenceStatusChange))
    assert stored == (accepted_issues, accepted_issues + updates, updates)
    replay = client.post("/v1/licences/batch", json=body, headers=police.headers).json()
    assert replay["replayed"] is True and outcomes(replay) == expected


def test_a_worker_killed_mid_batch_costs_no_operation_and_is_replaced(
    client: TestClient, hub: Hub, police: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_workers(hub, 1)
    batches = [mixed_batch(police, sequence, 4 * MIN_SHARE) for sequence in (1, 2, 3)]
    (first, expected), (second, expected_second), (third, expected_third) = batches
    assert outcomes(client.post("/v1/licences/batch", json=first, headers=police.headers).json()) == expected
    [worker] = hub.checks.worker_pids()

    # The worker is killed while it holds chunks of the second batch: when this process first checks
    # a chunk of its own, the worker has been sent the batch and its first chunks.
    check_here = Checking._check_here

    def kill_then_check(self: Checking, chunk: int) -> None:
        if any(self.in_flight.values()):
            os.kill(worker, signal.SIGKILL)
        check_here(self, chunk)

    monkeypatch.setattr(Checking, "_check_here", kill_then_check)
    response = client.post("/v1/licences/batch", json=second, headers=police.headers)
    assert response.status_code == 200, response.text
    assert outcomes(response.json()) == expected_second  # the dead worker's chunks were checked in-process
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    monkeypatch.undo()

    hub.checks.start()
    assert hub.checks.wait_ready(timeout=60)  # a new worker
    response = client.post("/v1/licences/batch", json=third, headers=police.headers)
    assert outcomes(response.json()) == expected_third
    assert len(hub.checks.worker_pids()) == 1 and hub.checks.worker_pids() != [worker]
    assert count(hub, Licence) == sum(
        op["op"] == "issue" and e == "accepted"
        for body, outcomes_expected in batches
        for op, e in zip(body["operations"], outcomes_expected, strict=True)
    )


@pytest.mark.parametrize("workers", [0, 1])
def test_new_licences_clashing_with_stored_ones_are_refused_one_by_one(
    client: TestClient, hub: Hub, police: Issuer, workers: int
) -> None:
    """A bulk load's chunks go in without looking for stored serials or slots first; when one clashes,
    its chunk is undone and applied again with the lookups. Only the clashing operations are refused,
    wherever they fall in the batch, and everything else is stored once."""
    use_workers(hub, workers)
    stored = [police.licence_id(ID_CARD) for _ in range(3 * MIN_SHARE)]
    first = [
        issue(police.credential(ID_CARD, licence_id=lid, status_index=i)) for i, lid in enumerate(stored)
    ]
    assert client.post("/v1/licences/batch", json=batch(police, 1, *first), headers=police.headers).json()[
        "accepted"
    ] == len(first)

    operations, expected = [], []
    for index in range(6 * MIN_SHARE):
        if index % 37 == 36:  # a serial already stored (none in the first chunk, which goes in unchecked)
            credential = police.credential(
                ID_CARD, licence_id=stored[index % len(stored)], status_index=5000 + index
            )
            expected.append("version-conflict")
        elif index % 41 == 40:  # a slot already taken
            credential = police.credential(ID_CARD, status_index=index % len(stored))
            expected.append("conflict")
        else:
            credential = police.credential(ID_CARD, status_index=1000 + index)
            expected.append("accepted")
        operations.append(issue(credential))
    response = client.post("/v1/licences/batch", json=batch(police, 2, *operations), headers=police.headers)
    assert response.status_code == 200, response.text
    assert outcomes(response.json()) == expected
    assert count(hub, Licence) == len(stored) + expected.count("accepted")
    assert count(hub, LicenceVersion) == len(stored) + expected.count("accepted")


def summary(checked: list[Any]) -> list[tuple[Any, ...]]:
    """What a check found, comparable: each operation's prepared values, or its problem's type."""
    return [
        (item.index, str(item.licence_id), getattr(item, "holder_index", ""), item.compact[:40])
        if isinstance(item, Prepared)
        else ("rejected", item.to_problem()["type"])
        for item in checked
    ]


def test_a_batch_takes_the_worker_another_batch_frees(
    hub: Hub, police: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two feeds' batches at once, one worker: the second starts checking alone, and takes the worker
    as soon as the first gives it back; either way the results are those of checking in one process."""
    use_workers(hub, 1)
    body, _ = mixed_batch(police, 1, 6 * MIN_SHARE)
    operations = [(o["op"], o.get("credential"), o.get("statement")) for o in body["operations"]]
    with hub.session_factory() as session:
        department = repository.get_department(session, police.id)
        assert department is not None
        context = load_context(session, hub, department)
    checker = OperationChecker(context, hub.blind_index)
    alone = summary(checker.check_each(operations))

    first = hub.checks.check(checker, operations)
    second = hub.checks.check(checker, operations)
    assert len(first.workers) == 1 and second.workers == []  # the one worker is the first batch's

    check_here = Checking._check_here
    checked_here: list[int] = []

    def first_finishes_meanwhile(self: Checking, chunk: int) -> None:
        if self is second:
            if not checked_here:
                assert summary([item for part in first for item in part]) == alone
                first.close()
            checked_here.append(chunk)
        check_here(self, chunk)

    monkeypatch.setattr(Checking, "_check_here", first_finishes_meanwhile)
    with second:
        assert summary([item for part in second for item in part]) == alone
        assert second.used and second.workers  # it took the worker once the first batch was done
    assert 1 <= len(checked_here) < len(second.chunks)


def test_a_pool_that_cannot_start_a_process_leaves_the_checks_in_process(
    client: TestClient, hub: Hub, police: Issuer, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    def no_process(self: Any, preload: tuple[str, ...]) -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(pool._Worker, "__init__", no_process)
    hub.checks.close()
    hub.checks = WorkerPool(1, hub.checks.preload)
    hub.checks.start()
    body, expected = mixed_batch(police, 1, 3 * MIN_SHARE)
    response = client.post("/v1/licences/batch", json=body, headers=police.headers)
    assert response.status_code == 200, response.text
    assert outcomes(response.json()) == expected
    assert hub.checks.worker_pids() == []
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("ingest.check_pool.")] == [
        "ingest.check_pool.given_up"
    ]


WATCHED = """
import os, sys, time
from hub.kit.pool import WorkerPool
if __name__ == "__main__":
    pool = WorkerPool(1)
    pool.start()
    while not pool.worker_pids():
        time.sleep(0.05)
    print(pool.worker_pids()[0], flush=True)
    time.sleep(60)
"""


def test_workers_exit_when_the_hub_process_is_killed(tmp_path: Any) -> None:
    script = tmp_path / "hub_process.py"
    script.write_text(WATCHED)
    hub_process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert hub_process.stdout is not None
        worker = int(hub_process.stdout.readline())
        os.kill(worker, 0)  # alive
    finally:
        hub_process.kill()
        hub_process.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the worker outlived its hub process by 5 s")


# A module no worker can import: each worker of a pool that preloads it fails as it starts.
UNIMPORTABLE = "tests.registry.not_a_module"


def test_a_pool_that_keeps_breaking_is_given_up_and_checks_stay_in_process(
    client: TestClient, hub: Hub, police: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    hub.checks.close()
    hub.checks = WorkerPool(1, [UNIMPORTABLE])
    for sequence in range(1, MAX_BREAKS + 2):
        hub.checks.start()
        assert not hub.checks.wait_ready(timeout=60)  # the worker died as it started
        body, expected = mixed_batch(police, sequence, 3 * MIN_SHARE)
        response = client.post("/v1/licences/batch", json=body, headers=police.headers)
        assert response.status_code == 200, response.text
        assert outcomes(response.json()) == expected
    broken = [r for r in caplog.records if r.getMessage().startswith("ingest.check_pool.")]
    assert [r.getMessage() for r in broken] == ["ingest.check_pool.started", "ingest.check_pool.broken"] * (
        MAX_BREAKS - 1
    ) + ["ingest.check_pool.started", "ingest.check_pool.given_up"]
    assert hub.checks.worker_pids() == []
