"""A real hub server for the benchmark: a fresh database (SQLite file or a new PostgreSQL database) and
``uvicorn`` with one worker, started as a subprocess on a free loopback port, as ``hub serve`` runs it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from hub.settings import Settings

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_admin_url() -> str:
    return os.environ.get("HUB_BENCH_DATABASE_URL", DEFAULT_PG_ADMIN_URL)


def libpq(url: str) -> str:
    """The SQLAlchemy URL as psycopg (libpq) takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def postgres_version(admin_url: str) -> str:
    """The server's version and the settings that decide commit cost."""
    with psycopg.connect(libpq(admin_url), connect_timeout=5, autocommit=True) as conn:
        shown = {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        }
    version = shown.pop("server_version")
    return f"{version} ({', '.join(f'{k}={v}' for k, v in shown.items())})"


@contextlib.contextmanager
def postgres_database(admin_url: str, prefix: str = "bench") -> Iterator[str]:
    """Create ``<prefix>_<random>`` on the admin URL's server, yield its SQLAlchemy URL, drop it after."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        conn = psycopg.connect(libpq(admin_url), connect_timeout=5, autocommit=True)
    except psycopg.Error as exc:
        raise RuntimeError(
            f"cannot reach PostgreSQL at {_shown(admin_url)} (set HUB_BENCH_DATABASE_URL): {exc}"
        ) from None
    with conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq(admin_url), connect_timeout=5, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@contextlib.contextmanager
def database(backend: str, workdir: Path, admin_url: str) -> Iterator[str]:
    """A fresh database of the backend, as a SQLAlchemy URL: a SQLite file in ``workdir``, or a new
    PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'hub.sqlite3'}"
    elif backend == "postgres":
        with postgres_database(admin_url) as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}")


def generate_secrets() -> dict[str, str]:
    """Fresh secrets from `hub keys generate-secrets`, so that every secret the hub demands is set."""
    from typer.testing import CliRunner

    from hub.cli import app

    result = CliRunner().invoke(app, ["keys", "generate-secrets", "--kid", "bench1"])
    if result.exit_code != 0:
        raise RuntimeError(f"`hub keys generate-secrets` failed: {result.output}")
    found = dict(
        line.split("=", 1) for line in result.output.splitlines() if line.startswith("HUB_") and "=" in line
    )
    if not found:
        raise RuntimeError(f"`hub keys generate-secrets` printed no HUB_ settings: {result.output!r}")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerConfig:
    """What the hub process is told through ``HUB_*`` variables; built once per backend."""

    database_url: str
    object_dir: Path
    var_dir: Path
    port: int
    secrets: dict[str, str]  # HUB_* name -> value, as `hub keys generate-secrets` prints them
    log_level: str = "INFO"

    @classmethod
    def fresh(cls, database_url: str, workdir: Path) -> ServerConfig:
        return cls(
            database_url=database_url,
            object_dir=workdir / "objects",
            var_dir=workdir / "var",
            port=free_port(),
            secrets=generate_secrets(),
        )

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        self.object_dir.mkdir(parents=True, exist_ok=True)
        return {
            "HUB_DEMO": "false",
            "HUB_DATABASE_URL": self.database_url,
            "HUB_OBJECT_STORE_URL": self.object_dir.resolve().as_uri(),
            "HUB_PUBLIC_URL": self.public_url,
            **self.secrets,
            "HUB_VAR_DIR": str(self.var_dir),
            "HUB_LOG_LEVEL": self.log_level,
        }

    def settings(self) -> Settings:
        """The same settings in-process, for seeding and profiling against the same database."""
        self.object_dir.mkdir(parents=True, exist_ok=True)
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            demo=False,
            database_url=self.database_url,
            object_store_url=self.object_dir.resolve().as_uri(),
            public_url=self.public_url,
            **{name.removeprefix("HUB_").lower(): value for name, value in self.secrets.items()},
            var_dir=self.var_dir,
            log_level=self.log_level,
        )


ROOT = Path(__file__).resolve().parent.parent
HUB_APP = "hub.main:create_app"


def worker_count() -> int:
    """uvicorn workers of every server the benchmark starts (``HUB_BENCH_WORKERS``, default 1)."""
    return int(os.environ.get("HUB_BENCH_WORKERS", "1"))


class HubServer:
    """``uvicorn hub.main:create_app --factory --workers 1`` with the config's environment.

    ``app`` starts another ASGI factory with the very same command line and environment (the benchmark's
    bare endpoint, ``bench.bare_app``); ``extra_env`` adds variables for it. ``port`` defaults to the
    config's."""

    def __init__(
        self,
        config: ServerConfig,
        log_path: Path,
        *,
        app: str = HUB_APP,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.log_path = log_path
        self.app = app
        self.port = port or config.port
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The uvicorn command line: identical for every app but for the app's import path and the port."""
        return [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--factory",
            "--app-dir",
            str(ROOT),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(worker_count()),
            "--log-level",
            self.config.log_level.lower(),
            "--no-access-log",
        ]

    def start(self, timeout: float = 60.0, poll_s: float = 0.1) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        if "HUB_BENCH_INGEST_WORKERS" in os.environ:  # the check pool's size; default: the hub's own
            env["HUB_INGEST_WORKERS"] = os.environ["HUB_BENCH_INGEST_WORKERS"]
        env.update(self.config.env())
        env.update(self.extra_env)
        command = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        # A .env in the working directory must not leak into the server: run it from the log's folder.
        self.process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_path.parent
        )
        log.close()
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"hub server exited early; log:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/readyz").status_code == 200:
                        return
                time.sleep(poll_s)
        self.stop()
        raise RuntimeError(f"hub server not ready after {timeout:.0f} s; log:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def wait_responsive(self, timeout: float = 90.0, path: str = "/readyz") -> float | None:
        """Seconds until ``path`` (which needs a database connection) answers 200 again after an overload,
        or None if it did not within ``timeout``. One probe at a time, so probes do not pile up."""
        started = time.monotonic()
        while (left := timeout - (time.monotonic() - started)) > 0:
            with contextlib.suppress(httpx.HTTPError), httpx.Client(base_url=self.base_url) as client:
                if client.get(path, timeout=max(0.5, min(20.0, left))).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.2)
        return None

    def log_problems(self, top: int = 8) -> list[dict[str, object]]:
        """Warnings and errors in the server's log, counted by event (JSON lines) and by the exception
        that ended each traceback: what the server said about failed requests."""
        counts: dict[str, int] = {}
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        for line in lines:
            key = None
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if str(record.get("level", "")).lower() in ("warning", "error", "critical"):
                    key = f"{record.get('level')}: {record.get('event') or record.get('message')}"
                    exc = record.get("exc") or record.get("exc_info") or ""
                    if isinstance(exc, str) and exc.strip():
                        key += " — " + exc.strip().splitlines()[-1][:200]
            elif line.startswith(("ERROR:", "WARNING:", "CRITICAL:")):  # uvicorn's own plain lines
                key = " ".join(line.split())[:200]
            if key:
                counts[key] = counts.get(key, 0) + 1
        return [{"what": k, "count": n} for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]]

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> HubServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
