"""One contract for every object store backend, plain and sealing, plus what only one backend promises.

What sealing adds (ciphertext at rest, integrity, reseal) is in ``test_sealed_objects.py``."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, cast

import httpx
import pytest

from storage.objects import (
    CHUNK_SIZE,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    ObjectTooLarge,
    S3ObjectStore,
    StoredObject,
    object_store_from_url,
)
from storage.sealing import Keyring
from tests.fixtures.seaweedfs import minio_client

LIMIT = 64 * 1024 * 1024
MISSING = "0" * 64
BAD_DIGESTS = [
    "",
    "../../../../etc/passwd",
    "A" * 64,
    "a" * 63,
    "a" * 65,
    "g" * 64,
    "sha256:" + "a" * 64,
    "a" * 62 + "/x",
]


class CountingReader(io.RawIOBase):
    """A stream that records how much it was asked for; endless zeros if ``data`` is None."""

    def __init__(self, data: bytes | None) -> None:
        self._data = io.BytesIO(data) if data is not None else None
        self.largest_read = 0
        self.total_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size > 0, "the store must read in bounded chunks"
        self.largest_read = max(self.largest_read, size)
        chunk = self._data.read(size) if self._data is not None else b"\0" * size
        self.total_read += len(chunk)
        return chunk


KEYRING = Keyring.from_spec(Keyring.generate_spec("contract"))


@pytest.fixture(
    params=[
        "local",
        "local-sealed",
        pytest.param("s3", marks=pytest.mark.s3),
        pytest.param("s3-sealed", marks=pytest.mark.s3),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param.startswith("local"):
        return (tmp_path / "objects").as_uri()
    return str(request.getfixturevalue("s3_bucket_url"))


@pytest.fixture
def store(store_url: str, request: pytest.FixtureRequest) -> ObjectStore:
    sealed = request.node.callspec.params["store_url"].endswith("-sealed")
    return object_store_from_url(store_url, keyring=KEYRING if sealed else None)


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


@pytest.fixture
def s3_store(s3_bucket_url: str) -> ObjectStore:
    return object_store_from_url(s3_bucket_url)


def put_bytes(store: ObjectStore, data: bytes, media_type: str = "application/pdf") -> StoredObject:
    return store.put(io.BytesIO(data), media_type=media_type, max_bytes=LIMIT)


def read_all(store: ObjectStore, sha256: str) -> bytes:
    return b"".join(store.open(sha256))


# --- the contract --------------------------------------------------------------------------------


def test_round_trip_keeps_bytes_and_media_type(store: ObjectStore) -> None:
    data = b"%PDF-1.7 licence scan"

    stored = put_bytes(store, data, "application/pdf")

    assert stored == StoredObject(
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), media_type="application/pdf"
    )
    assert store.stat(stored.sha256) == stored
    assert read_all(store, stored.sha256) == data


def test_media_type_parameters_survive(store: ObjectStore) -> None:
    stored = put_bytes(store, "许可证".encode(), "text/plain; charset=utf-8")

    assert store.stat(stored.sha256) == StoredObject(stored.sha256, 9, "text/plain; charset=utf-8")


def test_empty_object(store: ObjectStore) -> None:
    stored = store.put(io.BytesIO(b""), media_type="application/octet-stream", max_bytes=0)

    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert stored.size == 0
    assert read_all(store, stored.sha256) == b""


def test_digest_is_sha256_of_the_content(store: ObjectStore) -> None:
    data = os.urandom(4096)

    stored = put_bytes(store, data)

    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == 4096


def test_put_is_idempotent_and_first_media_type_wins(store: ObjectStore) -> None:
    data = b"same content twice"

    first = put_bytes(store, data, "image/png")
    second = put_bytes(store, data, "image/jpeg")

    assert second == first
    assert store.stat(first.sha256) == first


def test_streams_a_multi_mib_object_in_chunks(store: ObjectStore) -> None:
    data = os.urandom(6 * 1024 * 1024 + 123)
    reader = CountingReader(data)
    stream = cast(BinaryIO, reader)

    stored = store.put(stream, media_type="application/octet-stream", max_bytes=LIMIT)
    chunks = list(store.open(stored.sha256))

    assert stored == StoredObject(hashlib.sha256(data).hexdigest(), len(data), "application/octet-stream")
    assert reader.largest_read <= CHUNK_SIZE
    assert len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) <= CHUNK_SIZE
    assert b"".join(chunks) == data


def test_exactly_max_bytes_is_accepted(store: ObjectStore) -> None:
    data = b"x" * 1000

    stored = store.put(io.BytesIO(data), media_type="text/plain", max_bytes=1000)

    assert stored.size == 1000


def test_too_large_stores_nothing(store: ObjectStore) -> None:
    data = b"y" * 1001

    with pytest.raises(ObjectTooLarge) as raised:
        store.put(io.BytesIO(data), media_type="text/plain", max_bytes=1000)

    assert raised.value.limit == 1000
    assert store.stat(hashlib.sha256(data).hexdigest()) is None
    assert store.stat(hashlib.sha256(data[:1000]).hexdigest()) is None


def test_too_large_stops_reading_an_endless_stream(store: ObjectStore) -> None:
    endless = CountingReader(None)
    stream = cast(BinaryIO, endless)

    with pytest.raises(ObjectTooLarge):
        store.put(stream, media_type="application/octet-stream", max_bytes=3 * CHUNK_SIZE)

    assert endless.total_read == 3 * CHUNK_SIZE + 1


def test_stat_of_missing_object_is_none(store: ObjectStore) -> None:
    assert store.stat(MISSING) is None


def test_open_of_missing_object_raises_at_once(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        store.open(MISSING)

    assert raised.value.sha256 == MISSING


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_invalid_digest_is_rejected(store: ObjectStore, digest: str) -> None:
    with pytest.raises(ValueError):
        store.stat(digest)
    with pytest.raises(ValueError):
        store.open(digest)
    with pytest.raises(ValueError):
        store.delete(digest)
    with pytest.raises(ValueError):
        store.presigned_url(digest, expires=timedelta(minutes=1))


@pytest.mark.parametrize("media_type", ["", "pdf", "text/plain\r\nX-Evil: 1"])
def test_invalid_media_type_is_rejected(store: ObjectStore, media_type: str) -> None:
    with pytest.raises(ValueError):
        store.put(io.BytesIO(b"data"), media_type=media_type, max_bytes=LIMIT)


def test_delete_removes_the_object_and_is_idempotent(store: ObjectStore) -> None:
    stored = put_bytes(store, b"to be deleted")

    store.delete(stored.sha256)
    store.delete(stored.sha256)

    assert store.stat(stored.sha256) is None
    with pytest.raises(ObjectNotFound):
        store.open(stored.sha256)


def test_deleted_object_can_be_stored_again(store: ObjectStore) -> None:
    stored = put_bytes(store, b"comes back")
    store.delete(stored.sha256)

    again = put_bytes(store, b"comes back")

    assert again == stored
    assert read_all(store, stored.sha256) == b"comes back"


def test_closing_an_unread_stream_is_safe(store: ObjectStore) -> None:
    stored = put_bytes(store, b"abc" * 1000)

    chunks = store.open(stored.sha256)
    chunks.close()  # type: ignore[attr-defined]

    assert list(chunks) == []


def test_ping_succeeds(store: ObjectStore) -> None:
    store.ping()


# --- local folder ------------------------------------------------------------------------------


def test_local_has_no_presigned_url(local_store: LocalObjectStore) -> None:
    stored = put_bytes(local_store, b"stream me instead")

    assert local_store.presigned_url(stored.sha256, expires=timedelta(minutes=5)) is None


def test_local_layout_fans_out_with_a_sidecar(local_store: LocalObjectStore) -> None:
    stored = put_bytes(local_store, b"where does it go")
    hex_ = stored.sha256
    folder = local_store.root / "sha256" / hex_[:2] / hex_[2:4]

    assert sorted(p.name for p in folder.iterdir()) == [hex_, f"{hex_}.meta.json"]
    assert (folder / hex_).read_bytes() == b"where does it go"
    assert list((local_store.root / "tmp").iterdir()) == []


def test_local_second_put_does_not_rewrite(local_store: LocalObjectStore) -> None:
    stored = put_bytes(local_store, b"written once")
    path = local_store.root / "sha256" / stored.sha256[:2] / stored.sha256[2:4] / stored.sha256
    before = path.stat()

    put_bytes(local_store, b"written once")

    assert path.stat().st_ino == before.st_ino
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert list((local_store.root / "tmp").iterdir()) == []


def test_local_too_large_leaves_no_temp_file(local_store: LocalObjectStore) -> None:
    with pytest.raises(ObjectTooLarge):
        local_store.put(io.BytesIO(b"z" * 10), media_type="text/plain", max_bytes=9)

    assert list((local_store.root / "tmp").iterdir()) == []
    assert not (local_store.root / "sha256").exists()


def test_local_ping_fails_when_the_folder_is_gone(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    (store.root / "tmp").rmdir()
    store.root.rmdir()

    with pytest.raises(ObjectStoreError):
        store.ping()


# --- S3 ----------------------------------------------------------------------------------------


@pytest.mark.s3
def test_s3_presigned_url_serves_the_bytes(s3_store: ObjectStore) -> None:
    data = os.urandom(2048)
    stored = put_bytes(s3_store, data, "image/png")

    url = s3_store.presigned_url(stored.sha256, expires=timedelta(minutes=5))

    assert url is not None
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/png"


@pytest.mark.s3
def test_s3_stores_under_content_address_with_content_type(s3_bucket_url: str) -> None:
    store = object_store_from_url(s3_bucket_url)
    stored = put_bytes(store, b"where in the bucket", "application/json")
    client = minio_client(s3_bucket_url)
    assert isinstance(store, S3ObjectStore)

    info = client.stat_object(bucket_name=store.bucket, object_name=f"sha256/{stored.sha256}")

    assert info.content_type == "application/json"
    assert info.size == len(b"where in the bucket")


@pytest.mark.s3
def test_s3_second_put_skips_the_upload(s3_store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = put_bytes(s3_store, b"uploaded once")
    assert isinstance(s3_store, S3ObjectStore)

    def no_upload(**_: object) -> None:
        raise AssertionError("uploaded content that is already stored")

    monkeypatch.setattr(s3_store._client, "put_object", no_upload)

    assert put_bytes(s3_store, b"uploaded once") == stored


@pytest.mark.s3
def test_s3_bucket_is_created_once_even_when_another_worker_races(s3_bucket_url: str) -> None:
    first = object_store_from_url(s3_bucket_url)
    second = object_store_from_url(s3_bucket_url)

    a = put_bytes(first, b"from worker one")
    b = put_bytes(second, b"from worker two")

    assert read_all(first, b.sha256) == b"from worker two"
    assert read_all(second, a.sha256) == b"from worker one"


@pytest.mark.s3
def test_s3_wrong_secret_fails_ping(seaweedfs_s3_url: str) -> None:
    store = object_store_from_url(seaweedfs_s3_url.replace("@", "x@", 1))

    with pytest.raises(ObjectStoreError):
        store.ping()


def test_s3_ping_fails_fast_on_a_closed_port() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = S3ObjectStore(f"127.0.0.1:{port}", "key", "secret", "hub-files", region="us-east-1")

    started = time.monotonic()
    with pytest.raises(ObjectStoreError):
        store.ping()

    assert time.monotonic() - started < 5


# --- object_store_from_url ---------------------------------------------------------------------


def test_url_file_scheme_gives_local(tmp_path: Path) -> None:
    store = object_store_from_url((tmp_path / "my files").as_uri())

    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "my files"


def test_url_plain_path_gives_local(tmp_path: Path) -> None:
    store = object_store_from_url(str(tmp_path / "objects"))

    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "objects"


def test_url_s3_decodes_credentials_and_options() -> None:
    store = object_store_from_url(
        "s3://AK%2Fid:s%2Fe%3Acr%40et@minio.example:9000/hub-files?secure=true&region=eu-1"
    )

    assert isinstance(store, S3ObjectStore)
    assert (store.endpoint, store.bucket, store.secure) == ("minio.example:9000", "hub-files", True)
    credentials = store._client._provider.retrieve()  # type: ignore[union-attr]
    assert (credentials.access_key, credentials.secret_key) == ("AK/id", "s/e:cr@et")
    assert store._client._base_url.region == "eu-1"


def test_url_s3_defaults_to_plain_http_without_region() -> None:
    store = object_store_from_url("s3://ak:sk@127.0.0.1:8333/hub-files")

    assert isinstance(store, S3ObjectStore)
    assert (store.endpoint, store.secure) == ("127.0.0.1:8333", False)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://example.org/files",
        "ftp://host/files",
        "file://otherhost/srv/files",
        "file:relative/path",
        "s3://minio:9000/hub-files",
        "s3://ak@minio:9000/hub-files",
        "s3://ak:TOPSECRET@minio:9000",
        "s3://ak:TOPSECRET@minio:9000/a/b",
        "s3://ak:TOPSECRET@minio:9000/Bad_Bucket",
        "s3://ak:TOPSECRET@minio:9000/hub-files?secure=maybe",
        "s3://ak:TOPSECRET@minio:9000/hub-files?tls=1",
        "s3://ak:TOPSECRET@minio:notaport/hub-files",
    ],
)
def test_url_rejects_anything_else_without_leaking_the_secret(url: str) -> None:
    with pytest.raises(ValueError) as raised:
        object_store_from_url(url)

    assert "TOPSECRET" not in str(raised.value)
