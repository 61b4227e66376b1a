"""Refused attempts (401 and 403) as audit events.

A refusal rolls back the request's own transaction, so its event is written in a transaction of its
own, after the answer is decided. Only a refusal that names an identity becomes an event: the verified
caller when a dependency resolved one (``hub.web.refusals.remember_caller``), the existing admin whose
password was wrong, the existing client named at the token endpoint. Anything else — no credential, a
junk bearer token, an unknown username or client id — is only counted in the ``hub_refusals_total`` metric:
recording every scanner's knock would fill a log that is kept forever. One identity's refusals become
at most ``HUB_AUDIT_REFUSALS_PER_MINUTE`` events a minute in each process (the rest are counted), so a
client hammering with a wrong secret cannot flood the log either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from sqlalchemy.orm import Session

from hub.audit import service as audit
from hub.audit.settings import get_audit_settings
from hub.errors import Unauthorized
from storage.database import transaction

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger("hub.audit.refusals")

ACTION = "access.refused"
REFUSED = Counter(
    "hub_refusals_total",
    "Requests refused with 401 or 403, by status and whether audited",
    ["status", "audited"],
)


@dataclass(frozen=True)
class Caller:
    """Who made a request, as far as it is known: ``kind`` client, admin, citizen or anonymous."""

    kind: str
    id: str
    client_id: str | None = None
    region_code: str | None = None
    department_id: str | None = None


def client_caller(client: audit.ClientLike) -> Caller:
    return Caller("client", client.client_id, client.client_id, client.region_code, client.department_id)


def admin_caller(admin: audit.AdminLike) -> Caller:
    return Caller("admin", f"admin:{admin.id}", region_code=admin.region_code)


ANONYMOUS = Caller("anonymous", "anonymous")


class CallerRefused(Unauthorized):
    """A 401 that names who was refused (an admin whose password was wrong, say); ``caller`` None when
    the name given is nobody's (counted, not audited)."""

    def __init__(self, detail: str, *, caller: Caller | None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.caller = caller


class _PerIdentityCap:
    """At most ``limit`` events per identity in any 60 seconds, in this process."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, identity: str, limit: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._seen) > 100_000:  # a flood of identities: forget the quiet ones
                self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < 60}
            recent = self._seen.setdefault(identity, deque())
            while recent and now - recent[0] >= 60:
                recent.popleft()
            if len(recent) >= limit:
                return False
            recent.append(now)
            return True


_CAP = _PerIdentityCap()


def count_only(status: int) -> None:
    """A refusal that names no identity: counted, not audited."""
    REFUSED.labels(str(status), "no").inc()


def record_in(
    session: Session,
    *,
    caller: Caller,
    status: int,
    reason: str,
    method: str,
    path: str,
    credential: str,
    **detail: Any,
) -> int | None:
    """Append one refusal event in ``session``'s transaction; returns its leaf index, or None when the
    identity is over its cap (then the refusal is only counted)."""
    if not _CAP.take(caller.id, get_audit_settings().refusals_per_minute):
        REFUSED.labels(str(status), "capped").inc()
        return None
    event = audit.record(
        session,
        action=ACTION,
        outcome="refused",
        actor_kind=caller.kind,
        actor_id=caller.id,
        client_id=caller.client_id,
        region_code=caller.region_code,
        department_id=caller.department_id,
        detail={
            "status": status,
            "reason": reason[:200],
            "method": method,
            "path": path[:200],
            "credential": credential,
            **detail,
        },
    )
    REFUSED.labels(str(status), "yes").inc()
    return event.leaf_index


def record(hub: Hub, **refusal: Any) -> int | None:
    """:func:`record_in` a transaction of its own; None if it failed — a refusal is answered even when
    the log can't be written, and the failure is logged."""
    try:
        with transaction(hub.session_factory) as session:
            return record_in(session, **refusal)
    except Exception:
        log.exception("audit.refusal_not_recorded", extra={"path": refusal.get("path")})
        return None
