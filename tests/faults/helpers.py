"""What the fault tests share: exact counts of a feed's rows, and checks of a 503/507 problem."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import text

from hub.context import Hub

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class FeedRows:
    """A department's rows in the registry; two equal values mean nothing was lost or doubled."""

    licences: int
    versions: int
    distinct_versions: int
    last_sequence: int
    stored_batches: int
    licence_ids: frozenset[str]


def feed_rows(hub: Hub, department: str) -> FeedRows:
    params = {"d": department}
    with hub.engine.connect() as conn:
        ids = conn.execute(
            text(
                "SELECT v.licence_id FROM licence_version v JOIN licence l ON l.id = v.licence_pk "
                "WHERE l.department_id = :d"
            ),
            params,
        ).scalars()
        ids = list(ids)
        licences = conn.execute(text("SELECT count(*) FROM licence WHERE department_id = :d"), params)
        last = conn.execute(text("SELECT last_sequence FROM feed WHERE department_id = :d"), params)
        batches = conn.execute(text("SELECT count(*) FROM feed_batch WHERE department_id = :d"), params)
        return FeedRows(
            licences=licences.scalar_one(),
            versions=len(ids),
            distinct_versions=len(set(ids)),
            last_sequence=last.scalar_one_or_none() or 0,
            stored_batches=batches.scalar_one(),
            licence_ids=frozenset(ids),
        )


def expected_rows(batches: dict[int, list[str]]) -> FeedRows:
    """The rows a feed holds when every batch in ``batches`` (sequence → licence ids) is in exactly once."""
    ids = [i for licence_ids in batches.values() for i in licence_ids]
    return FeedRows(len(ids), len(ids), len(ids), max(batches, default=0), len(batches), frozenset(ids))


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, object]:
    """``response`` is an RFC 9457 problem with ``status`` whose detail names every word in ``words``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    problem = response.json()
    assert problem["status"] == status
    for word in words:
        assert word in problem["detail"], problem
    return problem
