"""The citizen's pages need a signed-in citizen: the hub runs in demo mode here, whose sign-in form
stands in for the city's identity provider (tests/interop covers the upstream provider)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

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
