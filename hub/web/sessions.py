"""The browser side of sessions, shared by the console, ``/me``, ``/v1/me/…`` and the OAuth pages: the one
session reader, the one CSRF check and the one guard of local redirects.

The cookie is Starlette's signed ``hub_session`` (HttpOnly, SameSite=Lax, Secure behind TLS, ended after
``citizen_session_seconds`` idle). It holds the random id of a server-side sign-in (``hub.sessions``),
the CSRF token and short-lived page state (a notice, the upstream sign-in's state); never who is signed
in. CSRF follows the synchronizer token pattern (OWASP CSRF Prevention Cheat Sheet): a per-session random
token that every state-changing request carries in the ``csrf`` form field or the ``X-CSRF-Token`` header,
which a cross-site form or ``fetch`` cannot read and so cannot send."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.orm import Session

from hub.context import Hub
from hub.sessions import service
from hub.sessions.service import SignedIn

SESSION_ID_KEY = "sid"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

__all__ = ["SignedIn", "begin", "check_csrf", "csrf_token", "current", "finish", "safe_next"]


def begin(request: Request, session: Session, hub: Hub, who: SignedIn) -> None:
    """Sign the browser in: any earlier sign-in of this browser ends, the cookie starts afresh (no
    session fixation) with a new id and a new CSRF token."""
    finish(request, session)
    session_id = service.start(session, who, lifetime_s=hub.settings.console_session_seconds)
    request.session[SESSION_ID_KEY] = session_id
    request.session[CSRF_KEY] = secrets.token_urlsafe(24)


def current(request: Request, session: Session, hub: Hub) -> SignedIn | None:
    """Who the browser is signed in as, or None: no sign-in, signed out, or older than
    ``console_session_seconds``. Every page and API route that trusts the cookie asks here."""
    session_id = request.session.get(SESSION_ID_KEY)
    if not isinstance(session_id, str):
        return None
    found = service.find(session, session_id, lifetime_s=hub.settings.console_session_seconds)
    if found is None:
        request.session.pop(SESSION_ID_KEY, None)
    return found


def had_session(request: Request) -> bool:
    """Whether the cookie still names a sign-in (before ``current`` found it gone or too old)."""
    return isinstance(request.session.get(SESSION_ID_KEY), str)


def finish(request: Request, session: Session) -> None:
    """Sign out: the server-side row goes (a copied cookie stops working) and the cookie is emptied."""
    session_id = request.session.get(SESSION_ID_KEY)
    if isinstance(session_id, str):
        service.end(session, session_id)
    request.session.clear()


def csrf_token(request: Request) -> str:
    """This browser session's CSRF token (made on first use)."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = request.session[CSRF_KEY] = secrets.token_urlsafe(24)
    return token


async def check_csrf(request: Request) -> bool:
    """True when the request is safe (GET, HEAD) or carries this session's CSRF token, in the
    ``X-CSRF-Token`` header or the ``csrf`` form field."""
    if request.method in SAFE_METHODS:
        return True
    submitted: object = request.headers.get(CSRF_HEADER)
    if not submitted:
        form = await request.form()  # cached: the route's own Form parameters read the same parsed body
        submitted = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_KEY)
    return (
        isinstance(submitted, str)
        and isinstance(expected, str)
        and bool(expected)
        and secrets.compare_digest(expected.encode(), submitted.encode())
    )


def safe_next(value: str | None, default: str = "/") -> str:
    """Only local paths: never redirect a signed-in browser to another site.

    Browsers parse URLs the WHATWG way (URL Standard §4.4): a backslash counts as a slash and tabs and
    newlines are dropped, so ``/\\evil.example`` or ``/<tab>/evil.example`` would leave the site; such
    values fall back to ``default`` too."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value)
        or urlsplit(value).netloc
    ):
        return default
    return value
