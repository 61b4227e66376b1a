"""What a draft means for the hub (``adapters.sdk.plan``): pure decisions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.sdk.plan import LicenceState, PlanError, needs_new_licence, plan_steps
from adapters.sdk.records import LicenceDraft
from hub.contract.status import LicenceStatus as S

DRAFT = LicenceDraft("T1", {"name": "王芳"})
CHANGED = LicenceDraft("T1", {"name": "王芳芳"})
HELD = LicenceState("00000001", 1, "id-1", DRAFT.content_hash, S.VALID, 0, 1)
NEW = LicenceState("00000002", 1, "id-new", DRAFT.content_hash, S.VALID, 0, 2)


def ids(serial: str, version: int) -> str:
    return f"{serial}.{version:03d}"


def ops(draft: LicenceDraft, current: LicenceState | None) -> list[tuple[str, int, S]]:
    new = NEW if needs_new_licence(draft, current) else None
    return [(s.op, s.after.version, s.after.status) for s in plan_steps(draft, current, new, ids)]


@pytest.mark.parametrize(
    ("draft", "current", "expected"),
    [
        (DRAFT, None, [("issue", 1, S.VALID)]),
        (replace(DRAFT, status=S.CANCELLED), None, [("issue", 1, S.VALID), ("status", 1, S.CANCELLED)]),
        (DRAFT, HELD, []),
        (CHANGED, HELD, [("update", 2, S.VALID)]),
        (replace(DRAFT, status=S.CANCELLED), HELD, [("status", 1, S.CANCELLED)]),
        (replace(CHANGED, status=S.REVOKED), HELD, [("update", 2, S.VALID), ("status", 2, S.REVOKED)]),
        (DRAFT, replace(HELD, status=S.SUSPENDED), [("status", 1, S.VALID)]),
        (CHANGED, replace(HELD, status=S.CANCELLED), [("issue", 1, S.VALID)]),  # valid again: a new licence
        (replace(CHANGED, status=S.CANCELLED), replace(HELD, status=S.CANCELLED), []),  # ended: no versions
        (replace(DRAFT, status=S.REVOKED), replace(HELD, status=S.CANCELLED), [("status", 1, S.REVOKED)]),
    ],
)
def test_plan(draft: LicenceDraft, current: LicenceState | None, expected: list[tuple[str, int, S]]) -> None:
    assert ops(draft, current) == expected


def test_an_update_names_the_next_version_and_keeps_the_slot() -> None:
    (step,) = plan_steps(CHANGED, HELD, None, ids)
    assert step.after.licence_id == "00000001.002"
    assert (step.after.serial, step.after.status_list, step.after.status_index) == ("00000001", 0, 1)
    assert step.after.content_hash == CHANGED.content_hash


def test_no_version_past_999() -> None:
    with pytest.raises(PlanError, match="999"):
        plan_steps(CHANGED, replace(HELD, version=999), None, ids)


def test_content_hash_covers_values_and_validity_not_status() -> None:
    from datetime import date

    assert DRAFT.content_hash == LicenceDraft("T1", {"name": "王芳"}, status=S.CANCELLED).content_hash
    assert DRAFT.content_hash != CHANGED.content_hash
    assert (
        DRAFT.content_hash != LicenceDraft("T1", {"name": "王芳"}, valid_until=date(2030, 1, 1)).content_hash
    )
