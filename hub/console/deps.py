"""Who is using the console, and the CSRF check every form goes through.

Both come from ``hub.sessions.web``, the one session reader and CSRF check that ``/v1/me`` and the consent
pages use too: the cookie names a server-side sign-in (an admin's id or a citizen's blind-index subject),
which lasts ``console_session_seconds`` at most and ends at once on sign-out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from hub.access.models import Admin
from hub.oauth.callers import Citizen
from hub.sessions.service import SignedIn
from hub.web import sessions as web_session
from hub.web.callers import signed_in_citizen
from hub.web.deps import HubDep, SessionDep


class SignInRequired(Exception):
    """No valid sign-in for this page: the browser is sent to the right sign-in page."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class CsrfRefused(Exception):
    """A form posted without this session's CSRF token."""


async def check_csrf(request: Request) -> None:
    """Every POST carries the session's CSRF token in its ``csrf`` field (synchronizer token pattern)."""
    if not await web_session.check_csrf(request):
        raise CsrfRefused()


def start_admin_session(request: Request, session: SessionDep, hub: HubDep, admin: Admin) -> None:
    """A fresh server-side session (no fixation) for the admin."""
    web_session.begin(request, session, hub, SignedIn("admin", admin_id=admin.id))


def console_admin(request: Request, session: SessionDep, hub: HubDep) -> Admin:
    """The signed-in, active admin or auditor; otherwise off to the sign-in page."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    had_session = web_session.had_session(request)
    who = web_session.current(request, session, hub)
    if who is None or who.kind != "admin" or who.admin_id is None:
        expired = "expired=1&" if had_session else ""
        raise SignInRequired(f"/console/sign-in?{expired}next=" + quote(here, safe=""))
    admin = session.get(Admin, who.admin_id)
    if admin is None or admin.status != "active":
        request.session.clear()
        raise SignInRequired("/console/sign-in")
    return admin


def console_citizen(request: Request, session: SessionDep, hub: HubDep) -> Citizen:
    """The citizen signed in through the consent flow's sign-in; otherwise off to it."""
    citizen = signed_in_citizen(request, session, hub)
    if citizen is None:
        raise SignInRequired("/oauth/sign-in?next=/me")
    return citizen


AdminPage = Annotated[Admin, Depends(console_admin)]
CitizenPage = Annotated[Citizen, Depends(console_citizen)]
