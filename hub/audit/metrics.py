"""Prometheus metrics of the audit trail and of what supervision watches.

Lookup counters count at commit (a rolled-back lookup is not counted). Figures that are the same for
every worker — tree size, feed lag, ingest totals, open alerts — are read from the database at scrape
time (cached a few seconds), so several workers report one truth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from hub.audit.models import AuditEvent
    from hub.context import Hub

log = logging.getLogger("hub.audit.metrics")

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

_PENDING = "hub.audit.metrics"
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

    session.info.setdefault(_PENDING, []).append(count)


def on_commit(session: Session, action: Callable[[], None]) -> None:
    session.info.setdefault(_PENDING, []).append(action)


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for action in session.info.pop(_PENDING, []):
        action()


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


class DatabaseCollector(Collector):
    """Scrape-time figures from the database of the hub attached last (one per process)."""

    ttl_seconds = 5.0

    def __init__(self) -> None:
        self._hub: Hub | None = None
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def attach(self, hub: Hub) -> None:
        with self._lock:
            self._hub, self._cached = hub, None

    def detach(self, hub: Hub) -> None:
        with self._lock:
            if self._hub is hub:
                self._hub, self._cached = None, None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            hub = self._hub
            if hub is None:
                return
            if self._cached is None or time.monotonic() - self._cached[0] > self.ttl_seconds:
                self._cached = (time.monotonic(), _read(hub))
            metrics = self._cached[1]
        yield from metrics


def _read(hub: Hub) -> list[Metric]:
    from hub.audit import supervision_repository as figures

    up = GaugeMetricFamily("hub_audit_metrics_database_up", "Whether the scrape could read the database")
    try:
        with hub.read_session_factory() as session:
            snapshot = figures.metrics_snapshot(session)
    except Exception as exc:  # a scrape must answer even when the database does not
        log.warning("audit.metrics.unavailable", extra={"error": type(exc).__name__})
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [up, *_families(snapshot)]


def _families(snapshot: dict[str, Any]) -> Iterator[Metric]:
    size = GaugeMetricFamily("hub_audit_tree_size", "Leaves in the audit log (committed)")
    size.add_metric([], snapshot["tree_size"])
    yield size
    head = GaugeMetricFamily("hub_audit_tree_head_size", "Leaves covered by the newest signed tree head")
    head.add_metric([], snapshot["head_size"])
    yield head
    lag = GaugeMetricFamily(
        "hub_feed_lag_seconds", "Seconds since each department's feed last accepted a batch",
        labels=["department"],
    )  # fmt: skip
    for department, seconds in snapshot["feed_lag"].items():
        lag.add_metric([department], seconds)
    yield lag
    ingest = CounterMetricFamily(
        "hub_ingest_operations", "Ingested operations by department and outcome",
        labels=["department", "outcome"],
    )  # fmt: skip
    batches = CounterMetricFamily(
        "hub_ingest_batches", "Accepted batches by department", labels=["department"]
    )
    for department, (count, accepted, rejected) in snapshot["ingest"].items():
        batches.add_metric([department], count)
        ingest.add_metric([department, "accepted"], accepted)
        ingest.add_metric([department, "rejected"], rejected)
    yield ingest
    yield batches
    alerts = GaugeMetricFamily(
        "hub_alerts", "Supervision alerts by rule and status", labels=["rule", "status"]
    )
    for (rule, status), count in snapshot["alerts"].items():
        alerts.add_metric([rule, status], count)
    yield alerts


DATABASE = DatabaseCollector()
REGISTRY.register(DATABASE)
