"""The bytes an audit event contributes to the Merkle log (its leaf), format 1.

Canonical JSON: every stored column of the event except its position (``leaf_index``), keys sorted, no
insignificant whitespace, UTF-8, times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Leaving the position out is
what lets ``hub audit verify`` tell a reordered event (its content is logged at another index) from a
modified one. Never change this format in place: add a format 2 and keep this one for old leaves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

LEAF_FORMAT = 1


class EventLike(Protocol):
    id: int | None
    occurred_at: datetime
    action: str
    outcome: str
    actor_kind: str
    actor_id: str
    client_id: str | None
    region_code: str | None
    department_id: str | None
    holder_index: str | None
    purpose: str | None
    case_id: str | None
    type_codes: str | None
    licence_ids: list[str]
    detail: dict[str, Any]


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def leaf_bytes(event: EventLike) -> bytes:
    return canonical_json(
        {
            "v": LEAF_FORMAT,
            "id": event.id,
            "occurred_at": format_time(event.occurred_at),
            "action": event.action,
            "outcome": event.outcome,
            "actor_kind": event.actor_kind,
            "actor_id": event.actor_id,
            "client_id": event.client_id,
            "region_code": event.region_code,
            "department_id": event.department_id,
            "holder_index": event.holder_index,
            "purpose": event.purpose,
            "case_id": event.case_id,
            "type_codes": event.type_codes,
            "licence_ids": list(event.licence_ids),
            "detail": event.detail,
        }
    )
