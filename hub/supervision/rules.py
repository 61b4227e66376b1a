"""Supervision (电子监察, DESIGN 5.5): rules over the audit log and the registry that raise alerts.

``evaluate_rules`` first rolls new events up into ten-minute buckets per actor — reading the log in
leaf order from a stored cursor, which is exact because leaf indexes are dense and in commit order —
then applies each rule to the hour ending ``now``:

- ``volume``: a client's lookups above ``volume_factor`` × its hourly average over the trailing
  ``volume_baseline_hours`` (and at least ``volume_min_lookups``);
- ``refused``: more refused attempts than ``refused_per_hour``;
- ``purpose_not_covered``: lookups naming a purpose none of the client's grants covers;
- ``feed_stale``: a department whose feed has accepted nothing for ``feed_stale_hours``;
- ``grant_expiring``: an active grant ending within ``grant_expiry_days``.

An alert's key names the rule, the subject and the window (the clock hour, the stale episode, the
grant's end), so evaluating again raises nothing twice. Evaluators serialise on a lock.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hub.audit import metrics
from hub.audit import service as audit
from hub.audit.alerts import raise_alert
from hub.audit.models import Alert, AuditEvent
from hub.audit.settings import AuditSettings, get_audit_settings
from hub.supervision import repository as store
from storage.database import lock

BUCKET = timedelta(minutes=10)
WINDOW = timedelta(hours=1)
LOCK = "audit.supervision"
ROLLUP_BATCH = 5_000


def bucket_of(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 10, second=0, microsecond=0)


def _refused_for_purpose(event: AuditEvent) -> bool:
    return any(r.get("reason") == "purpose_not_covered" for r in event.detail.get("refused", []))


def roll_up(session: Session, now: datetime) -> int:
    """Add events not yet rolled up to their buckets; returns how many were read."""
    cursor = store.rollup_cursor(session)
    size = audit.committed_size(session)
    read = 0
    while cursor < size:
        events = audit.events_from(session, cursor, ROLLUP_BATCH)
        if not events:
            break
        counts: dict[tuple[str, datetime], dict[str, Any]] = defaultdict(
            lambda: {"region_code": None, "lookups": 0, "refused": 0, "purpose_not_covered": 0}
        )
        for event in events:
            entry = counts[(event.client_id or event.actor_id, bucket_of(event.occurred_at))]
            entry["region_code"] = event.region_code or entry["region_code"]
            entry["lookups"] += event.action in metrics.LOOKUP_ACTIONS
            entry["refused"] += event.outcome == "refused"
            entry["purpose_not_covered"] += _refused_for_purpose(event)
        store.add_to_buckets(session, counts)
        cursor = events[-1].leaf_index + 1
        read += len(events)
    store.advance_rollup(session, cursor, now)
    return read


def _client_rules(session: Session, now: datetime, s: AuditSettings) -> list[Alert | None]:
    end = bucket_of(now) + BUCKET
    start = end - WINDOW
    hour = f"{now.astimezone(UTC):%Y%m%dT%H}"
    windows = store.window_totals(session, start, end)
    busy = [w for w in windows if w.lookups >= s.volume_min_lookups]
    history = timedelta(hours=s.volume_baseline_hours)
    before = store.lookups_between(session, [w.actor_id for w in busy], start - history, start)
    raised: list[Alert | None] = []
    for w in busy:
        baseline = before.get(w.actor_id, 0) / s.volume_baseline_hours
        if w.lookups > s.volume_factor * baseline:
            raised.append(
                raise_alert(
                    session,
                    rule="volume",
                    key=f"volume:{w.actor_id}:{hour}",
                    severity="warning",
                    subject_kind="client",
                    subject_id=w.actor_id,
                    region_code=w.region_code,
                    summary=f"{w.lookups} lookups in the last hour; hourly baseline {baseline:.1f}",
                    detail={
                        "lookups": w.lookups,
                        "baseline_per_hour": round(baseline, 3),
                        "factor": s.volume_factor,
                        "window_start": start.isoformat(),
                    },
                )
            )
    for w in windows:
        if w.refused > s.refused_per_hour:
            raised.append(
                raise_alert(
                    session,
                    rule="refused",
                    key=f"refused:{w.actor_id}:{hour}",
                    severity="warning",
                    subject_kind="client",
                    subject_id=w.actor_id,
                    region_code=w.region_code,
                    summary=f"{w.refused} refused attempts in the last hour (threshold {s.refused_per_hour})",
                    detail={
                        "refused": w.refused,
                        "threshold": s.refused_per_hour,
                        "window_start": start.isoformat(),
                    },
                )
            )
        if w.purpose_not_covered >= s.purpose_not_covered_per_hour:
            raised.append(
                raise_alert(
                    session,
                    rule="purpose_not_covered",
                    key=f"purpose_not_covered:{w.actor_id}:{hour}",
                    severity="critical",
                    subject_kind="client",
                    subject_id=w.actor_id,
                    region_code=w.region_code,
                    summary=f"{w.purpose_not_covered} lookups for purposes no grant of the client covers",
                    detail={"lookups": w.purpose_not_covered, "window_start": start.isoformat()},
                )
            )
    return raised


def _registry_rules(session: Session, now: datetime, s: AuditSettings) -> list[Alert | None]:
    raised: list[Alert | None] = []
    stale = timedelta(hours=s.feed_stale_hours)
    for department, updated in store.feeds(session):
        last = updated or department.created_at
        if now - last > stale:
            raised.append(
                raise_alert(
                    session,
                    rule="feed_stale",
                    key=f"feed_stale:{department.id}:{last.isoformat()}",
                    severity="warning",
                    subject_kind="department",
                    subject_id=department.id,
                    region_code=department.region_code,
                    summary=f"no batch from {department.id} since {last.isoformat()}"
                    + ("" if updated else " (never pushed)"),
                    detail={
                        "last_batch_at": updated.isoformat() if updated else None,
                        "hours": round((now - last).total_seconds() / 3600, 2),
                    },
                )
            )
    for grant, client in store.grants_expiring(session, now, now + timedelta(days=s.grant_expiry_days)):
        raised.append(
            raise_alert(
                session,
                rule="grant_expiring",
                key=f"grant_expiring:{grant.id}:{grant.valid_until.isoformat()}",
                severity="info",
                subject_kind="grant",
                subject_id=str(grant.id),
                region_code=client.region_code if client else grant.region_code,
                summary=f"grant {grant.id} ({grant.client_id}, {grant.type_code}) ends "
                f"{grant.valid_until.isoformat()}",
                detail={
                    "client_id": grant.client_id,
                    "type_code": grant.type_code,
                    "valid_until": grant.valid_until.isoformat(),
                },
            )
        )
    return raised


def evaluate_rules(session: Session, now: datetime, settings: AuditSettings | None = None) -> list[Alert]:
    """Roll up new events and apply every rule at ``now``, in the caller's transaction; returns the
    alerts raised (those already raised for the same window are not raised again)."""
    s = settings or get_audit_settings()
    lock(session, LOCK)
    roll_up(session, now)
    raised = _client_rules(session, now, s) + _registry_rules(session, now, s)
    return [alert for alert in raised if alert is not None]
