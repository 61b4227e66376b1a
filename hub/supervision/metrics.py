"""Figures that are the same for every worker — tree size, feed lag, ingest totals, open alerts — read
from the database at scrape time (cached a few seconds), so several workers report one truth."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.audit import service as audit
from hub.context import Hub
from hub.supervision import repository as figures

log = logging.getLogger("hub.supervision.metrics")


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
    up = GaugeMetricFamily("hub_audit_metrics_database_up", "Whether the scrape could read the database")
    try:
        with hub.read_session_factory() as session:
            snapshot = {**figures.metrics_snapshot(session), "tree_size": audit.committed_size(session)}
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
        "hub_feed_lag_seconds",
        "Seconds since each department's feed last accepted a batch",
        labels=["department"],
    )
    for department, seconds in snapshot["feed_lag"].items():
        lag.add_metric([department], seconds)
    yield lag
    ingest = CounterMetricFamily(
        "hub_ingest_operations",
        "Ingested operations by department and outcome",
        labels=["department", "outcome"],
    )
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
