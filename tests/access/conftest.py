"""Fixtures of the access tests: the seeded catalog and admins of given regions."""

from __future__ import annotations

import pytest

from hub.access.models import Admin
from hub.context import Hub
from tests.access.helpers import make_admin
from tests.factories import seed_catalog


@pytest.fixture
def catalog(hub: Hub) -> Hub:
    """The hub with Zhengzhou's regions and the licence type catalog loaded."""
    seed_catalog(hub)
    return hub


@pytest.fixture
def city(catalog: Hub) -> Admin:
    """An admin of 郑州市 (410100)."""
    return make_admin(catalog, region="410100")
