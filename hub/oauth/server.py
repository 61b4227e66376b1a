"""The OAuth 2.0 authorization server, on Authlib, adapted to Starlette and the hub's database.

Authlib has no Starlette server integration, so this module supplies the request adapter and the
storage hooks (as Authlib's Flask and Django integrations do). One server is built per request around
that request's database session. Grants:

- ``client_credentials`` (RFC 6749 §4.4) for department adapters and approval services;
- ``authorization_code`` with PKCE, S256 only (RFC 7636; ``plain`` is refused), for consent-bound tokens.

Client authentication: ``private_key_jwt`` (RFC 7523, audience, expiry and ``jti`` replay checked),
``client_secret_basic`` and ``client_secret_post`` (secrets stored as argon2 hashes).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import defaultdict
from datetime import timedelta
from typing import Any, cast

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Payload,
)
from authlib.oauth2.rfc6749 import grants as rfc6749_grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session
from starlette.datastructures import Headers

from hub.access import redirect_uris
from hub.access import service as access_service
from hub.access.models import Client
from hub.audit import service as audit
from hub.context import Hub
from hub.errors import InvalidInput, field_error
from hub.kit.time import from_epoch, to_epoch, utcnow
from hub.oauth import repository as oauth_repository
from hub.oauth import tokens
from hub.oauth.models import AuthorizationCode, IssuedToken, UsedAssertion

TOKEN_PATH = "/oauth/token"
AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "client_secret_post"]
# RFC 7523 §3: "The authorization server MAY reject JWTs with an "exp" claim value that is unreasonably far
# in the future." An hour is what common clients send (Authlib signs with exp = iat + 3600); the hub
# remembers each assertion's jti until its exp, so the bound is also how long that memory lasts.
MAX_ASSERTION_LIFETIME = timedelta(hours=1)
ASSERTION_LEEWAY_SECONDS = 30  # clock skew allowed on exp, nbf and iat
ASSERTION_RULE_PREFIX = "client assertion: "  # a signed assertion's broken rule, told to its signer


# Request adapter ---------------------------------------------------------------------------------------


class _Payload(OAuth2Payload):
    def __init__(self, merged: dict[str, list[str]]) -> None:
        self._datalist = merged

    @property
    def data(self) -> dict[str, str]:
        return {key: values[0] for key, values in self._datalist.items() if values}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return defaultdict(list, self._datalist)


# RFC 6749 Appendix A: these parameters are printable ASCII, and those Authlib echoes in an error
# description may not hold '"' or '\\' (§5.2) — Authlib raised ValueError on them, a 500. Refused at the
# door instead, naming the parameter.
_ECHOED = frozenset(
    {
        "response_type",
        "grant_type",
        "scope",
        "redirect_uri",
        "client_id",
        "purpose",
        "case_id",
        "code_challenge_method",
        "token_type_hint",
        "response_mode",
    }
)
_NQSCHAR = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def _check_parameters(items: list[tuple[str, str]]) -> None:
    for name, value in items:
        if name in _ECHOED and not _NQSCHAR.fullmatch(value):
            raise InvalidInput(
                f"{name} holds characters RFC 6749 does not allow there",
                errors=[field_error(name, 'printable ASCII only, without " or \\')],
            )


def _usable_basic(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` without an ``Authorization: Basic`` value that is not base64 of UTF-8 (Authlib raised
    UnicodeDecodeError on it, a 500); the request then carries no client credentials (401)."""
    for name, value in headers.items():
        if name.lower() == "authorization" and value[:6].lower() == "basic ":
            try:
                base64.b64decode(value[6:].strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return {k: v for k, v in headers.items() if k != name}
    return headers


class HubOAuth2Request(OAuth2Request):
    """An Authlib request built from what the route already read (query, form, headers).

    Headers are looked up case-insensitively: Authlib asks for ``Authorization`` while Starlette gives
    lower-case names, so client_secret_basic was never seen."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: dict[str, str],
        args: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        # Authlib refuses a non-https ``uri`` on every request, which surfaced as a 500 on any hub whose
        # public URL is plain http. The URI is the configured public URL, not the wire (TLS usually ends
        # at the load balancer), so transport is a deployment matter, not something to re-check here.
        _check_parameters(args)
        _check_parameters(form)
        headers = _usable_basic(headers)
        super().__init__(method=method, uri="https://hub.invalid/", headers=Headers(headers=headers))
        self.uri = uri
        self._args: dict[str, list[str]] = defaultdict(list)
        self._form: dict[str, list[str]] = defaultdict(list)
        for key, value in args:
            self._args[key].append(value)
        for key, value in form:
            self._form[key].append(value)
        merged: dict[str, list[str]] = defaultdict(list)
        for source in (self._args, self._form):
            for key, values in source.items():
                merged[key].extend(values)
        self.payload = _Payload(merged)

    @property
    def args(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._args.items()}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._form.items()}


# Models as Authlib sees them ---------------------------------------------------------------------------


class OAuthClient(ClientMixin):
    """A client row plus the scopes its grants cover at this moment."""

    def __init__(self, row: Client, allowed_scopes: set[str]) -> None:
        self.row = row
        self.allowed_scopes = allowed_scopes

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.row.redirect_uris[0] if self.row.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        requested = set(scope_to_list(scope) or [])
        return " ".join(sorted(requested & self.allowed_scopes if requested else self.allowed_scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uris.matches(self.row.redirect_uris, redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return access_service.check_client_secret(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return self.row.status == "active" and method == self.row.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.row.kind == "service" and bool(self.row.redirect_uris)

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials":
            return True
        return grant_type == "authorization_code" and self.row.kind == "service"


class _Code:
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class _Token:
    def __init__(self, row: IssuedToken, claims: dict[str, Any]) -> None:
        self.row = row
        self.claims = claims

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return max(0, to_epoch(self.row.expires_at) - to_epoch(utcnow()))

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


# Grants and endpoints ----------------------------------------------------------------------------------


def _check_scope_covered(client: OAuthClient, scope: str | None) -> None:
    """RFC 6749 §5.2 invalid_scope, naming every requested scope no active grant covers."""
    requested = set(scope_to_list(scope) or [])
    uncovered = sorted(requested - client.allowed_scopes)
    if uncovered:
        raise InvalidScopeError(description="no active grant covers: " + " ".join(uncovered))
    if not requested and not client.allowed_scopes:
        raise InvalidScopeError(description="the client has no active grant")


class ClientCredentialsGrant(rfc6749_grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_scope_covered(self.request.client, self.request.payload.scope)


class AuthorizationCodeGrant(rfc6749_grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def __init__(self, request: Any, server: HubAuthorizationServer) -> None:
        super().__init__(request, server)
        self.hub_server = server

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        server = self.hub_server
        details = {key: request.payload.data.get(key) for key in ("purpose", "case_id", "nonce")}
        details.update(server.code_details)
        server.session.add(
            AuthorizationCode(
                code_hash=_hash(code),
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.client.get_allowed_scope(request.payload.scope),
                subject=request.user,
                code_challenge=request.payload.data.get("code_challenge", ""),
                code_challenge_method=request.payload.data.get("code_challenge_method", ""),
                details=details,
                expires_at=utcnow() + timedelta(seconds=server.hub.settings.authorization_code_ttl_seconds),
            )
        )
        server.session.flush()

    def query_authorization_code(self, code: str, client: OAuthClient) -> _Code | None:
        row = self.hub_server.session.get(AuthorizationCode, _hash(code))
        if row is None or row.client_id != client.get_client_id() or row.expires_at <= utcnow():
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what was issued with it.
            consent_id = row.details.get("consent_id")
            issued_under = self.hub_server.session.query(IssuedToken).filter_by(consent_id=consent_id)
            for issued in issued_under if consent_id else []:
                issued.revoked_at = issued.revoked_at or utcnow()
            return None
        return _Code(row)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        authorization_code.row.used_at = utcnow()

    def authenticate_user(self, authorization_code: _Code) -> str:
        self.hub_server.current_code = authorization_code.row
        return authorization_code.row.subject


class S256CodeChallenge(CodeChallenge):
    """PKCE is required on every authorization request, and only S256 (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (Authlib's class attribute)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 ('plain' is not accepted)")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: _Code) -> str:
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: _Code) -> str:
        return authorization_code.row.code_challenge_method


class PrivateKeyJWT(JWTBearerClientAssertion):
    """RFC 7523 §2.2 client authentication; each assertion id is accepted once.

    The rules of RFC 7523 §3, each named in the error when it fails: ``iss`` and ``sub`` are the client
    id; ``aud`` is the token endpoint or the issuer; ``exp`` has not passed and lies at most
    ``MAX_ASSERTION_LIFETIME`` ahead; ``nbf`` and ``iat``, when present, are not in the future; "The JWT MAY
    contain a "jti" (JWT ID) claim that provides a unique identifier for the token" — here it must, and
    is accepted once. ``ASSERTION_LEEWAY_SECONDS`` of clock skew is allowed on every time."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: HubAuthorizationServer) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY_SECONDS)
        self.server = server

    def verify_claims(self, claims: Any) -> None:
        try:
            super().verify_claims(claims)
        except InvalidClientError as error:
            error.description = ASSERTION_RULE_PREFIX + self._rule_broken(error.description or "")
            raise

    def _rule_broken(self, found: str) -> str:
        """Joserfc's and Authlib's finding, with the rule it broke spelled out."""
        if "'aud'" in found:
            return f"aud must be one of {', '.join(self.get_audiences())}"
        if "expired" in found:
            return f"exp has passed (more than {ASSERTION_LEEWAY_SECONDS} s ago)"
        if "issued in the future" in found:
            return f"iat is more than {ASSERTION_LEEWAY_SECONDS} s in the future (check the client's clock)"
        if "not yet valid" in found:
            return f"nbf is more than {ASSERTION_LEEWAY_SECONDS} s in the future (check the client's clock)"
        if "Issuer and Subject" in found:
            return "iss and sub must both be the client id"
        if "Missing JWT ID" in found:
            return "jti is required (a unique id per assertion)"
        if "used before" in found:
            return "jti was used before (each assertion is accepted once; sign a new one per request)"
        return found

    def get_audiences(self) -> list[str]:
        base = self.server.hub.settings.public_url
        return [base + TOKEN_PATH, base, base + "/oauth/introspect", base + "/oauth/revoke"]

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        # A secret-based client has no keys; joserfc refuses an empty set with an error that was a 500.
        if client.row.auth_method != self.CLIENT_AUTH_METHOD or not client.row.jwks:
            raise InvalidClientError(description="the client does not authenticate with private_key_jwt")
        return KeySet.import_key_set(cast(Any, client.row.jwks))

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            return dict(super().process_assertion_claims(assertion, resolve_key))
        except InvalidClientError as error:
            # joserfc's BadSignatureError has no description; RFC 6749 §5.2 bodies here always say why.
            error.description = error.description or "the client assertion's signature does not verify"
            raise

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        session = self.server.session
        client_id = str(claims["sub"])
        expires_at = from_epoch(int(claims["exp"]))
        ahead = expires_at - utcnow()
        if ahead > MAX_ASSERTION_LIFETIME + timedelta(seconds=ASSERTION_LEEWAY_SECONDS):
            # Raised, not returned: False would tell the client "JWT ID is used before".
            limit = int(MAX_ASSERTION_LIFETIME.total_seconds())
            raise InvalidClientError(
                description=f"exp is {int(ahead.total_seconds())} s ahead; at most {limit} s "
                f"(+{ASSERTION_LEEWAY_SECONDS} s of clock skew) is accepted"
            )
        if session.get(UsedAssertion, (client_id, jti)) is not None:
            return False
        session.add(UsedAssertion(client_id=client_id, jti=jti, expires_at=expires_at))
        session.flush()
        return True


class HubIntrospection(IntrospectionEndpoint):
    """RFC 7662; a client may introspect only the tokens issued to it."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def __init__(self, server: HubAuthorizationServer) -> None:
        super().__init__(server)
        self.hub_server = server

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
        return self.hub_server.find_token(token_string)

    def check_permission(self, token: _Token, client: OAuthClient, request: OAuth2Request) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: _Token) -> dict[str, Any]:
        claims = token.claims
        scope = token.row.scope
        if token.row.client_id:
            # Grants are re-read at every use, so report only what still counts (issue 3).
            client = self.hub_server.query_client(token.row.client_id)
            covered = client.allowed_scopes if client else set()
            scope = " ".join(s for s in scope.split() if s in covered)
            if client is None or (token.row.scope and not scope):
                return {"active": False}
        return {
            "active": True,
            "scope": scope,
            "client_id": token.row.client_id,
            "token_type": "Bearer",
            "exp": claims.get("exp"),
            "iat": claims.get("iat"),
            "sub": claims.get("sub"),
            "aud": claims.get("aud"),
            "iss": claims.get("iss"),
            "jti": claims.get("jti"),
        }


class HubRevocation(RevocationEndpoint):
    """RFC 7009; revoking an unknown or foreign token answers 200 and changes nothing."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def __init__(self, server: HubAuthorizationServer) -> None:
        super().__init__(server)
        self.hub_server = server

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
        return self.hub_server.find_token(token_string)

    def authenticate_token(self, request: OAuth2Request, client: OAuthClient) -> _Token | None:
        self.check_params(request, client)
        found = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return found if found is not None and found.check_client(client) else None

    def revoke_token(self, token: _Token, request: OAuth2Request) -> None:
        token.row.revoked_at = token.row.revoked_at or utcnow()


class HubAuthorizationServer(AuthorizationServer):
    def __init__(self, hub: Hub, session: Session) -> None:
        super().__init__(scopes_supported=None)
        self.hub = hub
        self.session = session
        self.code_details: dict[str, Any] = {}
        self.current_code: AuthorizationCode | None = None
        self.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT(self))
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_endpoint(HubIntrospection(self))
        self.register_endpoint(HubRevocation(self))

    # Storage hooks ---------------------------------------------------------------------------------

    def query_client(self, client_id: str) -> OAuthClient | None:
        row = access_service.get_client(self.session, client_id)
        if row is None or row.status != "active":
            access_service.spend_a_secret_check()  # as long as a wrong secret takes
            return None
        return OAuthClient(row, access_service.grantable_scopes(self.session, row))

    def generate_token(
        self,
        grant_type: str,
        client: OAuthClient,
        user: str | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scope = client.get_allowed_scope(scope)
        code = self.current_code
        client_id, jti = client.get_client_id(), tokens.new_jti()
        if user and code is not None:
            extra = {k: v for k, v in code.details.items() if v is not None}
            consent_id = extra.get("consent_id")
            token, ttl = tokens.mint(
                self.session,
                self.hub,
                kind="citizen",
                subject=user,
                scope=scope,
                client_id=client_id,
                consent_id=consent_id,
                extra=extra,
                jti=jti,
            )
            consent = oauth_repository.get_consent(self.session, consent_id) if consent_id else None
            event = audit.record(
                self.session,
                action="token.issued",
                outcome="ok",
                actor_kind="citizen",
                actor_id=user,
                client=access_service.get_client(self.session, client_id),
                holder_index=user.removeprefix("citizen:"),
                purpose=consent.purpose if consent else None,
                case_id=consent.case_id if consent else None,
                detail={"jti": jti, "grant_type": grant_type, "scope": scope, "consent": consent_id},
            )
            return {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": scope,
                "consent_receipt": consent.receipt if consent else None,
                "audit_leaf_index": event.leaf_index,
            }
        token, ttl = tokens.mint(
            self.session,
            self.hub,
            kind="client",
            subject=client_id,
            scope=scope,
            client_id=client_id,
            jti=jti,
        )
        event = audit.record(
            self.session,
            action="token.issued",
            outcome="ok",
            actor_kind="client",
            actor_id=client_id,
            client=access_service.get_client(self.session, client_id),
            detail={"jti": jti, "grant_type": grant_type, "scope": scope},
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": scope,
            "audit_leaf_index": event.leaf_index,
        }

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Tokens are recorded when minted (``tokens.mint``)."""

    def find_token(self, token_string: str) -> _Token | None:
        try:
            claims = tokens.decode(self.hub, token_string)
        except tokens.TokenRejected:
            return None
        row = self.session.get(IssuedToken, claims["jti"])
        if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
            return None
        return _Token(row, claims)

    # Framework hooks -------------------------------------------------------------------------------

    def create_oauth2_request(self, request: HubOAuth2Request) -> HubOAuth2Request:
        return request

    def create_json_request(self, request: HubOAuth2Request) -> HubOAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's signals are not used: tokens are audited where they are generated."""


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
