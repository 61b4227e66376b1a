"""SQL of supervision: the rollup cursor and buckets, alerts, and the registry figures rules and
metrics read (feeds, grants)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from hub.access.models import Client, Grant
from hub.audit.models import Alert, AuditRollup, SupervisionState, TreeHead
from hub.kit.time import utcnow
from hub.registry.models import Department, Feed, FeedBatch
from storage.database import insert_ignoring_conflicts

_supervision = SupervisionState.__table__  # type: ignore[attr-defined]
STATE_ROW = 1


def rollup_cursor(session: Session) -> int:
    """The next leaf the rollup has not read (call under the supervision lock)."""
    found = session.execute(
        select(_supervision.c.rolled_up_to).where(_supervision.c.id == STATE_ROW)
    ).scalar()
    if found is None:
        insert_ignoring_conflicts(session, _supervision, [{"id": STATE_ROW, "rolled_up_to": 0}])
        return 0
    return int(found)


def advance_rollup(session: Session, to: int, evaluated_at: datetime) -> None:
    session.execute(
        _supervision.update()
        .where(_supervision.c.id == STATE_ROW)
        .values(rolled_up_to=to, evaluated_at=evaluated_at)
    )


def add_to_buckets(session: Session, counts: dict[tuple[str, datetime], dict[str, Any]]) -> None:
    for (actor, bucket), add in counts.items():
        row = session.get(AuditRollup, (actor, bucket))
        if row is None:
            row = AuditRollup(actor_id=actor, bucket_start=bucket)
            session.add(row)
        row.region_code = add["region_code"] or row.region_code
        row.lookups = (row.lookups or 0) + add["lookups"]
        row.refused = (row.refused or 0) + add["refused"]
        row.purpose_not_covered = (row.purpose_not_covered or 0) + add["purpose_not_covered"]
    session.flush()


@dataclass(frozen=True)
class ActorWindow:
    actor_id: str
    region_code: str | None
    lookups: int
    refused: int
    purpose_not_covered: int


def window_totals(session: Session, since: datetime, until: datetime) -> list[ActorWindow]:
    """Per actor, the sums of buckets starting in ``[since, until)``."""
    stmt = (
        select(
            col(AuditRollup.actor_id),
            func.max(col(AuditRollup.region_code)),
            func.sum(col(AuditRollup.lookups)),
            func.sum(col(AuditRollup.refused)),
            func.sum(col(AuditRollup.purpose_not_covered)),
        )
        .where(col(AuditRollup.bucket_start) >= since, col(AuditRollup.bucket_start) < until)
        .group_by(col(AuditRollup.actor_id))
    )
    return [
        ActorWindow(a, r, int(n or 0), int(x or 0), int(p or 0)) for a, r, n, x, p in session.execute(stmt)
    ]


def lookups_between(
    session: Session, actors: Iterable[str], since: datetime, until: datetime
) -> dict[str, int]:
    stmt = (
        select(col(AuditRollup.actor_id), func.sum(col(AuditRollup.lookups)))
        .where(
            col(AuditRollup.actor_id).in_(list(actors)),
            col(AuditRollup.bucket_start) >= since,
            col(AuditRollup.bucket_start) < until,
        )
        .group_by(col(AuditRollup.actor_id))
    )
    return {actor: int(total or 0) for actor, total in session.execute(stmt)}


def feeds(session: Session) -> list[tuple[Department, datetime | None]]:
    """Every department with the time its feed last accepted a batch (None: never)."""
    stmt = select(Department, col(Feed.updated_at)).outerjoin(Feed, col(Feed.department_id) == Department.id)
    return [(department, updated) for department, updated in session.execute(stmt)]


def grants_expiring(
    session: Session, now: datetime, until: datetime
) -> Sequence[tuple[Grant, Client | None]]:
    stmt = (
        select(Grant, Client)
        .outerjoin(Client, col(Client.client_id) == Grant.client_id)
        .where(col(Grant.status) == "active", col(Grant.valid_until) > now, col(Grant.valid_until) <= until)
        .order_by(col(Grant.valid_until))
    )
    return [(grant, client) for grant, client in session.execute(stmt)]


# Alerts ---------------------------------------------------------------------------------------------


def get_alert(session: Session, alert_id: int) -> Alert | None:
    return session.get(Alert, alert_id)


def list_alerts(
    session: Session,
    *,
    regions: Sequence[str] | None,
    rule: str | None,
    status: str | None,
    since: datetime | None,
    before: int | None,
    limit: int,
) -> Sequence[Alert]:
    stmt = select(Alert)
    if regions is not None:
        stmt = stmt.where(col(Alert.region_code).in_(regions))
    if rule:
        stmt = stmt.where(col(Alert.rule) == rule)
    if status:
        stmt = stmt.where(col(Alert.status) == status)
    if since:
        stmt = stmt.where(col(Alert.raised_at) >= since)
    if before is not None:
        stmt = stmt.where(col(Alert.id) < before)
    return session.scalars(stmt.order_by(col(Alert.id).desc()).limit(limit)).all()


# Metrics --------------------------------------------------------------------------------------------


def metrics_snapshot(session: Session) -> dict[str, Any]:
    now = utcnow()
    head = session.scalars(select(TreeHead).order_by(col(TreeHead.id).desc()).limit(1)).first()
    ingest_stmt = select(
        col(FeedBatch.department_id),
        func.count(),
        func.sum(col(FeedBatch.accepted)),
        func.sum(col(FeedBatch.rejected)),
    ).group_by(col(FeedBatch.department_id))
    alerts_stmt = select(col(Alert.rule), col(Alert.status), func.count()).group_by(
        col(Alert.rule), col(Alert.status)
    )
    return {
        "head_size": head.tree_size if head else 0,
        "feed_lag": {
            department.id: (now - (updated or department.created_at)).total_seconds()
            for department, updated in feeds(session)
        },
        "ingest": {
            department: (int(count), int(accepted or 0), int(rejected or 0))
            for department, count, accepted, rejected in session.execute(ingest_stmt)
        },
        "alerts": {(rule, status): int(count) for rule, status, count in session.execute(alerts_stmt)},
    }
