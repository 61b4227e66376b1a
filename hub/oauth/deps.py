"""Who is calling: FastAPI dependencies that resolve the bearer token to a client, a citizen acting
through a client, or an admin. Failures answer 401 with an RFC 6750 ``WWW-Authenticate`` challenge, or 403
``insufficient_scope`` naming the scope that is missing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from hub.access import repository as access_repository
from hub.access.models import Admin, Client
from hub.audit.refusals import Caller, remember_caller
from hub.deps import HubDep, SessionDep
from hub.errors import Forbidden, Unauthorized
from hub.kit.time import utcnow
from hub.oauth import tokens

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


@dataclass(frozen=True)
class ClientCaller:
    """A client (an adapter or an approval service), and the citizen when the token is consent-bound."""

    token: tokens.TokenClaims
    client: Client

    @property
    def citizen(self) -> str | None:
        return self.token.subject if self.token.kind == "citizen" else None


def client_caller(request: Request, token: TokenDep, session: SessionDep) -> ClientCaller:
    if token.kind not in ("client", "citizen") or not token.client_id:
        raise Forbidden("this route is for OAuth clients", headers=_challenge("insufficient_scope"))
    client = access_repository.get_client(session, token.client_id)
    if client is None or client.status != "active":
        raise Unauthorized("the client is disabled", headers=_challenge("invalid_token", "client disabled"))
    remember_caller(request, Caller("client", client.client_id, client.client_id, client.region_code))
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
    admin = access_repository.get_admin(session, token.admin_id)
    if admin is None or admin.status != "active":
        raise Unauthorized("the admin account is disabled", headers=_challenge("invalid_token"))
    remember_caller(request, Caller("admin", f"admin:{admin.id}", region_code=admin.region_code))
    return admin


def service_caller(caller: ClientDep, session: SessionDep) -> ClientCaller:
    """An approval service that holds at least one grant in force now (re-read on every request, so a
    revoked grant counts at once, whatever tokens are outstanding)."""
    if caller.client.kind != "service":
        raise Forbidden("this route is for approval services", headers=_challenge("insufficient_scope"))
    if not access_repository.active_grants(session, caller.client.client_id, utcnow()):
        raise Forbidden(
            "the client holds no grant in force", headers=_challenge("insufficient_scope", "grant withdrawn")
        )
    return caller


@dataclass(frozen=True)
class Citizen:
    """A citizen signed in through the browser session (upstream OIDC, or the demo sign-in)."""

    subject: str  # "citizen:<blind index>"
    region: str | None

    @property
    def holder_index(self) -> str:
        return self.subject.removeprefix("citizen:")


def current_citizen(request: Request) -> Citizen:
    from hub.oauth.signin import CITIZEN_REGION_KEY, CITIZEN_SESSION_KEY

    subject = request.session.get(CITIZEN_SESSION_KEY)
    if not subject:
        raise Unauthorized(
            "sign in first (/oauth/sign-in)", headers={"WWW-Authenticate": f'Cookie realm="{REALM}"'}
        )
    remember_caller(request, Caller("citizen", subject))
    return Citizen(subject, request.session.get(CITIZEN_REGION_KEY))


AdminDep = Annotated[Admin, Depends(current_admin)]
CitizenDep = Annotated[Citizen, Depends(current_citizen)]
ServiceDep = Annotated[ClientCaller, Depends(service_caller)]
PusherDep = Annotated[ClientCaller, Depends(require_scope("licences.push"))]
