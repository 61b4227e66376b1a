"""Runs supervision periodically: evaluate the rules and sign a tree head when one is due.

Each hub worker runs one in a daemon thread (``supervise_seconds``, started with the app); several
workers are safe, since evaluators serialise on a lock and alerts are keyed by their window. With
``supervise_seconds = 0`` run ``hub audit supervise`` as one separate process instead."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from hub.audit import heads
from hub.audit.settings import AuditSettings
from hub.context import Hub
from hub.kit.time import utcnow
from hub.supervision.rules import evaluate_rules
from storage.database import transaction

log = logging.getLogger("hub.supervision.supervisor")


def tick(hub: Hub, settings: AuditSettings, now: datetime | None = None) -> int:
    """One round: rules, then a head if due. Returns the number of alerts raised."""
    with transaction(hub.session_factory) as session:
        raised = evaluate_rules(session, now or utcnow(), settings)
    heads.sign_head_if_due(hub, max_age_s=settings.head_max_age_seconds)
    for alert in raised:
        log.warning("audit.alert.raised", extra={"alert": alert.id, "rule": alert.rule})
    return len(raised)


class Supervisor:
    def __init__(self, hub: Hub, settings: AuditSettings) -> None:
        self.hub, self.settings = hub, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-supervisor", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.supervise_seconds):
            try:
                tick(self.hub, self.settings)
            except Exception:  # the next round retries; a failing round must not end supervision
                log.exception("audit.supervisor.failed")

    def start(self) -> None:
        if self.settings.supervise_seconds > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
