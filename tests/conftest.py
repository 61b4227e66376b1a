"""Shared test fixtures; each fixture module is registered here as a plugin."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.seaweedfs",
]
pytest_plugins += ["tests.fixtures.hub"]
