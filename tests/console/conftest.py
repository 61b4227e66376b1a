"""Fixtures of the console tests: a hub in demo mode (the citizen's demo sign-in exists only there) with
a short console sign-in lifetime, and cheap argon2 (the tests sign in often; see tests/interop)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from hub.access import service as access_service
from hub.access.models import Admin
from hub.context import Hub
from hub.sessions.models import WebSession
from hub.settings import Settings
from storage.database import transaction
from tests.fixtures.hub import make_settings
from tests.lookups.conftest import world  # noqa: F401  (catalog, feeds, a service: tests/console/test_web_hardening.py)

SESSION_SECONDS = 60
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        access_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    base = make_settings(database_url, tmp_path / "objects", console_session_seconds=SESSION_SECONDS)
    return base.model_copy(update={"demo": True})


def csrf_of(page: Response) -> str:
    match = CSRF_INPUT.search(page.text)
    assert match, f"no CSRF field on {page.url}"
    return unescape(match.group(1))


def sign_in(client: TestClient, admin: Admin, password: str = PASSWORD) -> str:
    """Sign ``admin`` in through the form; returns the session's CSRF token."""
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"csrf": csrf_of(page), "username": admin.username, "password": password, "next": "/console"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console"))


def citizen_sign_in(client: TestClient, id_number: str) -> str:
    page = client.get("/oauth/sign-in?next=/me")
    response = client.post(
        "/oauth/sign-in",
        data={"csrf": csrf_of(page), "id_number": id_number, "next": "/me"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/me"))


def age_sign_ins(hub: Hub, seconds: int) -> None:
    """Move every stored sign-in ``seconds`` into the past, as if the browser had waited that long."""
    with transaction(hub.session_factory) as session:
        for row in session.scalars(select(WebSession)):
            row.signed_in_at -= timedelta(seconds=seconds)
