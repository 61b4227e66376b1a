"""The web console's HTTP routes (DESIGN 2, issue 8): pages for admins and auditors under ``/console``
and the citizen's own page at ``/me``. HTTP only: every rule is in the feature services, which these
routes call exactly as the JSON API does; what a page shows is gathered in ``hub.console.views``.

Every form carries the session's CSRF token (checked by one router dependency on every POST). A
refused action re-renders its page with the reason, naming the field, and the status the API would
give (403, 404, 409, 422)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from hub.access import service as access_service
from hub.access.models import Admin
from hub.console import i18n, views
from hub.console.deps import (
    AdminPage,
    CitizenPage,
    CsrfRefused,
    SignInRequired,
    check_csrf,
    start_admin_session,
)
from hub.contract.status import LicenceStatus
from hub.errors import HubError, InvalidInput, NotFound, Unauthorized, field_error
from hub.oauth import consents
from hub.registry.schemas import ServiceItemWrite
from hub.supervision import alerts as audit_alerts
from hub.web import refusals
from hub.web.deps import HubDep, SessionDep, client_address
from hub.web.sessions import csrf_token, finish, safe_next

HERE = Path(__file__).parent
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}

# No length limits here: the API's request models check lengths and name the field on the re-rendered form.
Text = Annotated[str, Form()]
LongText = Annotated[str, Form()]

router = APIRouter(tags=["console"], include_in_schema=False, dependencies=[Depends(check_csrf)])
templates = Jinja2Templates(directory=str(HERE / "templates"))


def install(app: FastAPI) -> None:
    """Add the console's routes and the handlers of its two page-level refusals."""
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        return render(request, "error.html", status_code=403, message_key="error.csrf")


# Rendering ---------------------------------------------------------------------------------------------


def language(request: Request) -> str:
    return i18n.pick(request.cookies.get(i18n.COOKIE))


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    context.update(
        t=i18n.translator(lang),
        lang=lang,
        csrf=csrf_token(request),
        path=request.url.path,
        flash=request.session.pop("flash", None),
    )
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def done(request: Request, location: str) -> RedirectResponse:
    """After a change: back to the page (POST/redirect/GET), with a one-time notice."""
    request.session["flash"] = "done"
    return RedirectResponse(location, status_code=303)


def refused(request: Request, session: Any, template: str, error: HubError, **context: Any) -> HTMLResponse:
    """A service refused the action: undo whatever the request did, show the page with the reason."""
    session.rollback()
    return render(request, template, status_code=error.status, **context, **views.error_context(error))


# The admin pages a change is made from: template, address, and what the page shows.
PAGES: dict[str, tuple[str, str, Callable[[Session, Admin], dict[str, Any]]]] = {
    "departments": ("departments.html", "/console/departments", views.departments),
    "clients": ("clients.html", "/console/clients", views.clients),
    "grants": ("grants.html", "/console/grants", views.grants),
    "service_items": (
        "service_items.html",
        "/console/service-items",
        lambda session, _admin: views.service_items(session),
    ),
    "alerts": ("alerts.html", "/console/alerts", lambda session, admin: views.alerts(session, admin, "open")),
}


def change(
    request: Request, session: Session, admin: Admin, page: str, action: Callable[[], object], **typed: Any
) -> Response:
    """An admin's change made from ``page``: done, back to the page with a notice (POST/redirect/GET);
    refused by the service, the page again with the reason and what was ``typed``."""
    template, address, view = PAGES[page]
    try:
        action()
    except HubError as error:
        return refused(request, session, template, error, admin=admin, **typed, **view(session, admin))
    return done(request, address)


# Shared: static files, language, sign-in -----------------------------------------------------------------


@router.get("/console/static/{name}")
def static_file(name: str) -> Response:
    """The console's hand-written CSS and JavaScript."""
    if name not in STATIC:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(
        HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "max-age=300"}
    )


@router.get("/console/lang")
def switch_language(to: str = "zh-CN", next: str = "/console") -> Response:
    """Switch the pages' language (a cookie) and go back."""
    response = RedirectResponse(safe_next(next, "/console"), status_code=303)
    response.set_cookie(i18n.COOKIE, i18n.pick(to), max_age=365 * 86400, samesite="lax", httponly=True)
    return response


@router.get("/console/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/console", expired: bool = False) -> Response:
    return render(
        request,
        "sign_in.html",
        next=safe_next(next, "/console"),
        error=i18n.translator(language(request))("sign_in.expired") if expired else None,
    )


@router.post("/console/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: SessionDep,
    hub: HubDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console",
) -> Response:
    """The same password check as ``POST /v1/admin/sign-in``; the session then holds the admin's id."""
    try:
        admin = access_service.authenticate_admin(
            session, username, password, backoff=hub.auth_backoff, address=client_address(request)
        )
    except Unauthorized as refused:
        refusals.record_error_in(session, request, refused, credential="password")
        message = i18n.translator(language(request))("sign_in.failed")
        return render(
            request,
            "sign_in.html",
            status_code=401,
            next=safe_next(next, "/console"),
            error=message,
            username=username,
        )
    start_admin_session(request, session, hub, admin)
    return RedirectResponse(safe_next(next, "/console"), status_code=303)


@router.post("/console/sign-out")
def sign_out(request: Request, session: SessionDep) -> Response:
    finish(request, session)
    return RedirectResponse("/console/sign-in", status_code=303)


# Admin pages -------------------------------------------------------------------------------------------


@router.get("/console", response_class=HTMLResponse)
def dashboard(request: Request, admin: AdminPage, session: SessionDep) -> Response:
    """Licences by department and type, feed freshness, lookups per hour, open alerts."""
    return render(request, "dashboard.html", admin=admin, **views.dashboard(session, admin))


@router.get("/console/departments", response_class=HTMLResponse)
def departments(request: Request, admin: AdminPage, session: SessionDep) -> Response:
    return render(request, "departments.html", admin=admin, **views.departments(session, admin))


@router.post("/console/departments/{department}/keys/rotate", response_class=HTMLResponse)
def rotate_key(
    request: Request,
    department: str,
    admin: AdminPage,
    session: SessionDep,
    jwk: Annotated[str, Form()] = "",
) -> Response:
    def rotate() -> None:
        access_service.rotate_department_key(session, department, views.json_object(jwk, "jwk"), by=admin)

    return change(request, session, admin, "departments", rotate)


@router.post("/console/departments/{department}/keys/{kid}/retire", response_class=HTMLResponse)
def retire_key(
    request: Request, department: str, kid: str, admin: AdminPage, session: SessionDep
) -> Response:
    return change(
        request,
        session,
        admin,
        "departments",
        lambda: access_service.retire_department_key(session, department, kid, by=admin),
    )


@router.post("/console/departments/{department}/keys/{kid}/approve", response_class=HTMLResponse)
def approve_key(
    request: Request, department: str, kid: str, admin: AdminPage, session: SessionDep
) -> Response:
    """Approve a key another admin requested (two-person rule)."""
    return change(
        request,
        session,
        admin,
        "departments",
        lambda: access_service.approve_department_key(session, department, kid, by=admin),
    )


@router.get("/console/clients", response_class=HTMLResponse)
def clients(request: Request, admin: AdminPage, session: SessionDep) -> Response:
    return render(request, "clients.html", admin=admin, **views.clients(session, admin))


@router.post("/console/clients", response_class=HTMLResponse)
def create_client(
    request: Request,
    admin: AdminPage,
    session: SessionDep,
    name: Text = "",
    region_code: Text = "",
    organisation: Text = "",
    auth_method: Text = "",
    redirect_uris: LongText = "",
    jwks: LongText = "",
) -> Response:
    fields = {
        "name": name,
        "region_code": region_code,
        "organisation": organisation,
        "auth_method": auth_method,
        "redirect_uris": redirect_uris,
        "jwks": jwks,
    }
    try:
        client, secret = access_service.create_client(session, views.client_from_form(fields), by=admin)
    except HubError as error:
        return refused(
            request, session, "clients.html", error, admin=admin, form=fields, **views.clients(session, admin)
        )
    return render(
        request,
        "clients.html",
        status_code=201,
        admin=admin,
        secret=secret,
        secret_for=client.client_id,
        **views.clients(session, admin),
    )


@router.post("/console/clients/{client_id}/secret", response_class=HTMLResponse)
def rotate_secret(request: Request, client_id: str, admin: AdminPage, session: SessionDep) -> Response:
    try:
        _, secret = access_service.rotate_client_secret(session, client_id, by=admin)
    except HubError as error:
        return refused(request, session, "clients.html", error, admin=admin, **views.clients(session, admin))
    return render(
        request,
        "clients.html",
        admin=admin,
        secret=secret,
        secret_for=client_id,
        **views.clients(session, admin),
    )


@router.post("/console/clients/{client_id}/disable", response_class=HTMLResponse)
def disable_client(request: Request, client_id: str, admin: AdminPage, session: SessionDep) -> Response:
    return change(
        request,
        session,
        admin,
        "clients",
        lambda: access_service.disable_client(session, client_id, by=admin),
    )


@router.get("/console/grants", response_class=HTMLResponse)
def grants(request: Request, admin: AdminPage, session: SessionDep) -> Response:
    return render(request, "grants.html", admin=admin, **views.grants(session, admin))


@router.post("/console/grants", response_class=HTMLResponse)
def request_grant(
    request: Request,
    admin: AdminPage,
    session: SessionDep,
    client_id: Text = "",
    type_code: Text = "",
    max_tier: Text = "",
    region_code: Text = "",
    purposes: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    valid_from: Text = "",
    valid_until: Text = "",
    consent_required: Text = "",
    legal_basis: LongText = "",
) -> Response:
    """Request a grant with pickers; a T3 grant then waits for another admin's approval."""
    fields = {
        "client_id": client_id,
        "type_code": type_code,
        "max_tier": max_tier,
        "purposes": purposes,
        "region_code": region_code,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "consent_required": consent_required,
        "legal_basis": legal_basis,
    }
    return change(
        request,
        session,
        admin,
        "grants",
        lambda: access_service.request_grant(session, views.grant_from_form(fields), by=admin),
        form=fields,
    )


@router.post("/console/grants/{grant_id}/approve", response_class=HTMLResponse)
def approve_grant(request: Request, grant_id: int, admin: AdminPage, session: SessionDep) -> Response:
    return change(
        request, session, admin, "grants", lambda: access_service.approve_grant(session, grant_id, by=admin)
    )


@router.post("/console/grants/{grant_id}/revoke", response_class=HTMLResponse)
def revoke_grant(
    request: Request,
    grant_id: int,
    admin: AdminPage,
    session: SessionDep,
    reason: Annotated[str, Form()] = "",
) -> Response:

    def revoke() -> None:
        if not reason.strip():
            raise InvalidInput("give the reason for revoking", errors=[field_error("reason", "required")])
        access_service.revoke_grant(session, grant_id, reason.strip(), by=admin)

    return change(request, session, admin, "grants", revoke)


@router.get("/console/service-items", response_class=HTMLResponse)
def service_items(request: Request, admin: AdminPage, session: SessionDep) -> Response:
    return render(request, "service_items.html", admin=admin, **views.service_items(session))


@router.post("/console/service-items/{code}", response_class=HTMLResponse)
def save_service_item(
    request: Request,
    code: str,
    admin: AdminPage,
    session: SessionDep,
    item: Annotated[str, Form()] = "",
) -> Response:

    def save() -> None:
        data = views.parse(ServiceItemWrite, views.json_object(item, "item"))
        access_service.save_service_item(session, code, data, by=admin)

    return change(request, session, admin, "service_items", save, editing=code, draft=item)


@router.get("/console/alerts", response_class=HTMLResponse)
def alerts(
    request: Request,
    admin: AdminPage,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged)$")] = "open",
) -> Response:
    return render(request, "alerts.html", admin=admin, **views.alerts(session, admin, status))


@router.post("/console/alerts/{alert_id}/acknowledge", response_class=HTMLResponse)
def acknowledge_alert(
    request: Request,
    alert_id: int,
    admin: AdminPage,
    session: SessionDep,
    note: Annotated[str, Form()] = "",
) -> Response:
    return change(
        request,
        session,
        admin,
        "alerts",
        lambda: audit_alerts.acknowledge(session, alert_id, by=admin, note=note.strip() or None),
    )


@router.get("/console/audit", response_class=HTMLResponse)
def audit(request: Request, admin: AdminPage, hub: HubDep) -> Response:
    """Audit events with filters, the current signed tree head, and each entry's inclusion proof, which
    the page checks in the browser (console.js); it also proves there, with the public consistency proof,
    that the head extends the last one this browser checked."""
    query = dict(request.query_params)
    try:
        context = views.audit(hub, admin, views.parse_audit_filters(query))
    except HubError as error:
        return render(
            request,
            "audit.html",
            status_code=error.status,
            admin=admin,
            query=query,
            rows=[],
            **views.error_context(error),
        )
    return render(request, "audit.html", admin=admin, query=query, **context)


# The citizen's page --------------------------------------------------------------------------------------


@router.get("/me", response_class=HTMLResponse)
def me(
    request: Request,
    citizen: CitizenPage,
    session: SessionDep,
    hub: HubDep,
    type_code: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=2)] = None,
) -> Response:
    """My licences by type and status, who used them (with proofs), my consents (withdraw)."""
    try:
        wanted = LicenceStatus(status) if status else None
    except ValueError:
        wanted = None
    return render(request, "me.html", citizen=citizen, **views.me(session, hub, citizen, type_code, wanted))


@router.post("/me/consents/{consent_id}/withdraw", response_class=HTMLResponse)
def withdraw_consent(
    request: Request, consent_id: str, citizen: CitizenPage, session: SessionDep, hub: HubDep
) -> Response:
    try:
        consents.withdraw(session, subject=citizen.subject, consent_id=consent_id)
    except HubError as error:
        session.rollback()
        return render(
            request,
            "me.html",
            status_code=error.status,
            citizen=citizen,
            **views.me(session, hub, citizen, None, None),
            **views.error_context(error),
        )
    request.session["flash"] = "me.withdrawn"
    return RedirectResponse("/me", status_code=303)


@router.post("/me/sign-out")
def citizen_sign_out(request: Request, session: SessionDep) -> Response:
    finish(request, session)
    return RedirectResponse("/oauth/sign-in?next=/me", status_code=303)
