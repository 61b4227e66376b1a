"""OAuth HTTP routes: metadata, token, introspection, revocation, authorization and sign-in.

OAuth endpoints answer in RFC 6749 shape (``error``, ``error_description``), not problem+json."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from hub.oauth import service
from hub.oauth.server import HubOAuth2Request
from hub.web.callers import signed_in_citizen
from hub.web.deps import HubDep, SessionDep, WriteSessionDep, client_address
from hub.web.sessions import check_csrf, csrf_token, finish, safe_next
from hub.web.signin import (
    PROVIDER_UNAVAILABLE,
    SIGN_IN_REFUSED,
    start_citizen_session,
    upstream_client,
)

router = APIRouter(tags=["oauth"])
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


async def _oauth_request(request: Request, hub: HubDep) -> HubOAuth2Request:
    form = await request.form() if request.method == "POST" else None
    # The URI Authlib sees is the public one (TLS usually ends at the load balancer).
    uri = hub.settings.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HubOAuth2Request(
        request.method,
        uri,
        dict(request.headers),
        list(request.query_params.multi_items()),
        [(k, v) for k, v in form.multi_items() if isinstance(v, str)] if form is not None else [],
    )


def _json(result: service.OAuthResponse) -> Response:
    if result.status in (301, 302, 303, 307):
        return RedirectResponse(result.headers["Location"], status_code=302, headers=service.NO_STORE)
    return JSONResponse(result.body, status_code=result.status, headers=result.headers)


@router.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata(hub: HubDep, session: SessionDep) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414)."""
    return service.metadata(hub, session)


@router.post("/oauth/token")
async def token(request: Request, hub: HubDep, session: SessionDep) -> Response:
    """Token endpoint (RFC 6749 §3.2): client_credentials, or authorization_code with PKCE.
    Client authentication: private_key_jwt (RFC 7523), client_secret_basic, client_secret_post."""
    oauth_request = await _oauth_request(request, hub)
    address = client_address(request)
    return _json(await run_in_threadpool(service.token_endpoint, session, hub, oauth_request, address))


@router.post("/oauth/introspect")
async def introspect(request: Request, hub: HubDep, session: SessionDep) -> Response:
    """Token introspection (RFC 7662), for the client the token was issued to."""
    oauth_request = await _oauth_request(request, hub)
    return _json(await run_in_threadpool(service.introspection_endpoint, session, hub, oauth_request))


@router.post("/oauth/revoke")
async def revoke(request: Request, hub: HubDep, session: SessionDep) -> Response:
    """Token revocation (RFC 7009)."""
    oauth_request = await _oauth_request(request, hub)
    return _json(await run_in_threadpool(service.revocation_endpoint, session, hub, oauth_request))


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><meta charset=utf-8><title>Error</title><h1>{status}</h1><p>{_escape(message)}</p>",
        status_code=status,
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@router.get("/oauth/authorize", response_class=HTMLResponse)
@router.post("/oauth/authorize", response_class=HTMLResponse)  # one route a method: one operation id each
async def authorize(request: Request, hub: HubDep, session: SessionDep) -> Response:
    """Authorization endpoint (RFC 6749 §4.1) with PKCE S256, ``purpose`` and ``case_id``.

    The citizen signs in, sees which licences and tiers go to which client for which service item and
    case, and allows or refuses; the browser then returns to the client with a code or an error."""
    oauth_request = await _oauth_request(request, hub)
    try:
        checked = await run_in_threadpool(service.validate_authorization, session, hub, oauth_request)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            return _json(await run_in_threadpool(service.error_redirect, hub, session, error))
        return _error_page(request, 400, f"{error.error}: {error.description or ''}")
    citizen = await run_in_threadpool(signed_in_citizen, request, session, hub)
    if citizen is None:
        return RedirectResponse(
            "/oauth/sign-in?" + urlencode({"next": str(request.url.path) + "?" + request.url.query}), 303
        )
    if request.method == "GET":
        return templates.TemplateResponse(
            request,
            "authorize.html",
            {
                "client": checked.client.row,
                "items": checked.items,
                "service_item": checked.service_item,
                "purpose": checked.purpose,
                "case_id": checked.case_id,
                "query": request.url.query,
                "csrf": csrf_token(request),
            },
        )
    if not await check_csrf(request):
        return _error_page(request, 403, "the form expired or was not sent by this site; start again")
    approved = oauth_request.form.get("decision") == "approve"
    result = await run_in_threadpool(
        service.complete_authorization,
        session,
        hub,
        oauth_request,
        citizen.subject if approved else None,
        citizen.region,
    )
    return _json(result)


@router.get("/oauth/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, hub: HubDep, next: str = "/") -> Response:
    """Citizen sign-in: the upstream identity provider, or (demo mode only) an ID-number form."""
    upstream = upstream_client(hub) is not None
    if not hub.settings.demo and upstream:
        return RedirectResponse("/oauth/sign-in/oidc?" + urlencode({"next": safe_next(next)}), 303)
    if not hub.settings.demo:
        return _error_page(request, 503, "no identity provider is configured (HUB_OIDC_ISSUER)")
    return templates.TemplateResponse(
        request,
        "sign_in.html",
        {"demo": True, "upstream": upstream, "next": safe_next(next), "csrf": csrf_token(request)},
    )


@router.post("/oauth/sign-in", response_class=HTMLResponse)
async def dev_sign_in(request: Request, hub: HubDep, session: SessionDep) -> Response:
    """Demo-only sign-in by ID number. Outside demo mode this route refuses."""
    if not hub.settings.demo:
        return _error_page(request, 404, "the demo sign-in exists only in demo mode")
    form = await request.form()
    next_url = safe_next(str(form.get("next") or "/"))
    if not await check_csrf(request):
        return _error_page(request, 403, "the form expired; start again")
    try:
        await run_in_threadpool(
            start_citizen_session, request, session, hub, str(form.get("id_number") or "")
        )
    except ValueError as exc:
        return templates.TemplateResponse(
            request,
            "sign_in.html",
            {
                "demo": True,
                "upstream": False,
                "next": next_url,
                "csrf": csrf_token(request),
                "error": str(exc),
            },
            status_code=422,
        )
    return RedirectResponse(next_url, status_code=303)


@router.get("/oauth/sign-in/oidc")
async def upstream_sign_in(request: Request, hub: HubDep, next: str = "/") -> Response:
    """Start sign-in at the upstream OpenID Connect provider."""
    client = upstream_client(hub)
    if client is None:
        return _error_page(request, 503, "no identity provider is configured (HUB_OIDC_ISSUER)")
    request.session["next"] = safe_next(next)
    try:
        return await client.authorize_redirect(
            request, hub.settings.public_url + "/oauth/sign-in/oidc/callback"
        )
    except PROVIDER_UNAVAILABLE:
        return _error_page(request, 503, "the identity provider cannot be reached; try again later")


@router.get("/oauth/sign-in/oidc/callback")
async def upstream_callback(request: Request, hub: HubDep, session: WriteSessionDep) -> Response:
    """Finish upstream sign-in: the ID token's ID-number claim becomes the citizen's session."""
    client = upstream_client(hub)
    if client is None:
        return _error_page(request, 503, "no identity provider is configured")
    try:
        token = await client.authorize_access_token(request)
    except PROVIDER_UNAVAILABLE:
        return _error_page(request, 503, "the identity provider cannot be reached; try again later")
    except SIGN_IN_REFUSED as exc:
        return _error_page(request, 401, f"sign-in failed at the identity provider: {type(exc).__name__}")
    userinfo = token.get("userinfo") or {}
    next_url = safe_next(request.session.get("next"))
    try:
        await run_in_threadpool(
            start_citizen_session,
            request,
            session,
            hub,
            str(userinfo.get(hub.settings.oidc_id_number_claim) or ""),
        )
    except ValueError:
        request.session.clear()
        return _error_page(request, 401, "the identity provider did not give a valid citizen ID number")
    return RedirectResponse(next_url, status_code=303)


@router.post("/oauth/sign-out")
async def sign_out(request: Request, session: SessionDep) -> Response:
    """End the citizen's session (its server-side row too); the form carries the session's CSRF token."""
    if not await check_csrf(request):
        return _error_page(request, 403, "the form expired or was not sent by this site; start again")
    await run_in_threadpool(finish, request, session)
    return RedirectResponse("/", status_code=303)
