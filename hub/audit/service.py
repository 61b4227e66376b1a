"""Recording audit events, in the caller's transaction (never committed here), and reading them back
for auditors.

Regions: an event carries the region of whoever acted — the client's region for a client (or a citizen
acting through one), the admin's for an admin, the department's for a department's feed. An auditor or
admin sees the events of their region's subtree; events without a region (the hub's own) only the
admins of a top-level region.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from hub.audit import log as merkle_log
from hub.audit import metrics, repository
from hub.audit.models import AuditEvent
from hub.audit.repository import EventFilter
from hub.kit.time import utcnow

log = logging.getLogger("hub.audit")


class ClientLike(Protocol):
    """The client an event is about, as far as the log needs it."""

    client_id: str
    region_code: str
    department_id: str | None


class AdminLike(Protocol):
    """The admin who made a change (``record_change``)."""

    id: int | None
    region_code: str


def _types_in(detail: dict[str, Any]) -> list[str]:
    found = [
        entry["type"]
        for key in ("released", "refused")
        for entry in detail.get(key, [])
        if isinstance(entry, dict) and isinstance(entry.get("type"), str)
    ]
    return list(dict.fromkeys(found))


def _padded(codes: list[str]) -> str | None:
    return f" {' '.join(codes)} " if codes else None


def record(
    session: Session,
    *,
    action: str,
    outcome: str,
    actor_kind: str,
    actor_id: str,
    client_id: str | None = None,
    client: ClientLike | None = None,
    holder_index: str | None = None,
    purpose: str | None = None,
    case_id: str | None = None,
    licence_ids: list[str] | None = None,
    detail: dict[str, Any] | None = None,
    region_code: str | None = None,
    department_id: str | None = None,
    type_codes: list[str] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event as the next leaf of the log, in the session's transaction: it commits or rolls
       back with the action it records. ``client`` names the client (its id, region and department, each
       unless given): the log never reads other features' tables. ``type_codes`` defaults
    to the types named in ``detail["released"]`` and ``detail["refused"]``.
       ``occurred_at`` defaults to now (imports of older records pass their own)."""
    plain = json.loads(json.dumps(detail or {}))  # exactly what the JSON column will give back
    if client is not None:
        client_id = client_id or client.client_id
        region_code = region_code or client.region_code
        department_id = department_id or client.department_id
    moment = (occurred_at or utcnow()).astimezone(UTC)
    event = merkle_log.append(
        session,
        occurred_at=moment,
        action=action,
        outcome=outcome,
        actor_kind=actor_kind,
        actor_id=actor_id,
        client_id=client_id,
        region_code=region_code,
        department_id=department_id,
        holder_index=holder_index,
        purpose=purpose,
        case_id=case_id,
        type_codes=_padded(type_codes if type_codes is not None else _types_in(plain)),
        licence_ids=list(licence_ids or []),
        detail=plain,
    )
    metrics.count_on_commit(session, event)
    log.debug(  # the event itself is the record; an INFO line per lookup would cost as much as hashing it
        "audit.recorded",
        extra={"audit_event": event.id, "leaf": event.leaf_index, "action": action, "outcome": outcome},
    )
    return event


def record_change(
    session: Session,
    by: AdminLike | None,
    action: str,
    *,
    outcome: str = "ok",
    client: ClientLike | None = None,
    department_id: str | None = None,
    type_code: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Record (and log) one change made by an admin — or by the operator at the command line, ``by``
    None — in the caller's transaction: grants, clients, departments' keys, service items, alerts."""
    event = record(
        session,
        action=action,
        outcome=outcome,
        actor_kind="admin" if by else "operator",
        actor_id=f"admin:{by.id}" if by else "operator",
        region_code=by.region_code if by else None,
        client=client,
        department_id=department_id,
        type_codes=[type_code] if type_code else [],
        detail=detail,
    )
    log.info(
        action,
        extra={
            "admin": by.id if by else None,
            "client": client.client_id if client else None,
            "detail": detail,
        },
    )
    return event


def find_events(session: Session, where: EventFilter, limit: int) -> list[AuditEvent]:
    """Events matching ``where``, newest first (the caller decides the regions an asker may see)."""
    return list(repository.list_events(session, where, limit))


def committed_size(session: Session) -> int:
    """Leaves of the log whose transactions have committed."""
    return repository.committed_size(session)


def events_from(session: Session, leaf_index: int, limit: int) -> list[AuditEvent]:
    """Up to ``limit`` events from leaf ``leaf_index`` on, in leaf order."""
    return list(repository.events_from(session, leaf_index, limit))
