"""Citizen and admin sign-in through the city's upstream OpenID Connect provider (Authlib's Starlette
client), and the demo-only sign-in that asks for an ID number.

A citizen is known to the hub only by the blind index of their 公民身份号码; the clear number never
goes into the session cookie."""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

from hub.context import Hub
from hub.contract.identifiers import check_citizen_id

with warnings.catch_warnings():
    # Authlib suggests httpx2 for its client integration; the stack's httpx works the same here.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

CITIZEN_SESSION_KEY = "citizen"


def citizen_subject(hub: Hub, id_number: str) -> str:
    """The subject the hub uses for a citizen: the blind index of their ID number."""
    return "citizen:" + hub.blind_index.of("person", check_citizen_id(id_number))


@lru_cache(maxsize=8)
def _registry(issuer: str, client_id: str, client_secret: str) -> OAuth:
    oauth = OAuth()
    oauth.register(
        "upstream",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
    )
    return oauth


def upstream_client(hub: Hub, **client_kwargs: Any) -> Any | None:
    """The upstream OIDC client, or None when no provider is configured."""
    s = hub.settings
    if not (s.oidc_issuer and s.oidc_client_id and s.oidc_client_secret):
        return None
    oauth = _registry(s.oidc_issuer, s.oidc_client_id, s.oidc_client_secret)
    client = oauth.create_client("upstream")
    if client_kwargs:
        client.client_kwargs.update(client_kwargs)
    return client
