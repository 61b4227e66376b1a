"""Fixtures of the OAuth tests."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from hub.access import service as access_service


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash client secrets and admin passwords with the cheapest argon2 parameters.

    These tests create many clients and ask for many tokens; at the production cost (~150 ms per hash
    or check) the suite would take minutes. The checks themselves are unchanged: argon2 reads the
    parameters from each stored hash."""
    monkeypatch.setattr(access_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
