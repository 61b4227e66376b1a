"""Alembic migrations (hub/migrations, hub/db.py): one head, and upgrading an empty database on either
backend gives exactly the schema the models declare."""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel
from typer.testing import CliRunner

import hub.models  # noqa: F401  (registers every table on SQLModel.metadata)
from hub import db
from hub.cli import app
from storage.database import make_engine
from tests.fixtures.hub import make_settings
from tests.fixtures.postgres import create_database, drop_database


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"hub_migrate_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


@pytest.fixture
def empty_engine(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url, pool_size=1)
    yield engine
    engine.dispose()


# On PostgreSQL these foreign keys are checked by statement triggers instead (migration 0007).
reference_checks = importlib.import_module("hub.migrations.versions.0007_reference_checks_per_statement")
CHECKED_BY_TRIGGERS = {(table, column) for table, column, *_ in reference_checks.REFERENCES}


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = list(compare_metadata(context, SQLModel.metadata))
    if engine.dialect.name == "postgresql":
        differences = [d for d in differences if not _checked_by_triggers(d)]
    return differences


def _checked_by_triggers(difference: object) -> bool:
    if not (isinstance(difference, tuple) and difference[0] == "add_fk"):
        return False
    key = difference[1]
    return (key.parent.name, key.column_keys[0]) in CHECKED_BY_TRIGGERS and len(key.column_keys) == 1


def test_there_is_exactly_one_head() -> None:
    heads = db.head_revisions()
    assert len(heads) == 1
    script = ScriptDirectory.from_config(db.alembic_config())
    assert len(script.get_bases()) == 1
    chain = list(script.walk_revisions())  # newest first
    assert chain[0].revision == heads[0] and chain[-1].down_revision is None


def test_upgrading_an_empty_database_gives_the_models_schema(empty_engine: Engine) -> None:
    assert db.current_revision(empty_engine) is None
    db.upgrade(empty_engine)
    assert db.current_revision(empty_engine) == db.head_revisions()[0]
    assert set(inspect(empty_engine).get_table_names()) == {*SQLModel.metadata.tables, "alembic_version"}
    assert schema_differences(empty_engine) == []


def test_the_comparison_sees_a_missing_table(empty_engine: Engine) -> None:
    """The check above can fail: a table the models declare but the database lacks is a difference."""
    db.upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE released_attachment")  # a table nothing references
    differences = schema_differences(empty_engine)
    kinds = [d[0] for d in differences if isinstance(d, tuple)]  # type: ignore[index]
    assert "add_table" in kinds and set(kinds) <= {"add_table", "add_index"}


def test_upgrade_is_idempotent(empty_engine: Engine) -> None:
    db.upgrade(empty_engine)
    db.upgrade(empty_engine)
    assert db.current_revision(empty_engine) == db.head_revisions()[0]
    assert schema_differences(empty_engine) == []


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """HUB_* variables of a complete production configuration (secrets included), minus the database."""
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = make_settings("sqlite:///unused", tmp_path / "objects")
    return {
        f"HUB_{name.upper()}": str(value)
        for name, value in settings.model_dump(mode="json").items()
        if value is not None and not isinstance(value, list | dict) and name != "database_url"
    }


def test_db_upgrade_command(empty_url: str, cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade"], env={**cli_env, "HUB_DATABASE_URL": empty_url})
    assert result.exit_code == 0, result.output
    head = db.head_revisions()[0]
    assert f"database at {head}" in result.output

    engine = make_engine(empty_url, pool_size=1)
    try:
        assert db.current_revision(engine) == head
        assert schema_differences(engine) == []
    finally:
        engine.dispose()

    current = runner.invoke(app, ["db", "current"], env={**cli_env, "HUB_DATABASE_URL": empty_url})
    assert current.exit_code == 0, current.output
    assert f"database: {head}" in current.output and f"code head: {head}" in current.output


def test_db_upgrade_command_refuses_to_run_without_secrets(cli_env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never.sqlite3'}"
    result = CliRunner().invoke(
        app, ["db", "upgrade"], env={"HUB_DATABASE_URL": url, "HUB_VAR_DIR": cli_env["HUB_VAR_DIR"]}
    )
    assert result.exit_code == 2
    assert "HUB_DATA_KEYS" in result.output and "HUB_BLIND_INDEX_KEY" in result.output
    assert not (tmp_path / "never.sqlite3").exists()
