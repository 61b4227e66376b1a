"""Objects sealed at rest, on every backend: what is stored is ciphertext bound to its plaintext's digest;
reading checks it; plain objects from before sealing are served and then sealed by ``reseal``.

The stored bytes are read and written behind the store's back: the file itself, or the bucket through
the minio client."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from storage.object_sealing import OBJECT_MAGIC, ObjectSealer
from storage.objects import (
    LocalObjectStore,
    ObjectCorrupt,
    ObjectNotFound,
    ObjectStore,
    S3ObjectStore,
    object_store_from_url,
)
from storage.sealing import Keyring
from tests.fixtures.seaweedfs import minio_client

OLD_SPEC = Keyring.generate_spec("old")
NEW_SPEC = Keyring.generate_spec("new")
PHOTO = b"\x89PNG\r\n\x1a\n" + b"the holder's face " * 200
LIMIT = 1 << 20


@dataclass
class Backend:
    """One store location, opened with any keyring (or none), and raw access to its stored bytes."""

    url: str
    read_raw: Callable[[str], bytes]
    write_raw: Callable[[str, bytes], object]

    def store(self, spec: str | None = OLD_SPEC) -> ObjectStore:
        return object_store_from_url(self.url, keyring=Keyring.from_spec(spec) if spec else None)


def _local(tmp_path: Path) -> Backend:
    root = tmp_path / "objects"

    def path(sha256: str) -> Path:
        return root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    return Backend(root.as_uri(), lambda d: path(d).read_bytes(), lambda d, b: path(d).write_bytes(b))


def _s3(url: str) -> Backend:
    store = object_store_from_url(url)
    assert isinstance(store, S3ObjectStore)
    client, bucket = minio_client(url), store.bucket

    def read(sha256: str) -> bytes:
        response = client.get_object(bucket_name=bucket, object_name=f"sha256/{sha256}")
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def write(sha256: str, data: bytes) -> None:
        client.put_object(
            bucket_name=bucket, object_name=f"sha256/{sha256}", data=io.BytesIO(data), length=len(data)
        )

    return Backend(url, read, write)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return _local(tmp_path)
    return _s3(str(request.getfixturevalue("s3_bucket_url")))


def put(store: ObjectStore, data: bytes = PHOTO) -> str:
    return store.put(io.BytesIO(data), media_type="image/png", max_bytes=LIMIT).sha256


def read(store: ObjectStore, sha256: str) -> bytes:
    return b"".join(store.open(sha256))


def test_the_stored_bytes_are_ciphertext_under_the_plaintexts_address(backend: Backend) -> None:
    store = backend.store()

    sha256 = put(store)

    raw = backend.read_raw(sha256)
    assert sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert raw.startswith(OBJECT_MAGIC + b"v1.old.")
    assert b"the holder's face" not in raw and raw != PHOTO
    assert read(store, sha256) == PHOTO
    stat = store.stat(sha256)
    assert stat is not None and (stat.size, stat.media_type) == (len(PHOTO), "image/png")


def test_the_same_plaintext_is_stored_once(backend: Backend) -> None:
    store = backend.store()
    first = put(store)
    raw = backend.read_raw(first)

    assert put(store) == first
    assert backend.read_raw(first) == raw  # not sealed again (a fresh nonce would change it)


def test_a_sealed_store_hands_out_no_presigned_url(backend: Backend) -> None:
    store = backend.store()

    assert store.presigned_url(put(store), expires=timedelta(minutes=1)) is None


def test_a_tampered_object_is_refused(backend: Backend) -> None:
    store = backend.store()
    sha256 = put(store)
    raw = bytearray(backend.read_raw(sha256))
    raw[-20] ^= 0x01
    backend.write_raw(sha256, bytes(raw))

    with pytest.raises(ObjectCorrupt) as raised:
        store.open(sha256)

    assert raised.value.sha256 == sha256
    assert "failed authentication" in raised.value.reason


def test_a_sealed_object_moved_to_another_address_is_refused(backend: Backend) -> None:
    store = backend.store()
    photo = put(store)
    other = put(store, PHOTO + b"another person")
    backend.write_raw(photo, backend.read_raw(other))

    with pytest.raises(ObjectCorrupt):
        store.open(photo)
    assert read(store, other) == PHOTO + b"another person"


def test_an_object_sealed_by_a_key_no_longer_held_is_refused(backend: Backend) -> None:
    sha256 = put(backend.store(OLD_SPEC))

    with pytest.raises(ObjectCorrupt) as raised:
        backend.store(NEW_SPEC).open(sha256)

    assert "no data key 'old'" in raised.value.reason


def test_a_plain_object_is_served_until_sealed_and_its_digest_is_checked(backend: Backend) -> None:
    sha256 = put(backend.store(None))
    store = backend.store()

    assert backend.read_raw(sha256) == PHOTO
    assert read(store, sha256) == PHOTO

    backend.write_raw(sha256, PHOTO + b"!")
    with pytest.raises(ObjectCorrupt) as raised:
        store.open(sha256)
    assert raised.value.reason == "the content's SHA-256 is not its address"


def test_reseal_seals_a_plain_store_and_is_idempotent(backend: Backend) -> None:
    plain = backend.store(None)
    digests = [put(plain), put(plain, os.urandom(3000))]
    store = backend.store()

    assert [store.reseal(d) for d in digests] == [True, True]
    sealed = [backend.read_raw(d) for d in digests]
    assert [store.reseal(d) for d in digests] == [False, False]

    assert [backend.read_raw(d) for d in digests] == sealed
    assert all(raw.startswith(OBJECT_MAGIC + b"v1.old.") for raw in sealed)
    assert read(store, digests[0]) == PHOTO
    stat = store.stat(digests[0])
    assert stat is not None and (stat.size, stat.media_type) == (len(PHOTO), "image/png")


def test_reseal_after_rotation_moves_objects_to_the_new_key(backend: Backend) -> None:
    sha256 = put(backend.store(OLD_SPEC))
    rotated = backend.store(f"{NEW_SPEC},{OLD_SPEC}")
    assert read(rotated, sha256) == PHOTO  # the old key still opens until resealed

    assert rotated.reseal(sha256) is True
    assert rotated.reseal(sha256) is False

    assert backend.read_raw(sha256).startswith(OBJECT_MAGIC + b"v1.new.")
    assert read(backend.store(NEW_SPEC), sha256) == PHOTO  # the old key can now leave the keyring


def test_reseal_leaves_a_corrupt_object_as_it_is(backend: Backend) -> None:
    sha256 = put(backend.store(None))
    backend.write_raw(sha256, b"not the photo")

    with pytest.raises(ObjectCorrupt):
        backend.store().reseal(sha256)

    assert backend.read_raw(sha256) == b"not the photo"


def test_reseal_of_a_missing_object_and_without_a_keyring(backend: Backend) -> None:
    with pytest.raises(ObjectNotFound):
        backend.store().reseal("0" * 64)
    with pytest.raises(ValueError):
        backend.store(None).reseal(put(backend.store(None)))


def test_plain_and_sealed_never_look_alike() -> None:
    sealer = ObjectSealer(Keyring.from_spec(OLD_SPEC))
    jpeg, png, pdf = b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"%PDF-1.7"

    assert not any(sealer.is_sealed(head) for head in (jpeg, png, pdf))
    assert sealer.key_id_of(sealer.seal(hashlib.sha256(b"x").hexdigest(), b"x")) == "old"
    assert sealer.key_id_of(png) is None


def test_a_local_sealed_object_leaves_no_plaintext_in_the_spool(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", ObjectSealer(Keyring.from_spec(OLD_SPEC)))

    put(store)

    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
