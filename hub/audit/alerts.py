"""Raising an alert: one row keyed by rule, subject and window (raising the same key again does nothing),
and an audit event saying so, in the caller's transaction. The rules that decide to raise them are
supervision's (``hub.supervision.rules``); ingest raises one itself when it refuses a conflicting issuer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.audit import metrics, repository
from hub.audit import service as audit
from hub.audit.models import Alert


def raise_alert(session: Session, **fields: Any) -> Alert | None:
    """Add the alert unless one with its ``key`` exists; the new alert, or None."""
    if repository.alert_by_key(session, fields["key"]) is not None:
        return None
    alert = repository.add_alert(session, Alert(**fields))
    audit.record(
        session,
        action="alert.raised",
        outcome="raised",
        actor_kind="hub",
        actor_id="supervision",
        region_code=alert.region_code,
        detail={"alert": alert.id, "rule": alert.rule, "subject": f"{alert.subject_kind}:{alert.subject_id}"},
    )
    metrics.on_commit(session, metrics.ALERTS_RAISED.labels(alert.rule).inc)
    return alert
