"""One contract for both database backends (storage/database.py, storage/types.py): SQLite as the embedded
default and PostgreSQL in production. Each test gets its own database and its own tables, independent of
the hub's schema."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from storage.database import (
    bulk_insert,
    is_sqlite,
    make_engine,
    make_session_factory,
    normalise_url,
    ping,
    plan_each_execution,
    reserve_ids,
    transaction,
)
from storage.types import UTCDateTime
from tests.fixtures.postgres import create_database, drop_database

metadata = MetaData()
parent = Table("parent", metadata, Column("id", Integer, primary_key=True), Column("name", String(32)))
child = Table(
    "child",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_id", Integer, ForeignKey("parent.id"), nullable=False),
)
event = Table(
    "event",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=True),
)
counter = Table("counter", metadata, Column("id", Integer, primary_key=True), Column("value", Integer))
# bulk_insert: one table PostgreSQL copies in binary, one (with JSON) it copies as text.
record = Table(
    "record",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=True),
    Column("blob", LargeBinary, nullable=False),
)
document = Table(
    "document", metadata, Column("id", Integer, primary_key=True), Column("body", JSON, nullable=False)
)

SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'contract.sqlite3'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"hub_contract_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'contract.sqlite3'}"


def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url, pool_size=4)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(counter).values(id=1, value=0))
    yield engine
    engine.dispose()


@pytest.fixture
def engine(backend_url: str) -> Iterator[Engine]:
    yield from _engine(backend_url)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    yield from _engine(sqlite_url)


def names(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(parent.c.name).order_by(parent.c.id)))


# Engines ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["postgresql://u:p%40ss@db:5432/hub", "postgresql+psycopg2://u:p%40ss@db:5432/hub"]
)
def test_postgres_urls_are_pinned_to_psycopg3(url: str) -> None:
    normalised = make_url(normalise_url(url))
    assert normalised.get_driver_name() == "psycopg"
    assert (normalised.username, normalised.password, normalised.host, normalised.port) == (
        "u", "p@ss", "db", 5432,
    )  # fmt: skip
    assert normalised.database == "hub"
    assert not is_sqlite(url)


def test_sqlite_urls_are_left_alone() -> None:
    assert normalise_url("sqlite:////var/hub.sqlite3") == "sqlite:////var/hub.sqlite3"
    assert is_sqlite("sqlite:///x.db")


def test_make_engine_connects_and_pings(backend_url: str) -> None:
    engine = make_engine(backend_url)
    try:
        ping(engine)
        assert engine.dialect.name == ("sqlite" if backend_url.startswith("sqlite") else "postgresql")
        assert is_sqlite(engine) is backend_url.startswith("sqlite")
    finally:
        engine.dispose()


def test_postgres_engine_uses_psycopg3_with_pre_ping(postgres_admin_url: str) -> None:
    plain = postgres_admin_url.replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(plain)
    try:
        assert engine.dialect.driver == "psycopg"
        assert engine.pool._pre_ping is True  # type: ignore[attr-defined]
        ping(engine)
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_sqlite_engine_creates_the_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "hub.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        ping(engine)
        assert path.parent.is_dir()
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.execute(insert(child).values(id=1, parent_id=42))
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(child)) == 0


def test_ping_fails_fast_for_an_unreachable_postgres() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        engine = make_engine(f"postgresql://nobody@127.0.0.1:{port}/nothing", pool_size=1)
        started = time.monotonic()
        with pytest.raises(OperationalError):
            ping(engine)
    assert time.monotonic() - started < 5
    engine.dispose()


# Units of work ---------------------------------------------------------------------------------------


def test_transaction_commits_when_the_block_ends(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        session.execute(insert(parent).values(id=1, name="kept"))
    assert names(factory) == ["kept"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_transaction_rolls_back_on_any_exception(engine: Engine, error: type[BaseException]) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        session.execute(insert(parent).values(id=1, name="before"))
    with pytest.raises(error), transaction(factory) as session:
        session.execute(insert(parent).values(id=2, name="lost"))
        session.execute(update(parent).where(parent.c.id == 1).values(name="changed"))
        session.flush()
        raise error()
    assert names(factory) == ["before"]


def test_transaction_closes_its_session(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        session.execute(select(1))
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_plan_each_execution_lasts_for_the_transaction_only(engine: Engine) -> None:
    """PostgreSQL plans every statement of that transaction for its own values, then goes back to its
    default (cached generic plans allowed) for the connection's next transaction. SQLite has nothing to
    change: the transaction goes on as usual."""
    factory = make_session_factory(engine)
    postgres = engine.dialect.name == "postgresql"
    with transaction(factory) as session:
        plan_each_execution(session)
        if postgres:
            assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        session.execute(insert(parent).values(id=1, name="kept"))
    assert names(factory) == ["kept"]
    if postgres:
        with transaction(factory) as session:
            assert session.scalar(text("SHOW plan_cache_mode")) == "auto"


# UTC datetimes ---------------------------------------------------------------------------------------


def test_utc_datetime_round_trips_aware_values_as_utc(engine: Engine) -> None:
    local = datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=SHANGHAI)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("SET TIME ZONE 'America/New_York'"))  # the session zone must not leak
        session.execute(insert(event).values(id=1, at=local))
        session.execute(insert(event).values(id=2, at=None))
    with factory() as session:
        stored = session.scalar(select(event.c.at).where(event.c.id == 1))
        assert session.scalar(select(event.c.at).where(event.c.id == 2)) is None
    assert stored == local
    assert stored is not None and stored.utcoffset() == timedelta(0) and stored.tzinfo == UTC
    assert stored.isoformat() == "2026-03-01T02:30:15.123456+00:00"


def test_utc_datetime_compares_instants_not_wall_clocks(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        # 10:00 in Shanghai is 02:00 UTC, earlier than 03:00 UTC although its wall clock is later.
        session.execute(insert(event).values(id=1, at=datetime(2026, 1, 1, 10, tzinfo=SHANGHAI)))
        session.execute(insert(event).values(id=2, at=datetime(2026, 1, 1, 3, tzinfo=UTC)))
    with factory() as session:
        cutoff = datetime(2026, 1, 1, 2, 30, tzinfo=UTC)
        assert list(session.scalars(select(event.c.id).where(event.c.at < cutoff))) == [1]
        assert list(session.scalars(select(event.c.id).order_by(event.c.at))) == [1, 2]


def test_utc_datetime_refuses_naive_values(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with pytest.raises(StatementError, match="naive datetime"), transaction(factory) as session:
        session.execute(insert(event).values(id=1, at=datetime(2026, 1, 1, 12)))
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(event)) == 0


# Concurrency -----------------------------------------------------------------------------------------


def _increment_slowly(factory: sessionmaker[Session], seen: list[int], errors: list[BaseException]) -> None:
    """Read-modify-write: the classic lost update, and with deferred SQLite transactions a lock upgrade
    that fails at once with "database is locked"."""
    try:
        with transaction(factory) as session:
            value = session.scalar(select(counter.c.value).where(counter.c.id == 1).with_for_update())
            assert value is not None
            seen.append(value)
            time.sleep(0.2)
            session.execute(update(counter).where(counter.c.id == 1).values(value=value + 1))
    except BaseException as exc:
        errors.append(exc)


def test_concurrent_writers_queue_instead_of_failing(engine: Engine) -> None:
    factory = make_session_factory(engine)
    seen: list[int] = []
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_increment_slowly, args=(factory, seen, errors)) for _ in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(seen) == [0, 1, 2]  # each writer saw the one before it: they ran one after another
    with factory() as session:
        assert session.scalar(select(counter.c.value)) == 3
    assert time.monotonic() - started >= 0.6


class _Writer(threading.Thread):
    """Holds an open write transaction with an uncommitted row until told to finish."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        super().__init__(daemon=True)
        self.factory = factory
        self.writing = threading.Event()
        self.finish = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            with transaction(self.factory) as session:
                session.execute(insert(parent).values(id=2, name="uncommitted"))
                session.flush()
                self.writing.set()
                assert self.finish.wait(timeout=30)
        except BaseException as exc:
            self.errors.append(exc)
            self.writing.set()


def test_read_only_session_reads_while_a_writer_holds_the_lock(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        session.execute(insert(parent).values(id=1, name="committed"))
    writer = _Writer(factory)
    writer.start()
    assert writer.writing.wait(timeout=10) and writer.errors == []
    try:
        started = time.monotonic()
        assert names(make_session_factory(engine, read_only=True)) == ["committed"]
        assert time.monotonic() - started < 1
    finally:
        writer.finish.set()
        writer.join(timeout=10)
    assert writer.errors == []
    assert names(factory) == ["committed", "uncommitted"]


def test_sqlite_write_session_waits_for_the_writer_but_read_only_does_not(sqlite_engine: Engine) -> None:
    """On SQLite a plain session begins IMMEDIATE, so even its reads queue behind a writer: read-only
    sessions are what keep GET requests from waiting."""
    factory = make_session_factory(sqlite_engine)
    writer = _Writer(factory)
    writer.start()
    assert writer.writing.wait(timeout=10) and writer.errors == []
    threading.Timer(0.5, writer.finish.set).start()

    started = time.monotonic()
    assert names(make_session_factory(sqlite_engine, read_only=True)) == []
    read_only_took = time.monotonic() - started
    assert names(factory) == ["uncommitted"]  # waited for the writer's commit, then saw its row
    write_session_took = time.monotonic() - started
    writer.join(timeout=10)

    assert writer.errors == []
    assert read_only_took < 0.3
    assert write_session_took >= 0.4


# Bulk inserts ------------------------------------------------------------------------------------------


def test_bulk_insert_with_reserved_ids_keeps_every_value(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as session:  # a row numbered the usual way, by the database
        existing = session.execute(
            insert(record).values(name="already there", blob=b"")
        ).inserted_primary_key[0]
    at = datetime(2026, 11, 28, 20, 30, 15, 123456, tzinfo=SHANGHAI)
    rows = [
        {"name": f"名{i}", "at": at + timedelta(days=i) if i % 3 else None, "blob": bytes([i, 0, 255]) * i}
        for i in range(250)
    ]
    with transaction(factory) as session:
        ids = reserve_ids(session, record.c.id, len(rows))
        assert len(set(ids)) == len(rows) and existing not in ids
        bulk_insert(session, record, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
        bulk_insert(
            session, document, [{"id": i, "body": {"名": i, "list": [1, None, "x"]}} for i in ids[:3]]
        )
    with factory() as session:
        stored = {r.id: r for r in session.execute(select(record).where(record.c.id != existing))}
        bodies = list(session.scalars(select(document.c.body).order_by(document.c.id)))
    assert [stored[i].name for i in ids] == [row["name"] for row in rows]
    assert [stored[i].blob for i in ids] == [row["blob"] for row in rows]
    assert [stored[i].at for i in ids] == [row["at"] for row in rows]  # the same instants, read back in UTC
    assert all(stored[i].at is None or stored[i].at.tzinfo == UTC for i in ids)
    assert bodies == [{"名": i, "list": [1, None, "x"]} for i in ids[:3]]


def test_a_failing_bulk_insert_leaves_nothing(engine: Engine) -> None:
    factory = make_session_factory(engine)
    rows = [{"id": i, "name": "n", "at": None, "blob": b"x"} for i in (1, 2, 3, 2)]  # 2 twice
    with pytest.raises(IntegrityError), transaction(factory) as session:
        bulk_insert(session, record, rows[:2])
        bulk_insert(session, record, rows[2:])
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(record)) == 0
