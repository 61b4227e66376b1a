"""OAuth rules the routes call: metadata (RFC 8414), the token, introspection and revocation endpoints,
and the authorization request a citizen approves or refuses."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from authlib.oauth2 import OAuth2Error
from sqlalchemy.orm import Session

from hub.access import service as access_service
from hub.audit import refusals
from hub.audit.refusals import client_caller
from hub.context import Hub
from hub.contract.identifiers import check_case_id
from hub.errors import InvalidInput, field_error
from hub.oauth import consents
from hub.oauth.server import (
    ASSERTION_RULE_PREFIX,
    AUTH_METHODS,
    TOKEN_PATH,
    HubAuthorizationServer,
    HubOAuth2Request,
    OAuthClient,
)
from hub.registry import items as service_items
from hub.registry import service as registry

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class OAuthResponse:
    """What an endpoint answers: status, JSON body (RFC 6749 §5 shape) and headers."""

    status: int
    body: Any
    headers: dict[str, str]


def metadata(hub: Hub, session: Session) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414 §2)."""
    base = hub.settings.public_url
    licence_scopes = [
        access_service.licence_scope(t.code, tier)
        for t in registry.list_licence_types(session)
        for tier in range(4)
    ]
    return {
        "issuer": base,
        "authorization_endpoint": base + "/oauth/authorize",
        "token_endpoint": base + TOKEN_PATH,
        "introspection_endpoint": base + "/oauth/introspect",
        "revocation_endpoint": base + "/oauth/revoke",
        "jwks_uri": base + "/.well-known/jwks.json",
        "scopes_supported": [access_service.PUSH_SCOPE, access_service.METRICS_SCOPE, *licence_scopes],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "service_documentation": base + "/docs",
    }


def _respond(status: int, body: Any, headers: list[tuple[str, str]]) -> OAuthResponse:
    merged = dict(headers)
    merged.update(NO_STORE)
    if isinstance(body, str):
        body = json.loads(body) if body else {}
    if isinstance(body, dict) and body.get("error") == "invalid_client":
        # RFC 6749 §5.2 allows 400 or 401; one answer for an unknown client and a wrong credential,
        # so the endpoint does not tell which client ids exist. A client assertion whose signature
        # verified but whose claims broke a rule is told the rule: only the key's holder learns it.
        described = str(body.get("error_description") or "")
        said = described if described.startswith(ASSERTION_RULE_PREFIX) else "client authentication failed"
        status, body = 401, {"error": "invalid_client", "error_description": said}
        merged.setdefault("WWW-Authenticate", 'Basic realm="licence-hub"')
    return OAuthResponse(status, body, merged)


def token_endpoint(session: Session, hub: Hub, request: HubOAuth2Request, address: str = "") -> OAuthResponse:
    """RFC 6749 §3.2: issue an access token for client_credentials or an authorization code. A refused
    request is audited in the same transaction (a refusal writes nothing else worth rolling back).
    After ten failed client authentications for a client id or from an address, further attempts
    wait (429 with ``Retry-After``, ``hub.kit.backoff``)."""
    keys = [f"client:{(_claimed_client_id(request) or '')[:64]}", f"addr:{address}"]
    access_service.refuse_while_backing_off(hub.auth_backoff, keys)
    result = _respond(*HubAuthorizationServer(hub, session).create_token_response(request))
    body = result.body if isinstance(result.body, dict) else {}
    if body.get("error") == "invalid_client":
        hub.auth_backoff.failed(keys)
    elif result.status < 400:
        hub.auth_backoff.succeeded(keys[0])
    if result.status >= 400:
        _audit_refused_token(session, request, result)
    return result


def _claimed_client_id(request: HubOAuth2Request) -> str | None:
    """The client id the request names (form, HTTP Basic, or the unverified ``sub`` of an assertion)."""
    form = request.form
    if form.get("client_id"):
        return form["client_id"]
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            return unquote(base64.b64decode(value).decode().partition(":")[0]) or None
        except (ValueError, UnicodeDecodeError):
            return None
    if form.get("client_assertion"):
        try:
            payload = form["client_assertion"].split(".")[1]
            sub = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("sub")
        except (IndexError, ValueError, UnicodeDecodeError, AttributeError):
            return None
        return sub if isinstance(sub, str) else None
    return None


def _audit_refused_token(session: Session, request: HubOAuth2Request, result: OAuthResponse) -> None:
    claimed = _claimed_client_id(request)
    client = access_service.get_client(session, claimed[:64]) if claimed else None
    if client is None:  # no such client: counted, not audited
        refusals.count_only(result.status)
        return
    body = result.body if isinstance(result.body, dict) else {}
    refusals.record_in(
        session,
        caller=client_caller(client),
        status=result.status,
        reason=str(body.get("error", "refused")),
        method="POST",
        path=TOKEN_PATH,
        credential="client",
        grant_type=request.form.get("grant_type", "")[:64],
    )


def introspection_endpoint(session: Session, hub: Hub, request: HubOAuth2Request) -> OAuthResponse:
    """RFC 7662 §2: whether a token is active, for the client it was issued to."""
    return _respond(*HubAuthorizationServer(hub, session).create_endpoint_response("introspection", request))


def revocation_endpoint(session: Session, hub: Hub, request: HubOAuth2Request) -> OAuthResponse:
    """RFC 7009 §2: revoke a token the calling client holds."""
    return _respond(*HubAuthorizationServer(hub, session).create_endpoint_response("revocation", request))


@dataclass
class AuthorizationRequest:
    """A validated authorization request, ready to show on the consent page."""

    client: OAuthClient
    scopes: list[str]
    purpose: str
    case_id: str
    items: list[dict[str, Any]]
    service_item: Any = None


def validate_authorization(session: Session, hub: Hub, request: HubOAuth2Request) -> AuthorizationRequest:
    """Check an authorization request (RFC 6749 §4.1.1 with PKCE S256, purpose and case id).

    Raises :class:`OAuth2Error` for a request that must go back to the client with an error, or
    :class:`InvalidInput` when the client or redirect URI cannot be trusted with a redirect."""
    server = HubAuthorizationServer(hub, session)
    grant = server.get_consent_grant(request)
    client: OAuthClient = grant.client
    data = request.payload.data
    purpose, case_id = (data.get("purpose") or "").strip(), (data.get("case_id") or "").strip()
    if not purpose or not case_id or len(purpose) > 64:
        raise OAuth2Error(
            error="invalid_request",
            description="purpose (a service item code) and case_id are required",
            redirect_uri=grant.redirect_uri,
            state=request.payload.state,
        )
    try:
        check_case_id(case_id)
    except ValueError as refused:
        raise OAuth2Error(
            error="invalid_request",
            description=f"case_id: {refused}",
            redirect_uri=grant.redirect_uri,
            state=request.payload.state,
        ) from None
    service_item = service_items.find_service_item(session, purpose)
    if service_item is None:
        raise OAuth2Error(
            error="invalid_request",
            description=f"purpose {purpose} is not a service item code",
            redirect_uri=grant.redirect_uri,
            state=request.payload.state,
        )
    requested = sorted(set((data.get("scope") or "").split()))
    uncovered = [s for s in requested if s not in client.allowed_scopes]
    if uncovered or not requested:
        raise OAuth2Error(
            error="invalid_scope",
            description=("no active grant covers: " + " ".join(uncovered))
            if uncovered
            else "scope is required",
            redirect_uri=grant.redirect_uri,
            state=request.payload.state,
        )
    items = consents.released_fields(session, requested)
    return AuthorizationRequest(client, requested, purpose, case_id, items, service_item)


def complete_authorization(
    session: Session, hub: Hub, request: HubOAuth2Request, citizen: str | None, region: str | None = None
) -> OAuthResponse:
    """Redirect back to the client with a code (approved) or ``access_denied`` (``citizen`` None).
    The code, and the token made from it, carry the citizen's county (``holder_region``) so grants'
    region subtrees apply to consent-bound calls too."""
    server = HubAuthorizationServer(hub, session)
    if region:
        server.code_details["holder_region"] = region
    if citizen:
        checked = validate_authorization(session, hub, request)
        consent = consents.give(
            session,
            hub,
            subject=citizen,
            client_id=checked.client.get_client_id(),
            purpose=checked.purpose,
            case_id=checked.case_id,
            scopes=checked.scopes,
        )
        server.code_details["consent_id"] = consent.id
    grant = server.get_consent_grant(request)
    return _respond(*server.create_authorization_response(request, grant_user=citizen, grant=grant))


def error_redirect(hub: Hub, session: Session, error: OAuth2Error) -> OAuthResponse:
    server = HubAuthorizationServer(hub, session)
    return _respond(*server.handle_error_response(None, error))


def require_form_field(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidInput(f"{name} is required", errors=[field_error(name, "missing")])
    return value
