"""The demo's data arrives as it would in production: each department's adapter, run as its own
process with the department's keys, generates a sample export of its system (one shared, deterministic
Zhengzhou population) and syncs it into the running hub over HTTP, through the real token endpoint.

The hub never imports the adapters: they are separate programs that talk to it over HTTP only."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("hub.demo")

CITIZENS = 200
SEED = 2016


def _run(args: list[str], *, cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(args[:2])}` failed:\n{result.stderr[-2000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _registry_stand_in(snapshot: Path, cwd: Path) -> Iterator[str]:
    """The market-regulation registry's API is not ours: the commerce adapter's stand-in serves it."""
    port = _free_port()
    command = [sys.executable, "-m", "adapters.commerce", "serve", "--snapshot", str(snapshot)]
    process = subprocess.Popen(
        [*command, "--port", str(port)], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url + "/enterprises?page_size=1", timeout=1)
                break
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def load_through_adapters(
    hub_url: str, var_dir: Path, departments: list[dict[str, Any]], clients: list[dict[str, Any]]
) -> None:
    """Generate each department's sample source and sync it with that department's adapter."""
    var_dir = var_dir.resolve()
    sources = var_dir / "demo" / "sources"
    keys = var_dir / "demo" / "keys"
    states = var_dir / "demo" / "adapters"
    states.mkdir(parents=True, exist_ok=True)
    client_of = {c["department"]: c for c in clients if c.get("department")}
    modules = {
        "police": "adapters.police",
        "commerce": "adapters.commerce",
        "civil_affairs": "adapters.civil_affairs",
    }
    for department in departments:
        module = modules[department["kind"]]
        out = sources / department["kind"]
        if not out.exists():
            _run(
                [module, "generate", "--out", str(out), "--citizens", str(CITIZENS), "--seed", str(SEED)],
                cwd=var_dir,
            )
        client = client_of[department["id"]]
        common = [
            "--hub",
            hub_url,
            "--client-id",
            client["client_id"],
            "--department",
            department["id"],
            "--key",
            str(keys / f"{department['id']}.private.jwk.json"),
            "--client-key",
            client["private_key_file"],
            "--state",
            str(states / f"{department['id']}.sqlite3"),
        ]
        if department["kind"] == "commerce":
            with _registry_stand_in(out, var_dir) as registry:
                _run([module, "sync", "--source", registry, *common], cwd=var_dir)
        else:
            _run([module, "sync", "--source", str(out), *common], cwd=var_dir)
        log.info("demo.adapter.synced", extra={"department": department["id"]})
