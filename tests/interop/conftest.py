"""Fixtures of the interop tests: a live hub per test on the test's database (SQLite and PostgreSQL).

Each test module defines ``live`` (the hub it needs: demo mode, an upstream provider…); ``service`` and
``browser`` work against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from hub.access import service as access_service
from hub.context import build_hub
from tests.fixtures.hub import make_settings
from tests.interop.browser import ApprovalService, Browser
from tests.interop.live import LiveHub, ServerThread, loopback_socket


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its production cost takes ~0.25 s per hash and per check here, and every test registers
    admins and clients and authenticates them many times. These tests are about the protocol, so they use
    argon2 at its lowest cost (as Django's test settings swap in a fast password hasher)."""
    monkeypatch.setattr(
        access_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveHub]]:
    """Start a hub with settings ``overrides`` (``demo=True``, ``oidc_issuer=…``); stopped after the test."""
    with ExitStack() as stack:

        def start(**overrides: object) -> LiveHub:
            sock, url = loopback_socket()
            stack.callback(sock.close)
            settings = make_settings(database_url, tmp_path / f"objects-{sock.getsockname()[1]}")
            hub = build_hub(settings.model_copy(update={"public_url": url, **overrides}))
            stack.callback(hub.close)
            stack.callback(ServerThread(hub, sock).stop)
            return LiveHub(hub, url)

        yield start


@pytest.fixture
def service(live: LiveHub) -> Iterator[ApprovalService]:
    """An approval service registered on ``live``, with grants on two licence types."""
    registered = ApprovalService.register(live)
    yield registered
    registered.close()


@pytest.fixture
def browser(live: LiveHub) -> Iterator[Browser]:
    """A citizen's browser pointed at ``live``."""
    opened = Browser(live)
    yield opened
    opened.close()
