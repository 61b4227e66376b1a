"""Prometheus counters of what the audit log records: lookups and their refusals by client and type,
and alerts raised. They count at commit (a rolled-back lookup is not counted). The figures read from the
database at scrape time are supervision's (``hub.supervision.metrics``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import Counter
from sqlalchemy.orm import Session

from hub.kit import transaction

if TYPE_CHECKING:
    from hub.audit.models import AuditEvent

LOOKUP_TYPES = Counter(
    "hub_lookups_total",
    "Licence types asked for in lookups and prefill, by client, type and action",
    ["client", "licence_type", "action"],
)
REFUSALS = Counter(
    "hub_lookup_refusals_total",
    "Licence types refused in lookups and prefill, by client, type and reason",
    ["client", "licence_type", "reason"],
)
ALERTS_RAISED = Counter("hub_alerts_raised_total", "Supervision alerts raised", ["rule"])

LOOKUP_ACTIONS = ("lookup", "prefill")


def count_on_commit(session: Session, event: AuditEvent) -> None:
    """Count a lookup or prefill event once its transaction commits."""
    if event.action not in LOOKUP_ACTIONS:
        return
    client = event.client_id or event.actor_id
    detail = event.detail

    def count() -> None:
        for entry in detail.get("released", []):
            LOOKUP_TYPES.labels(client, entry.get("type", ""), event.action).inc()
        for entry in detail.get("refused", []):
            LOOKUP_TYPES.labels(client, entry.get("type", ""), event.action).inc()
            REFUSALS.labels(client, entry.get("type", ""), entry.get("reason", "")).inc()

    transaction.on_commit(session, count)


def on_commit(session: Session, action: Callable[[], None]) -> None:
    transaction.on_commit(session, action)
