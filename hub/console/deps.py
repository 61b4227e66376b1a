"""Who is using the console, and the CSRF check every form goes through.

One session cookie (Starlette's signed ``hub_session``, HttpOnly, SameSite=Lax, Secure behind TLS) holds
either an admin's id or a citizen's blind-index subject, each with the time of sign-in: a sign-in lasts
``console_session_seconds`` at most, and the cookie itself ends after ``citizen_session_seconds`` idle.
The CSRF token is per session and shared with the consent pages (``hub/oauth``)."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import Depends, Request

from hub.access.models import Admin
from hub.deps import HubDep, SessionDep
from hub.oauth.deps import Citizen
from hub.oauth.signin import CITIZEN_REGION_KEY, CITIZEN_SESSION_KEY, SIGNED_IN_AT_KEY

ADMIN_KEY = "console_admin"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf"


class SignInRequired(Exception):
    """No valid sign-in for this page: the browser is sent to the right sign-in page."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class CsrfRefused(Exception):
    """A form posted without this session's CSRF token."""


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_KEY)
    if not token:
        token = request.session[CSRF_KEY] = secrets.token_urlsafe(24)
    return str(token)


async def check_csrf(request: Request) -> None:
    """Every POST carries the session's CSRF token in its ``csrf`` field (synchronizer token pattern)."""
    if request.method != "POST":
        return
    form = await request.form()  # cached: the route's own Form parameters read the same parsed body
    submitted, expected = form.get(CSRF_FIELD), request.session.get(CSRF_KEY)
    if not (isinstance(submitted, str) and expected and secrets.compare_digest(str(expected), submitted)):
        raise CsrfRefused()


def _expired(session: dict[str, Any], lifetime_s: int) -> bool:
    started = session.get(SIGNED_IN_AT_KEY)
    return not isinstance(started, int) or time.time() - started > lifetime_s


def start_admin_session(request: Request, admin: Admin) -> None:
    """A fresh session (no fixation) holding the admin's id and the time of sign-in."""
    request.session.clear()
    request.session[ADMIN_KEY] = admin.id
    request.session[SIGNED_IN_AT_KEY] = int(time.time())


def console_admin(request: Request, session: SessionDep, hub: HubDep) -> Admin:
    """The signed-in, active admin or auditor; otherwise off to the sign-in page."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    admin_id = request.session.get(ADMIN_KEY)
    if admin_id is None:
        raise SignInRequired("/console/sign-in?next=" + _quote(here))
    if _expired(request.session, hub.settings.console_session_seconds):
        request.session.clear()
        raise SignInRequired("/console/sign-in?expired=1&next=" + _quote(here))
    admin = session.get(Admin, admin_id)
    if admin is None or admin.status != "active":
        request.session.clear()
        raise SignInRequired("/console/sign-in")
    return admin


def console_citizen(request: Request, hub: HubDep) -> Citizen:
    """The citizen signed in through the consent flow's sign-in (same session); otherwise off to it."""
    subject = request.session.get(CITIZEN_SESSION_KEY)
    if not subject:
        raise SignInRequired("/oauth/sign-in?next=/me")
    if _expired(request.session, hub.settings.console_session_seconds):
        request.session.clear()
        raise SignInRequired("/oauth/sign-in?next=/me")
    return Citizen(subject, request.session.get(CITIZEN_REGION_KEY))


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


AdminPage = Annotated[Admin, Depends(console_admin)]
CitizenPage = Annotated[Citizen, Depends(console_citizen)]
