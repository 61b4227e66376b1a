"""A hub killed with SIGKILL in the middle of a large batch leaves it wholly present or wholly absent,
and replaying the same sequence afterwards completes it with no duplicate version (DESIGN 5.1).

The real server runs as a subprocess (uvicorn), so the kill is a real crash: no ``finally`` block, no
rollback, no connection shutdown. On PostgreSQL the kill lands once the server's transaction holds a
write lock on ``licence`` (its rows are being written, not yet committed); on SQLite it lands while the
server's ``BEGIN IMMEDIATE`` write lock is held, after a delay that shrinks from attempt to attempt. An
attempt whose kill came after the commit still checks the invariant and the replay; the test needs at
least one attempt whose kill came before the commit.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hub.context import Hub, build_hub
from hub.settings import Settings
from tests.factories import ID_CARD, batch, create_issuer, issue, seed_catalog
from tests.fixtures.hub import make_settings
from tests.fixtures.postgres import create_database, drop_database, libpq_url

pytestmark = pytest.mark.slow

BATCH_SIZE = 1000
ATTEMPTS = 4
START_TIMEOUT_SECONDS = 30
# SQLite: how long after the server took the write lock to kill it, one entry per attempt.
SQLITE_KILL_DELAYS = (0.45, 0.3, 0.15, 0.0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """One uvicorn process serving the hub on a free port."""

    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        log = self.workdir / f"server-{self.starts}.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"

    def start(self) -> None:
        self.starts += 1
        self.port = _free_port()
        log = (self.workdir / f"server-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "hub.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"hub server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"hub server not ready within {START_TIMEOUT_SECONDS}s:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@dataclass
class Backend:
    name: str
    url: str
    kill_delays: tuple[float, ...]

    @contextmanager
    def writing_probe(self) -> Iterator[Callable[[], bool]]:
        """A check that is true while the server's transaction is writing (see the module docstring)."""
        if self.name == "postgres":
            writing, close = _pg_writing_probe(self.url)
        else:
            writing, close = _sqlite_writing_probe(Path(make_url(self.url).database or ""))
        try:
            yield writing
        finally:
            close()


def _pg_writing_probe(url: str) -> tuple[Callable[[], bool], Callable[[], None]]:
    conn = psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5)
    query = """
        SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND c.relname = 'licence' AND l.mode = 'RowExclusiveLock' AND l.granted
          AND l.pid <> pg_backend_pid()
    """

    def writing() -> bool:
        row = conn.execute(query).fetchone()
        return bool(row and row[0])

    return writing, conn.close


def _sqlite_writing_probe(path: Path) -> tuple[Callable[[], bool], Callable[[], None]]:
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)

    def writing() -> bool:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc), exc
            return True
        conn.execute("ROLLBACK")
        return False

    return writing, conn.close


@pytest.fixture(params=["postgres", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'hub.sqlite3'}", SQLITE_KILL_DELAYS)
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"hub_crash_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name)
    try:
        yield Backend("postgres", url, (0.0,) * ATTEMPTS)
    finally:
        drop_database(admin_url, name)


def server_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a server process the same settings (and secrets) as ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    for name, value in settings.model_dump(mode="json").items():
        if value is not None and not isinstance(value, list | dict):
            env[f"HUB_{name.upper()}"] = str(value)
    env["HUB_LOG_LEVEL"] = "WARNING"
    return env


@contextmanager
def running_hub(backend: Backend, tmp_path: Path) -> Iterator[tuple[Hub, Server]]:
    """The hub the test seeds through, and a server on the same database with the same secrets."""
    settings = make_settings(backend.url, tmp_path / "objects", max_batch_operations=BATCH_SIZE)
    hub = build_hub(settings)
    seed_catalog(hub)
    server = Server(env=server_env(settings), workdir=tmp_path)
    try:
        yield hub, server
    finally:
        server.kill()
        hub.close()


@dataclass(frozen=True)
class FeedState:
    licences: int
    versions: int
    distinct_versions: int
    last_sequence: int
    stored_batches: int


def feed_state(hub: Hub, department: str) -> FeedState:
    with hub.engine.connect() as conn:
        params = {"d": department}
        licences = conn.execute(text("SELECT count(*) FROM licence WHERE department_id = :d"), params)
        versions = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT v.licence_pk || '/' || v.version) FROM licence_version v "
                "JOIN licence l ON l.id = v.licence_pk WHERE l.department_id = :d"
            ),
            params,
        ).one()
        last = conn.execute(text("SELECT last_sequence FROM feed WHERE department_id = :d"), params)
        batches = conn.execute(text("SELECT count(*) FROM feed_batch WHERE department_id = :d"), params)
        return FeedState(
            licences=licences.scalar_one(),
            versions=versions[0],
            distinct_versions=versions[1],
            last_sequence=last.scalar_one_or_none() or 0,
            stored_batches=batches.scalar_one(),
        )


ABSENT = FeedState(0, 0, 0, 0, 0)
PRESENT = FeedState(BATCH_SIZE, BATCH_SIZE, BATCH_SIZE, 1, 1)


def post_in_background(
    url: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["response"] = httpx.post(
                f"{url}/v1/licences/batch", json=body, headers=headers, timeout=60
            )
        except httpx.TransportError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def kill_mid_batch(
    server: Server, writing: Callable[[], bool], body: dict[str, Any], headers: dict[str, str], delay: float
) -> dict[str, Any]:
    """Post ``body`` and SIGKILL the server ``delay`` seconds after its transaction is seen writing
    (or at once if the request ended before it was seen: that attempt then counts as after-commit)."""
    thread, outcome = post_in_background(server.url, body, headers)
    deadline = time.monotonic() + 30
    while thread.is_alive() and not writing():
        assert time.monotonic() < deadline, (
            f"the server never started writing the batch:\n{server.log_tail()}"
        )
        time.sleep(0.001)
    if thread.is_alive():
        time.sleep(delay)
    server.kill()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return outcome


def test_sigkill_mid_batch_leaves_all_or_nothing_and_replay_completes(
    backend: Backend, tmp_path: Path
) -> None:
    outcomes: list[str] = []
    started = time.monotonic()
    with running_hub(backend, tmp_path) as (hub, server), backend.writing_probe() as writing:
        server.start()
        for attempt, delay in enumerate(backend.kill_delays[:ATTEMPTS]):
            police = create_issuer(hub, "police", id=f"zz-police-{attempt}")
            ids = [police.licence_id(ID_CARD) for _ in range(BATCH_SIZE)]
            body = batch(police, 1, *[issue(police.credential(ID_CARD, licence_id=i)) for i in ids])

            outcome = kill_mid_batch(server, writing, body, police.headers, delay)

            after_kill = feed_state(hub, police.id)
            assert after_kill in (ABSENT, PRESENT), f"attempt {attempt}: partial batch {after_kill}"
            committed = after_kill == PRESENT
            if not committed:
                assert "response" not in outcome, "the client got an answer for a batch that is absent"
            outcomes.append("after-commit" if committed else "before-commit")

            server.start()
            replay = httpx.post(
                f"{server.url}/v1/licences/batch", json=body, headers=police.headers, timeout=60
            )
            assert replay.status_code == 200, replay.text
            result = replay.json()
            assert result["replayed"] is committed
            assert result["accepted"] == BATCH_SIZE and result["rejected"] == 0
            assert [r["licence_id"] for r in result["results"]] == [str(i) for i in ids]
            assert feed_state(hub, police.id) == PRESENT
            with hub.engine.connect() as conn:
                stored = conn.execute(
                    text(
                        "SELECT v.licence_id, v.version FROM licence_version v "
                        "JOIN licence l ON l.id = v.licence_pk WHERE l.department_id = :d"
                    ),
                    {"d": police.id},
                ).all()
            assert sorted(stored) == sorted((str(i), 1) for i in ids)
            cursor = httpx.get(
                f"{server.url}/v1/feeds/{police.id}/cursor", headers=police.headers, timeout=10
            ).json()
            assert cursor["last_sequence"] == 1

            if not committed:
                break
    elapsed = time.monotonic() - started
    assert "before-commit" in outcomes, f"no kill landed before the commit in {len(outcomes)} attempts"
    print(f"{backend.name}: kills {outcomes} in {elapsed:.1f}s")
