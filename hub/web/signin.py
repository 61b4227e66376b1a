"""Citizen and admin sign-in through the city's upstream OpenID Connect provider (Authlib's Starlette
client), and the demo-only sign-in that asks for an ID number.

A citizen is known to the hub only by the blind index of their 公民身份号码; the clear number never
goes into the session cookie or the session's row."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from fastapi import Request
from joserfc.errors import JoseError
from sqlalchemy.orm import Session

from hub.context import Hub
from hub.contract.identifiers import check_citizen_id
from hub.sessions.service import SignedIn
from hub.web import sessions as web_session

with warnings.catch_warnings():
    # Authlib suggests httpx2 for its client integration; the stack's httpx works the same here.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

#: A sign-in the provider refused or that cannot be trusted: an error answer or a state that is not this
#: browser's (Authlib), an ID token whose signature, issuer, audience, nonce or lifetime fails (joserfc).
SIGN_IN_REFUSED: tuple[type[Exception], ...] = (OAuthError, JoseError)
#: The provider cannot be reached or answers with something that is not JSON.
PROVIDER_UNAVAILABLE: tuple[type[Exception], ...] = (httpx.HTTPError, json.JSONDecodeError)


def citizen_subject(hub: Hub, id_number: str) -> str:
    """The subject the hub uses for a citizen: the blind index of their ID number."""
    return "citizen:" + hub.blind_index.of("person", check_citizen_id(id_number))


def start_citizen_session(request: Request, session: Session, hub: Hub, id_number: str) -> None:
    """Sign a citizen in: a fresh server-side session holding the blind-index subject and the county code
    of the ID number (for grants' region checks); never the clear number. Raises ValueError for a bad
    number."""
    number = check_citizen_id(id_number)
    who = SignedIn("citizen", subject=citizen_subject(hub, number), region=number[:6])
    web_session.begin(request, session, hub, who)


#: How the hub reaches the provider: None is the network. Tests put an ``httpx.MockTransport`` here,
#: since the provider is a system the hub does not run.
upstream_transport: httpx.AsyncBaseTransport | None = None
UPSTREAM_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@lru_cache(maxsize=8)
def _registry(
    issuer: str, client_id: str, client_secret: str, transport: httpx.AsyncBaseTransport | None
) -> OAuth:
    client_kwargs: dict[str, Any] = {
        "scope": "openid profile",
        "code_challenge_method": "S256",
        # Explicit, so a hung provider costs a citizen seconds (then a 503 page), never a stuck worker.
        "timeout": UPSTREAM_TIMEOUT,
    }
    if transport is not None:
        client_kwargs["transport"] = transport
    oauth = OAuth()
    oauth.register(
        "upstream",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs=client_kwargs,
    )
    return oauth


def upstream_client(hub: Hub) -> Any | None:
    """The upstream OIDC client, or None when no provider is configured.

    One client per configuration: it keeps the provider's metadata and keys (Authlib fetches the keys
    again when an ID token names a key id it does not know)."""
    s = hub.settings
    if not (s.oidc_issuer and s.oidc_client_id and s.oidc_client_secret):
        return None
    oauth = _registry(s.oidc_issuer, s.oidc_client_id, s.oidc_client_secret, upstream_transport)
    return oauth.create_client("upstream")
