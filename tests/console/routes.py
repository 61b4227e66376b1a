"""The console's routes as the authorization matrix (tests/oauth) classifies them: pages behind a browser
session (an admin's console sign-in, or the citizen's sign-in of the consent flow), and the few open to
anyone. ``test_pages_need_a_session`` checks each session route refuses without one."""

from __future__ import annotations

# Routes anyone may call, and why.
CONSOLE_PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/console/static/{name}"): "the console's CSS and JavaScript",
    ("GET", "/console/lang"): "sets the language cookie and redirects to a local path",
    ("GET", "/console/sign-in"): "admin sign-in page",
    ("POST", "/console/sign-in"): "authenticates the admin by password; CSRF token of the page",
    ("POST", "/console/sign-out"): "ends the browser's own session; CSRF token",
    ("POST", "/me/sign-out"): "ends the browser's own session; CSRF token",
}

# Routes behind a session, with path parameters for calling them. "admin": the console sign-in (auditors
# read, admins change, as in the API); "citizen": the consent flow's sign-in.
CONSOLE_SESSION: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("GET", "/console"): ("admin", {}),
    ("GET", "/console/departments"): ("admin", {}),
    ("POST", "/console/departments/{department}/keys/rotate"): ("admin", {"department": "zz-police"}),
    ("POST", "/console/departments/{department}/keys/{kid}/retire"): (
        "admin",
        {"department": "d", "kid": "k"},
    ),
    ("POST", "/console/departments/{department}/keys/{kid}/approve"): (
        "admin",
        {"department": "d", "kid": "k"},
    ),
    ("GET", "/console/clients"): ("admin", {}),
    ("POST", "/console/clients"): ("admin", {}),
    ("POST", "/console/clients/{client_id}/secret"): ("admin", {"client_id": "svc-x"}),
    ("POST", "/console/clients/{client_id}/disable"): ("admin", {"client_id": "svc-x"}),
    ("GET", "/console/grants"): ("admin", {}),
    ("POST", "/console/grants"): ("admin", {}),
    ("POST", "/console/grants/{grant_id}/approve"): ("admin", {"grant_id": "1"}),
    ("POST", "/console/grants/{grant_id}/revoke"): ("admin", {"grant_id": "1"}),
    ("GET", "/console/service-items"): ("admin", {}),
    ("POST", "/console/service-items/{code}"): ("admin", {"code": "MZCFBG"}),
    ("GET", "/console/alerts"): ("admin", {}),
    ("POST", "/console/alerts/{alert_id}/acknowledge"): ("admin", {"alert_id": "1"}),
    ("GET", "/console/audit"): ("admin", {}),
    ("GET", "/me"): ("citizen", {}),
    ("POST", "/me/consents/{consent_id}/withdraw"): ("citizen", {"consent_id": "cst_x"}),
}
