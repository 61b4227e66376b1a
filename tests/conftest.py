"""Shared test fixtures; each fixture module is registered here as a plugin.

The run ends with a line counting the tests that passed on each real backend, so the output shows that
the PostgreSQL and SeaweedFS suites ran (their fixtures fail the run when the server cannot be had).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

# Hundreds of admins and client secrets are made by the suite: cheap Argon2 parameters for them (the
# hashing and verifying code is the same; production keeps the RFC 9106 profile). Set before hub imports.
os.environ.setdefault("HUB_PASSWORD_HASH_PROFILE", "cheapest")
# Large ingest batches are checked in this process unless a test asks for worker processes
# (tests/registry/test_check_pool.py does); spawning workers for every hub would slow the suite.
os.environ.setdefault("HUB_INGEST_WORKERS", "0")
# The command-line tests read rich's output; a pytest-xdist worker has no terminal, and rich would wrap
# that output at 80 columns, splitting the messages the tests look for.
os.environ["COLUMNS"] = "200"

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.seaweedfs",
    "tests.fixtures.hub",
    "tests.fixtures.soak",
]

_BACKEND_MARKERS = ("postgres", "s3")
_passed: Counter[str] = Counter()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        fixtures = getattr(item, "fixturenames", ())
        if "postgres" in params.values() or "postgres_admin_url" in fixtures:
            item.add_marker(pytest.mark.postgres)
        if "s3" in params.values() or "seaweedfs_s3_url" in fixtures:
            item.add_marker(pytest.mark.s3)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        keywords = report.keywords
        for marker in _BACKEND_MARKERS:
            if marker in keywords:
                _passed[marker] += 1
        if "postgres" not in keywords:
            _passed["sqlite-or-no-database"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        "backends: "
        + ", ".join(f"{name} {_passed[name]} passed" for name in ("postgres", "s3", "sqlite-or-no-database"))
    )
