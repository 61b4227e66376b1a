"""Database engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on. A writing transaction starts with ``BEGIN IMMEDIATE``
so that two writers queue on the lock instead of failing half-way with "database is locked"; a session
made with ``read_only=True`` starts a deferred transaction, which in WAL mode never waits for a writer.
PostgreSQL runs through psycopg 3 with a connection pool and ``pool_pre_ping`` so a restarted server
costs one retry.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Engine, Table, create_engine, event, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg 3 whatever driver the operator wrote."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


# Seconds a new PostgreSQL connection may take: an unreachable server fails the request in bounded time
# (503) instead of waiting for the operating system's TCP timeout.
CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False, pool_timeout: float = 10.0) -> Engine:
    """Create an engine with the settings each backend needs to be safe under concurrent writers."""
    url = normalise_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size
        )
        _configure_sqlite(engine)
        return engine
    kwargs: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_pre_ping": True,
        "pool_timeout": pool_timeout,
        "connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    }
    return create_engine(url, echo=echo, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for units of work; ``read_only`` ones never take SQLite's write lock."""
    bind = engine.execution_options(read_only=True) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def plan_each_execution(session: Session) -> None:
    """Until the session's transaction ends, have every statement planned for the values it runs with.

    psycopg prepares a statement once it has run five times, and PostgreSQL may then keep one generic
    plan for it, made for what the tables held at that moment. A bulk writer's tables grow fast: ingest's
    probe of used status-list slots, planned generically against a young table, kept a sequential scan as
    the table grew, 17 ms a probe at 10,000 licences and rising. Planning a simple statement costs a
    fraction of a millisecond. Other databases plan each statement anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def reserve_ids(session: Session, column: Column[int], count: int) -> list[int]:
    """``count`` unused values of the integer primary key ``column``, so that rows can be written with
    their ids known beforehand (and bulk-copied, without ``RETURNING``). Like the column's own default,
    it knows only ids it gave out: a loader writing ids of its own must move the sequence past them.

    PostgreSQL draws them from the column's sequence. On SQLite a writing transaction holds the database
    lock from ``BEGIN IMMEDIATE`` on, so the ids after the largest one stay free until it ends."""
    if count <= 0:
        return []
    table = column.table
    if session.get_bind().dialect.name == "postgresql":
        # The sequence is looked up once (MATERIALIZED): inlined, the lookup ran for every id, 3 ms a 500.
        stmt = text(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(:table, :column)::regclass AS sequence)"
            " SELECT nextval(s.sequence) FROM s, generate_series(1, :count)"
        )
        params = {"table": table.name, "column": column.name, "count": count}
        return [int(v) for v in session.scalars(stmt, params)]
    largest = session.scalar(select(column).order_by(column.desc()).limit(1)) or 0
    return list(range(largest + 1, largest + 1 + count))


def bulk_insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows, all with the same keys, in the session's transaction.

    PostgreSQL gets them through a binary ``COPY … FROM STDIN``: one stream instead of statements
    carrying thousands of bound parameters, several times cheaper for both the driver and the server.
    Each value first goes through its column type's bind processing, as in any statement. Other
    databases get an ``executemany``."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(insert(table), list(rows))
        return
    names = tuple(rows[0])
    processors = [_copy_processor(table.c[name].type, dialect) for name in names]
    statement, copy_types = _copy_statement(table, names, dialect)
    driver = connection.connection.driver_connection
    assert driver is not None
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            if copy_types:
                copy.set_types(copy_types)
            for row in rows:
                copy.write_row(
                    [
                        value if value is None or process is None else process(value)
                        for value, process in zip((row[name] for name in names), processors, strict=True)
                    ]
                )
    except dbapi_error as error:
        # As SQLAlchemy reports any statement's failure (IntegrityError, OperationalError …), so that
        # callers and the error handlers see one kind of exception whichever way the rows went in.
        raise DBAPIError.instance(statement, None, error, dbapi_error, dialect=dialect) from error


def _copy_processor(column_type: Any, dialect: Any) -> Any:
    """What turns a value into what COPY writes: the type's bind processing, and for JSON its text (in a
    statement psycopg would wrap the object itself; a COPY row takes the text)."""
    if isinstance(column_type, JSON):
        return getattr(dialect, "_json_serializer", None) or json.dumps
    return column_type.bind_processor(dialect)


# Column types whose bind-processed Python values psycopg writes in binary as they are. JSON is not one:
# its bind processing makes a string, which a binary json dumper would encode a second time.
_BINARY_COPY_TYPES = frozenset(
    {
        "varchar",
        "character varying",
        "text",
        "char",
        "integer",
        "bigint",
        "smallint",
        "boolean",
        "bytea",
        "timestamp with time zone",
        "timestamp without time zone",
        "timestamp",
        "date",
        "double precision",
        "real",
        "uuid",
    }
)


@lru_cache(maxsize=256)
def _copy_statement(table: Table, names: tuple[str, ...], dialect: Any) -> tuple[str, list[str] | None]:
    """The COPY statement for these columns: binary, with the columns' PostgreSQL type names, when every
    type is one psycopg writes in binary as it is; text otherwise, which needs no types."""
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in names)
    head = f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN"
    type_names = [
        table.c[name].type.compile(dialect=dialect).split("(", 1)[0].strip().lower() for name in names
    ]
    if all(name in _BINARY_COPY_TYPES for name in type_names):
        return head + " (FORMAT BINARY)", type_names
    return head, None


def insert_ignoring_conflicts(session: Session, table: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on either backend."""
    make = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(make(table).on_conflict_do_nothing(), list(rows))


def lock(session: Session, name: str) -> None:
    """A lock held until the transaction ends. PostgreSQL: an advisory lock; SQLite needs none, since a
    writing transaction there holds the database's write lock from its ``BEGIN IMMEDIATE``."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(name.encode())})
