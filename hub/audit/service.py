"""Recording audit events, in the caller's transaction (never committed here)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from hub.audit.models import AuditEvent

log = logging.getLogger("hub.audit")


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
) -> AuditEvent:
    """Append one event to the session's transaction; it commits or rolls back with the action."""
    event = AuditEvent(
        action=action,
        outcome=outcome,
        actor_kind=actor_kind,
        actor_id=actor_id,
        client_id=client_id,
        holder_index=holder_index,
        purpose=purpose,
        case_id=case_id,
        licence_ids=licence_ids or [],
        detail=detail or {},
    )
    session.add(event)
    session.flush()
    log.info("audit.recorded", extra={"event": event.id, "action": action, "outcome": outcome})
    return event
