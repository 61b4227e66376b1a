"""What a draft means for the hub, given what was pushed before: pure decisions, no I/O.

| the hub holds               | the source says               | operations                             |
|-----------------------------|-------------------------------|----------------------------------------|
| nothing                     | valid                         | issue                                  |
| nothing                     | cancelled / revoked / …       | issue, status                          |
| in force (01, 02)           | other values or validity      | update (+ status)                      |
| in force                    | same content, other status    | status                                 |
| ended (03 annulled, 04, 07) | valid again                   | issue a new licence linked to the old  |
| ended                       | ended, other code             | status                                 |
| anything                    | the same                      | nothing                                |

An ended licence takes no new version (the hub refuses it): the source changing one is ignored until it
is valid again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from adapters.sdk.records import LicenceDraft
from hub.contract.licence_id import MAX_VERSION
from hub.contract.status import LicenceStatus

ENDED = frozenset({LicenceStatus.ANNULLED, LicenceStatus.CANCELLED, LicenceStatus.REVOKED})


class PlanError(ValueError):
    """The draft cannot be pushed (e.g. the licence has used up its versions)."""


@dataclass(frozen=True)
class LicenceState:
    """What the hub holds for one draft's licence, as far as this adapter knows."""

    serial: str
    version: int
    licence_id: str
    content_hash: str
    status: LicenceStatus
    status_list: int
    status_index: int


@dataclass(frozen=True)
class Step:
    """One operation to send, and the state the licence is in once the hub accepts it."""

    op: str  # issue | update | status
    after: LicenceState


def plan_steps(
    draft: LicenceDraft,
    current: LicenceState | None,
    new_licence: LicenceState | None,
    licence_id_for: Callable[[str, int], str],
) -> list[Step]:
    """The operations that bring the hub from ``current`` to ``draft``.

    ``new_licence`` is used only when a new licence is issued (see :func:`needs_new_licence`): the
    serial, licence id and status list slot the caller allocated, version 1, status valid, the draft's
    content hash. ``licence_id_for(serial, version)`` names a new version."""
    steps: list[Step] = []
    if current is None or (current.status in ENDED and draft.status is LicenceStatus.VALID):
        if new_licence is None:
            raise ValueError("a new licence is needed: allocate one")
        steps.append(Step("issue", new_licence))
        current = new_licence
    elif current.content_hash != draft.content_hash and current.status not in ENDED:
        if current.version >= MAX_VERSION:
            raise PlanError(f"licence {current.licence_id} has used all {MAX_VERSION} versions")
        version = current.version + 1
        current = replace(
            current,
            version=version,
            licence_id=licence_id_for(current.serial, version),
            content_hash=draft.content_hash,
        )
        steps.append(Step("update", current))
    if current.status is not draft.status:
        steps.append(Step("status", replace(current, status=draft.status)))
    return steps


def needs_new_licence(draft: LicenceDraft, current: LicenceState | None) -> bool:
    return current is None or (current.status in ENDED and draft.status is LicenceStatus.VALID)
