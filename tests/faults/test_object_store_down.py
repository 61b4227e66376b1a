"""The S3 server stopped under the hub: an attachment upload is refused with a clear 503 problem in
bounded time and nothing is recorded; licences without attachments still go in; when the server is back
on the same address, uploads work again and what was stored before is still there. Counts are exact.

In ``make test`` the session's SeaweedFS is reached through a forwarder that is closed and reopened (the
shared server itself is left alone); in ``make soak`` a SeaweedFS of the test's own is stopped and
started again on the same ports with the same data folder."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hub.context import Hub, build_hub
from hub.main import create_app
from tests.factories import ID_CARD, Issuer, batch, create_issuer, issue, seed_catalog
from tests.faults.helpers import assert_problem, expected_rows, feed_rows
from tests.faults.proxy import Outage
from tests.fixtures.hub import make_settings
from tests.fixtures.seaweedfs import free_ports, minio_client, run_seaweedfs

pytestmark = pytest.mark.s3

# Connect timeout 3 s and two quick retries in storage.objects: a dead server is known within this.
OUTAGE_ANSWER_SECONDS = 15
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def png(tag: str) -> bytes:
    return PNG + tag.encode()


def upload(client: TestClient, police: Issuer, content: bytes) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    response = client.post(
        "/v1/attachments", content=content, headers={"content-type": "image/png", **police.headers}
    )
    seconds = time.monotonic() - started
    if response.status_code == 503:
        assert_problem(response, 503, "object store", "nothing was stored")
        assert response.headers["retry-after"].isdigit()
    return response.status_code, response.json(), seconds


def attachment_rows(hub: Hub) -> set[str]:
    with hub.engine.connect() as conn:
        return set(conn.execute(text("SELECT sha256 FROM attachment")).scalars())


def stored_objects(url: str) -> set[str]:
    client = minio_client(url)
    bucket = url.split("?")[0].rsplit("/", 1)[1]
    return {str(o.object_name) for o in client.list_objects(bucket_name=bucket, recursive=True)}


def push(client: TestClient, police: Issuer, sequence: int) -> list[str]:
    ids = [police.licence_id(ID_CARD) for _ in range(3)]
    body = batch(police, sequence, *[issue(police.credential(ID_CARD, licence_id=i)) for i in ids])
    response = client.post("/v1/licences/batch", json=body, headers=police.headers)
    assert response.status_code == 200 and response.json()["accepted"] == 3, response.text
    return [str(i) for i in ids]


class SharedServerOutage:
    """The session's SeaweedFS behind a forwarder that goes away and comes back (seconds)."""

    def __init__(self, bucket_url: str) -> None:
        parts = urlsplit(bucket_url)
        self.proxy = Outage((str(parts.hostname), int(parts.port or 80)))
        self.url = parts._replace(netloc=f"{parts.netloc.rsplit(':', 1)[0]}:{self.proxy.port}").geturl()
        self.direct = bucket_url

    def __enter__(self) -> SharedServerOutage:
        self.proxy.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proxy.down()

    def down(self) -> None:
        self.proxy.down()

    def up(self) -> None:
        self.proxy.up()


class OwnServerOutage:
    """A SeaweedFS of the test's own, stopped and started again on the same ports and data (~30 s)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.ports = workdir, free_ports()
        self.stack = contextlib.ExitStack()
        self.url = ""

    def __enter__(self) -> OwnServerOutage:
        self.up()
        self.direct = self.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def down(self) -> None:
        self.stack.close()

    def up(self) -> None:
        url = self.stack.enter_context(run_seaweedfs(self.workdir, self.ports))
        assert self.url in ("", url)
        self.url = url


@pytest.fixture(params=[pytest.param("shared", marks=()), pytest.param("own", marks=pytest.mark.soak)])
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedServerOutage | OwnServerOutage]:
    if request.param == "shared":
        with SharedServerOutage(request.getfixturevalue("s3_bucket_url")) as shared:
            yield shared
        return
    (tmp_path / "weed").mkdir()
    with OwnServerOutage(tmp_path / "weed") as own:
        yield own


def test_stopped_s3_refuses_uploads_cleanly_and_recovers(
    tmp_path: Path, outage: SharedServerOutage | OwnServerOutage
) -> None:
    first, second = png("first"), png("second")
    digest = {b: hashlib.sha256(b).hexdigest() for b in (first, second)}
    pushed: dict[int, list[str]] = {}
    settings = make_settings(f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path / "objects")
    hub = build_hub(settings.model_copy(update={"object_store_url": outage.url}))
    seed_catalog(hub)
    police = create_issuer(hub, "police")
    with TestClient(create_app(hub=hub), raise_server_exceptions=False) as client:
        status, body, _ = upload(client, police, first)
        assert status == 201, body
        pushed[1] = push(client, police, 1)
        assert attachment_rows(hub) == {digest[first]}
        assert stored_objects(outage.direct) == {f"sha256/{digest[first]}"}

        outage.down()
        # The server is gone (not paused): connections are refused.
        status, body, seconds = upload(client, police, second)
        assert status == 503, body
        assert seconds < OUTAGE_ANSWER_SECONDS, f"the refusal took {seconds:.1f}s"
        assert_problem(client.get("/readyz"), 503, "objects")
        # Licences without attachments do not need the object store.
        pushed[2] = push(client, police, 2)
        assert attachment_rows(hub) == {digest[first]}
        assert feed_rows(hub, police.id) == expected_rows(pushed)

        outage.up()
        assert client.get("/readyz").status_code == 200
        status, body, _ = upload(client, police, second)
        assert status == 201 and body["sha256"] == digest[second], body
        status, body, _ = upload(client, police, first)
        assert status == 201 and body["sha256"] == digest[first], body
        assert b"".join(hub.objects.open(digest[first])) == first
        assert attachment_rows(hub) == set(digest.values())
        assert stored_objects(outage.direct) == {f"sha256/{d}" for d in digest.values()}
        assert feed_rows(hub, police.id) == expected_rows(pushed)
    hub.close()
