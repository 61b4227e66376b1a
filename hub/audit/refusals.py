"""Refused attempts (401 and 403) as audit events.

A refusal rolls back the request's own transaction, so its event is written in a transaction of its
own, after the answer is decided. Who was refused is known as far as the request got: the verified
caller when a dependency resolved one (:func:`remember_caller`), the admin whose password was wrong, the
client named at the token endpoint when it exists; otherwise ``anonymous``. A request presenting no
credential at all — no bearer token, no client authentication, no session — is only counted in the
``hub_refusals_total`` metric: recording every scanner's knock would fill a log that is kept forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.access.models import Admin, Client
from hub.audit import service as audit
from hub.errors import Forbidden, HubError, Unauthorized, problem_response
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
_STATE_KEY = "audit_caller"


@dataclass(frozen=True)
class Caller:
    """Who made a request, as far as it is known: ``kind`` client, admin, citizen or anonymous."""

    kind: str
    id: str
    client_id: str | None = None
    region_code: str | None = None


def client_caller(client: Client) -> Caller:
    return Caller("client", client.client_id, client.client_id, client.region_code)


def admin_caller(admin: Admin) -> Caller:
    return Caller("admin", f"admin:{admin.id}", region_code=admin.region_code)


ANONYMOUS = Caller("anonymous", "anonymous")


class CallerRefused(Unauthorized):
    """A 401 that names who was refused (an admin whose password was wrong, say)."""

    def __init__(self, detail: str, *, caller: Caller, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.caller = caller


def remember_caller(request: Request, caller: Caller) -> None:
    """Note the verified caller, so a refusal further on names them."""
    setattr(request.state, _STATE_KEY, caller)


def _presented_credential(request: Request) -> str | None:
    if request.headers.get("authorization"):
        return request.headers["authorization"].partition(" ")[0].lower() or "header"
    if "session" in request.cookies:
        return "session"
    return None


def record_in(
    session: Session, *, caller: Caller, status: int, reason: str, method: str, path: str, credential: str,
    **detail: Any,
) -> int:  # fmt: skip
    """Append one refusal event in ``session``'s transaction; returns its leaf index."""
    event = audit.record(
        session, action=ACTION, outcome="refused", actor_kind=caller.kind, actor_id=caller.id,
        client_id=caller.client_id, region_code=caller.region_code,
        detail={"status": status, "reason": reason[:200], "method": method, "path": path[:200],
                "credential": credential, **detail},
    )  # fmt: skip
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


def record_request(
    hub: Hub, request: Request, *, status: int, reason: str, caller: Caller | None = None
) -> int | None:
    """Record a refused request unless it presented no credential at all (see the module's note)."""
    credential = _presented_credential(request)
    caller = caller or getattr(request.state, _STATE_KEY, None)
    if credential is None and caller is None:
        REFUSED.labels(str(status), "no").inc()
        return None
    return record(
        hub, caller=caller or ANONYMOUS, status=status, reason=reason, method=request.method,
        path=request.url.path, credential=credential or "form",
    )  # fmt: skip


def record_error_in(session: Session, request: Request, exc: HubError, *, credential: str) -> int:
    """Record a refusal a route answers itself (a sign-in form shown again, say) in its own transaction."""
    return record_in(
        session, caller=exc.caller if isinstance(exc, CallerRefused) else ANONYMOUS, status=exc.status,
        reason=exc.detail or exc.title, method=request.method, path=request.url.path, credential=credential,
    )  # fmt: skip


def install(app: FastAPI) -> None:
    """Answer 401 and 403 as every other problem, after recording them."""

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubError)
        hub = request.app.state.hub
        caller = exc.caller if isinstance(exc, CallerRefused) else None
        await run_in_threadpool(
            record_request, hub, request, status=exc.status, reason=exc.detail or exc.title, caller=caller
        )
        return problem_response(exc.to_problem(request.url.path), headers=exc.headers or None)

    for kind in (Unauthorized, Forbidden):
        app.add_exception_handler(kind, refused)
