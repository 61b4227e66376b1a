"""Who is calling, as plain values the services take: a client (an adapter or an approval service,
with the citizen when its token is consent-bound), or a citizen signed in through the browser. The web
layer (``hub.web.callers``) resolves them from the request; nothing here knows HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.access.models import Client, Grant
from hub.oauth.tokens import TokenClaims


@dataclass(frozen=True)
class ClientCaller:
    """A client (an adapter or an approval service), and the citizen when the token is consent-bound."""

    token: TokenClaims
    client: Client
    # The approval service's grants in force, read once by ``service_caller`` for the whole request (never
    # kept beyond it, so a revoked grant counts on the next request); None where nothing read them.
    grants: Sequence[Grant] | None = None

    @property
    def citizen(self) -> str | None:
        return self.token.subject if self.token.kind == "citizen" else None


@dataclass(frozen=True)
class Citizen:
    """A citizen signed in through the browser session (upstream OIDC, or the demo sign-in)."""

    subject: str  # "citizen:<blind index>"
    region: str | None

    @property
    def holder_index(self) -> str:
        return self.subject.removeprefix("citizen:")
