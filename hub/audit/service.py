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
from typing import Any

from sqlalchemy.orm import Session

from hub.access import repository as access_repository
from hub.access.models import Admin, Client
from hub.audit import log as merkle_log
from hub.audit import metrics, repository
from hub.audit.models import AuditEvent
from hub.audit.repository import EventFilter
from hub.errors import InvalidInput, field_error
from hub.kit.time import utcnow
from hub.registry.models import Department, Region

log = logging.getLogger("hub.audit")

MAX_PAGE = 200


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
    back with the action it records. ``region_code`` and ``department_id`` default to the client's;
    ``type_codes`` to the types named in ``detail["released"]`` and ``detail["refused"]``.
    ``occurred_at`` defaults to now (imports of older records pass their own)."""
    plain = json.loads(json.dumps(detail or {}))  # exactly what the JSON column will give back
    client = session.get(Client, client_id) if client_id else None
    if client is not None:
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
    session: Session, by: Admin | None, action: str, *, outcome: str = "ok", client_id: str | None = None,
    department_id: str | None = None, type_code: str | None = None, **detail: Any,
) -> AuditEvent:  # fmt: skip
    """Record (and log) one change made by an admin — or by the operator at the command line, ``by``
    None — in the caller's transaction: grants, clients, departments' keys, service items, alerts."""
    event = record(
        session, action=action, outcome=outcome, actor_kind="admin" if by else "operator",
        actor_id=f"admin:{by.id}" if by else "operator", region_code=by.region_code if by else None,
        client_id=client_id, department_id=department_id, type_codes=[type_code] if type_code else [],
        detail=detail,
    )  # fmt: skip
    log.info(action, extra={"admin": by.id if by else None, "client": client_id, "detail": detail})
    return event


def visible_regions(session: Session, admin: Admin) -> list[str] | None:
    """The region codes whose events and alerts ``admin`` sees; None: all (a top-level admin)."""
    region = session.get(Region, admin.region_code)
    if region is not None and region.parent_code is None:
        return None
    return access_repository.region_subtree(session, admin.region_code)


def list_events(
    session: Session,
    *,
    by: Admin,
    client_id: str | None = None,
    department_id: str | None = None,
    type_code: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Events in the caller's region subtree matching the filters, newest first; ``before`` is the
    leaf index to continue below (the previous page's last)."""
    if since and until and since >= until:
        raise InvalidInput("since must be before until", errors=[field_error("since", "after until")])
    regions = visible_regions(session, by)
    uscc = None
    if department_id:
        department = session.get(Department, department_id)
        uscc = department.uscc if department else None
    where = EventFilter(
        regions=regions, client_id=client_id, department_id=department_id, department_uscc=uscc,
        type_code=type_code, action=action, outcome=outcome, since=since, until=until, before=before,
    )  # fmt: skip
    return list(repository.list_events(session, where, min(limit, MAX_PAGE)))
