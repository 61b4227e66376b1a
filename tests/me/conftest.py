"""The citizen's pages need a signed-in citizen: the hub runs in demo mode here, whose sign-in form
stands in for the city's identity provider (tests/interop covers the upstream provider)."""

from __future__ import annotations

import html
import re

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from hub.access import service as access_service
from hub.settings import Settings
from tests.lookups.conftest import world  # noqa: F401  (catalog, police and commerce feeds, a service)

CSRF = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"demo": True})


def sign_in(client: TestClient, id_number: str) -> None:
    """Sign ``client``'s browser in as the citizen with ``id_number`` (the demo form)."""
    client.cookies.clear()
    page = client.get("/oauth/sign-in", params={"next": "/v1/me/licences"})
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, "the sign-in page has no CSRF field"
    form = {"id_number": id_number, "csrf": html.unescape(match.group(1)), "next": "/v1/me/licences"}
    response = client.post("/oauth/sign-in", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Admins and clients are created in most of these tests; argon2 at its production cost (~0.25 s a
    hash) is not what they test (as tests/interop does)."""
    monkeypatch.setattr(
        access_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
