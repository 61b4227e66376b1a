"""The local object store's disk full: an upload is refused with a 507 problem saying so, no partial
object or temporary file is left, no attachment row is written, the space of the refused upload is given
back, and licences still go in.

The hub runs as a uvicorn subprocess whose object folder is a 1 MiB tmpfs, mounted in a mount namespace
of its own (``unshare --user --map-root-user --mount``: no privilege needed where unprivileged user
namespaces are enabled, as on Debian and Ubuntu). The test reads that folder through
``/proc/<pid>/root``. If the namespace cannot be made, the test fails and says why."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from hub.context import Hub, build_hub
from tests.adapters.hub_server import free_port, server_environment
from tests.factories import ID_CARD, Issuer, batch, create_issuer, issue, seed_catalog
from tests.faults.helpers import assert_problem, expected_rows, feed_rows
from tests.fixtures.hub import make_settings

TMPFS_SIZE = "1m"
KIB = 1024
START_TIMEOUT_SECONDS = 30


def png(size: int, tag: str) -> bytes:
    head = b"\x89PNG\r\n\x1a\n" + tag.encode()
    return head + os.urandom(size - len(head))


def namespace_command(mount_point: Path) -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("`unshare` (util-linux) is needed to give the hub a small tmpfs of its own")
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "sh", "-c",
         f"mount -t tmpfs -o size={TMPFS_SIZE} tmpfs '{mount_point}'"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.fail(
            "cannot mount a tmpfs in a user and mount namespace (unprivileged user namespaces may be "
            f"disabled: sysctl kernel.unprivileged_userns_clone=1): {probe.stderr.strip()}"
        )
    script = f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "{mount_point}" && exec "$@"'
    return [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh"]


class FullDiskHub:
    """A hub server whose object folder is a tiny tmpfs, and the hub the test seeds through."""

    def __init__(self, tmp_path: Path) -> None:
        self.objects = tmp_path / "objects"
        self.objects.mkdir()
        settings = make_settings(f"sqlite:///{tmp_path / 'hub.sqlite3'}", self.objects)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hub: Hub = build_hub(settings.model_copy(update={"public_url": self.url}))
        seed_catalog(self.hub)
        self.log = tmp_path / "hub-server.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*namespace_command(self.objects), sys.executable, "-m", "uvicorn", "hub.main:create_app",
                 "--factory", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                cwd=tmp_path, env=server_environment(self.hub.settings), stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert self.process.poll() is None, f"hub server exited:\n{self.log_tail()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"hub server not ready:\n{self.log_tail()}"
            time.sleep(0.05)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    @property
    def seen_by_server(self) -> Path:
        """The object folder as the server sees it: the tmpfs, not the empty folder under it."""
        return Path(f"/proc/{self.process.pid}/root") / str(self.objects).lstrip("/")

    def files(self) -> dict[str, int]:
        root = self.seen_by_server
        return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.hub.close()


@pytest.fixture
def full_disk_hub(tmp_path: Path) -> Iterator[FullDiskHub]:
    server = FullDiskHub(tmp_path)
    yield server
    server.close()


def upload(server: FullDiskHub, police: Issuer, content: bytes) -> httpx.Response:
    headers = {"content-type": "image/png", **police.headers}
    return httpx.post(f"{server.url}/v1/attachments", content=content, headers=headers, timeout=30)


def attachment_rows(hub: Hub) -> set[str]:
    with hub.engine.connect() as conn:
        return set(conn.execute(text("SELECT sha256 FROM attachment")).scalars())


def object_files(sha256: str) -> set[str]:
    path = f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"
    return {path, f"{path}.meta.json"}


def test_full_object_disk_refuses_with_507_and_leaves_nothing_half_written(
    full_disk_hub: FullDiskHub,
) -> None:
    server, hub = full_disk_hub, full_disk_hub.hub
    police = create_issuer(hub, "police")
    assert server.files() == {}, "the server does not see its own tmpfs"
    big, second_big, small = png(600 * KIB, "a"), png(600 * KIB, "b"), png(200 * KIB, "c")
    digest = {b: hashlib.sha256(b).hexdigest() for b in (big, second_big, small)}

    first = upload(server, police, big)
    assert first.status_code == 201, first.text
    before = server.files()
    stored = before[f"sha256/{digest[big][:2]}/{digest[big][2:4]}/{digest[big]}"]
    # Sealed at rest: the plaintext plus a header, nonce and tag of under a hundred bytes.
    assert set(before) == object_files(digest[big]) and len(big) < stored < len(big) + 100
    assert attachment_rows(hub) == {digest[big]}

    refused = upload(server, police, second_big)
    problem = assert_problem(refused, 507, "out of space", "nothing was stored")
    assert problem["errors"] == [{"field": "body", "reason": "no room in the object store"}]
    assert server.files() == before, "a partial object or temporary file was left behind"
    assert attachment_rows(hub) == {digest[big]}
    assert server.process.poll() is None, f"the server died:\n{server.log_tail()}"

    # The refused upload's space was given back: a file that fits in what is left goes in.
    fits = upload(server, police, small)
    assert fits.status_code == 201, fits.text
    assert set(server.files()) == object_files(digest[big]) | object_files(digest[small])
    assert attachment_rows(hub) == {digest[big], digest[small]}

    # Licences do not live in the object store.
    ids = [police.licence_id(ID_CARD) for _ in range(3)]
    body = batch(police, 1, *[issue(police.credential(ID_CARD, licence_id=i)) for i in ids])
    pushed = httpx.post(f"{server.url}/v1/licences/batch", json=body, headers=police.headers, timeout=30)
    assert pushed.status_code == 200 and pushed.json()["accepted"] == 3, pushed.text
    assert feed_rows(hub, police.id) == expected_rows({1: [str(i) for i in ids]})
