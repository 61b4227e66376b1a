"""Listing and acknowledging supervision alerts, scoped like events: an admin or auditor sees the alerts
of their region's subtree (alerts without a region: admins of a top-level region only).

Auditors may acknowledge: acknowledging records that someone looked, it changes no access. Each
acknowledgement is itself an audit event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.access.models import Admin
from hub.audit import service as audit
from hub.audit.models import Alert
from hub.errors import Forbidden, NotFound
from hub.kit.time import utcnow
from hub.supervision import events
from hub.supervision import repository as store

MAX_PAGE = 200


def list_alerts(
    session: Session,
    *,
    by: Admin,
    rule: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[Alert]:
    """Alerts in the caller's region, newest first; ``before`` continues below an alert id."""
    regions = events.visible_regions(session, by)
    found = store.list_alerts(
        session,
        regions=regions,
        rule=rule,
        status=status,
        since=since,
        before=before,
        limit=min(limit, MAX_PAGE),
    )
    return list(found)


def acknowledge(session: Session, alert_id: int, *, by: Admin, note: str | None = None) -> Alert:
    """Mark an alert acknowledged (once; acknowledging again returns it unchanged)."""
    alert = store.get_alert(session, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    regions = events.visible_regions(session, by)
    if regions is not None and alert.region_code not in regions:
        raise Forbidden(f"alert {alert_id} is outside your region {by.region_code}")
    if alert.status == "acknowledged":
        return alert
    alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", utcnow(), by.id
    alert.acknowledgement = note
    audit.record_change(
        session, by, "alert.acknowledged", outcome="acknowledged", alert=alert.id, rule=alert.rule
    )
    session.flush()
    return alert
