"""Who is calling: FastAPI dependencies that resolve the bearer token to a client, a citizen acting
through a client, or an admin. Failures answer 401 with an RFC 6750 ``WWW-Authenticate`` challenge, or 403
``insufficient_scope`` naming the scope that is missing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from hub.access import service as access
from hub.access.models import Admin
from hub.audit import refusals
from hub.audit.refusals import Caller
from hub.context import Hub
from hub.errors import Forbidden, Unauthorized
from hub.oauth import tokens
from hub.oauth.callers import Citizen, ClientCaller
from hub.web import sessions as web_session
from hub.web.deps import HubDep, SessionDep
from hub.web.refusals import remember_caller

REALM = "licence-hub"


def _challenge(
    error: str | None = None, description: str | None = None, scope: str | None = None
) -> dict[str, str]:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("a bearer access token is required", headers=_challenge())
    return value.strip()


def verified_token(request: Request, session: SessionDep, hub: HubDep) -> tokens.TokenClaims:
    """The request's access token, verified (signature, lifetime, not revoked)."""
    try:
        return tokens.verify(session, hub, _bearer(request))
    except tokens.TokenRejected as exc:
        raise Unauthorized(
            f"access token refused: {exc}", headers=_challenge("invalid_token", str(exc))
        ) from None


TokenDep = Annotated[tokens.TokenClaims, Depends(verified_token)]


def client_caller(request: Request, token: TokenDep, session: SessionDep) -> ClientCaller:
    if token.kind not in ("client", "citizen") or not token.client_id:
        raise Forbidden("this route is for OAuth clients", headers=_challenge("insufficient_scope"))
    client = access.get_client(session, token.client_id)
    if client is None or client.status != "active":
        raise Unauthorized("the client is disabled", headers=_challenge("invalid_token", "client disabled"))
    remember_caller(request, refusals.client_caller(client))
    return ClientCaller(token, client)


ClientDep = Annotated[ClientCaller, Depends(client_caller)]


def require_scope(scope: str) -> Callable[[ClientCaller], ClientCaller]:
    """A dependency that lets through only tokens carrying ``scope``."""

    def dependency(caller: ClientDep) -> ClientCaller:
        if scope not in caller.token.scopes:
            raise Forbidden(
                f"the token lacks scope {scope}", headers=_challenge("insufficient_scope", scope=scope)
            )
        return caller

    return dependency


def current_admin(request: Request, token: TokenDep, session: SessionDep) -> Admin:
    if token.kind != "admin" or token.admin_id is None:
        raise Forbidden("this route is for administrators", headers=_challenge("insufficient_scope"))
    admin = access.get_admin(session, token.admin_id)
    if admin is None or admin.status != "active":
        raise Unauthorized("the admin account is disabled", headers=_challenge("invalid_token"))
    remember_caller(request, refusals.admin_caller(admin))
    return admin


def service_caller(caller: ClientDep, session: SessionDep) -> ClientCaller:
    """An approval service that holds at least one grant in force now (re-read on every request, so a
    revoked grant counts at once, whatever tokens are outstanding). The grants travel on the caller, so
    the route reads them once a request."""
    if caller.client.kind != "service":
        raise Forbidden("this route is for approval services", headers=_challenge("insufficient_scope"))
    grants = access.active_grants(session, caller.client.client_id)
    if not grants:
        raise Forbidden(
            "the client holds no grant in force", headers=_challenge("insufficient_scope", "grant withdrawn")
        )
    return replace(caller, grants=tuple(grants))


def current_service(request: Request, session: SessionDep, hub: HubDep) -> ClientCaller:
    """``service_caller`` with the token and client checks before it, as one dependency: one thread-pool
    hand-off instead of three, and the token and client rows in one query. The checks, their order and
    their answers are those of ``verified_token``, ``client_caller`` and ``service_caller``."""
    prefetched = tokens.prefetch(session, _bearer(request))
    token = verified_token(request, session, hub)
    caller = client_caller(request, token, session)
    del prefetched
    return service_caller(caller, session)


def signed_in_citizen(request: Request, session: Session, hub: Hub) -> Citizen | None:
    """The citizen this browser is signed in as (the one session reader, ``hub.sessions.web``), or None."""
    who = web_session.current(request, session, hub)
    if who is None or who.kind != "citizen" or not who.subject:
        return None
    return Citizen(who.subject, who.region)


async def current_citizen(request: Request, response: Response, session: SessionDep, hub: HubDep) -> Citizen:
    """The signed-in citizen of a ``/v1/me/…`` call. The cookie is the credential, so a state-changing
    call must also carry the session's CSRF token in ``X-CSRF-Token``, which every answer here hands out
    (a cross-site page cannot read it)."""
    citizen = await run_in_threadpool(signed_in_citizen, request, session, hub)
    if citizen is None:
        raise Unauthorized(
            "sign in first (/oauth/sign-in)", headers={"WWW-Authenticate": f'Cookie realm="{REALM}"'}
        )
    remember_caller(request, Caller("citizen", citizen.subject))
    if not await web_session.check_csrf(request):
        raise Forbidden("a cookie-authenticated change needs the session's CSRF token (X-CSRF-Token)")
    response.headers["X-CSRF-Token"] = web_session.csrf_token(request)
    return citizen


AdminDep = Annotated[Admin, Depends(current_admin)]
CitizenDep = Annotated[Citizen, Depends(current_citizen)]
ServiceDep = Annotated[ClientCaller, Depends(current_service)]
PusherDep = Annotated[ClientCaller, Depends(require_scope("licences.push"))]
MonitorDep = Annotated[ClientCaller, Depends(require_scope("metrics"))]


def caller_key(scope: Scope) -> str:
    """Who a request is from, for the rate limit: the client (or admin, or citizen) of a bearer token the
    hub signed, else the remote address. Only the signature is checked here (the token's owner cannot
    be forged); whether the token is still good is the route's business."""
    headers = dict(scope.get("headers") or ())
    authorization = headers.get(b"authorization", b"")
    if authorization[:7].lower() == b"bearer ":
        hub = scope["app"].state.hub
        subject = tokens.token_subject(hub, authorization[7:].strip().decode("latin-1"))
        if subject:
            return subject
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"
