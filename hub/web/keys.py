"""The hub's public keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hub.web.deps import HubDep

router = APIRouter()


@router.get("/.well-known/jwks.json", tags=["keys"])
def hub_jwks(hub: HubDep) -> dict[str, Any]:
    """The hub's public keys (RFC 7517): access tokens, key binding, status lists, tree heads, receipts.
    Credentials issued to the hub are bound (``cnf``) to one of these keys."""
    return hub.signer.jwks
