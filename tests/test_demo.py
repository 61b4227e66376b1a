"""`hub demo` on the embedded default: seeds, loads each department's data through its adapter, lists
what a newcomer needs, and a second run pushes nothing new."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo(cwd: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    command = [sys.executable, "-m", "hub.cli", "demo", "--seed-only", "--port", str(port)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def licences_by_department(cwd: Path) -> dict[str, int]:
    with sqlite3.connect(cwd / "var" / "hub.sqlite3") as connection:
        return dict(connection.execute("SELECT department_id, count(*) FROM licence GROUP BY department_id"))


def test_demo_loads_through_the_adapters_and_lists_what_to_try(tmp_path: Path) -> None:
    port = free_port()
    first = run_demo(tmp_path, port)
    assert first.returncode == 0, first.stderr[-3000:]
    listing = json.loads((tmp_path / "var" / "demo" / "credentials.json").read_text())
    assert {d["id"] for d in listing["departments"]} == {"zz-police", "zz-amr", "zz-civil"}
    assert {a["username"] for a in listing["admins"]} == {"city-admin", "city-admin-2", "jinshui-admin"}
    assert len(listing["holders"]["citizen_id_numbers"]) == 5 and listing["holders"]["business_usccs"]
    assert len(listing["sample_licence_ids"]) == 5
    counts = licences_by_department(tmp_path)
    assert set(counts) == {"zz-police", "zz-amr", "zz-civil"} and all(n > 0 for n in counts.values())

    second = run_demo(tmp_path, port)
    assert second.returncode == 0, second.stderr[-3000:]
    assert licences_by_department(tmp_path) == counts

    elsewhere = run_demo(tmp_path, free_port())
    assert elsewhere.returncode == 2 and "Use that port" in elsewhere.stdout
    assert (
        json.loads((tmp_path / "var" / "demo" / "credentials.json").read_text())["admins"]
        == listing["admins"]
    )
