"""Refusals (401 and 403) over HTTP: the caller a dependency verified is noted on the request, so that
the refusal's audit event (``hub.audit.refusals``) names them; the exception handler records, then
answers like every other problem."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.audit import refusals
from hub.context import Hub
from hub.errors import Forbidden, HubError, Unauthorized
from hub.kit.http import problem_response

_STATE_KEY = "audit_caller"


def remember_caller(request: Request, caller: refusals.Caller) -> None:
    """Note the verified caller, so a refusal further on names them."""
    setattr(request.state, _STATE_KEY, caller)


def _presented_credential(request: Request) -> str | None:
    if request.headers.get("authorization"):
        return request.headers["authorization"].partition(" ")[0].lower() or "header"
    if "session" in request.cookies:
        return "session"
    return None


def record_request(
    hub: Hub, request: Request, *, status: int, reason: str, caller: refusals.Caller | None = None
) -> int | None:
    """Record a refused request if it names an identity (see the module's note); else count it."""
    caller = caller or getattr(request.state, _STATE_KEY, None)
    if caller is None:
        refusals.count_only(status)
        return None
    return refusals.record(
        hub,
        caller=caller,
        status=status,
        reason=reason,
        method=request.method,
        path=request.url.path,
        credential=_presented_credential(request) or "form",
    )


def record_error_in(session: Session, request: Request, exc: HubError, *, credential: str) -> int | None:
    """Record a refusal a route answers itself (a sign-in form shown again, say) in the given session,
    if it names an identity."""
    caller = exc.caller if isinstance(exc, refusals.CallerRefused) else None
    if caller is None:
        refusals.count_only(exc.status)
        return None
    return refusals.record_in(
        session,
        caller=caller,
        status=exc.status,
        reason=exc.detail or exc.title,
        method=request.method,
        path=request.url.path,
        credential=credential,
    )


def install(app: FastAPI) -> None:
    """Answer 401 and 403 as every other problem, after recording them."""

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubError)
        hub = request.app.state.hub
        caller = exc.caller if isinstance(exc, refusals.CallerRefused) else None
        await run_in_threadpool(
            record_request, hub, request, status=exc.status, reason=exc.detail or exc.title, caller=caller
        )
        return problem_response(exc.to_problem(request.url.path), headers=exc.headers or None)

    for kind in (Unauthorized, Forbidden):
        app.add_exception_handler(kind, refused)
