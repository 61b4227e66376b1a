"""Content-addressed object store: a local folder or any S3 server through the minio SDK.

Objects are immutable blobs named by the SHA-256 of their bytes (key ``sha256/<hex>``), so the same
content uploaded twice is stored once and a caller can verify what it reads. The store knows nothing
about what the bytes mean; callers keep the digest in their own records.

Given an ``ObjectSealer`` (``storage.object_sealing``), a store seals what it writes with the data
keyring: the key stays the SHA-256 of the plaintext, the bytes at rest are ciphertext, ``open`` returns
the plaintext only after checking it against its address, and there is no presigned URL (the store
would hand out ciphertext). ``reseal`` seals a plain object, or reseals one under the active key.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, BinaryIO, Protocol
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from minio.helpers import check_bucket_name

from storage.object_sealing import ObjectCorrupt, ObjectSealer
from storage.sealing import Keyring

__all__ = [
    "CHUNK_SIZE",
    "LocalObjectStore",
    "ObjectCorrupt",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectStoreFull",
    "ObjectTooLarge",
    "S3ObjectStore",
    "StoredObject",
    "object_key",
    "object_store_from_url",
]

CHUNK_SIZE = 1024 * 1024
DEFAULT_MEDIA_TYPE = "application/octet-stream"

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class StoredObject:
    """What the store knows about one object: its digest (lower hex), size in bytes and media type."""

    sha256: str
    size: int
    media_type: str


class ObjectStoreError(Exception):
    """The object store failed or could not be reached."""


class ObjectStoreFull(ObjectStoreError):
    """The store has no room for the object (disk full, quota or file size limit); nothing was stored."""


# ENOSPC: the file system is full; EDQUOT: the user's quota is; EFBIG: over the process's or file
# system's largest file (RLIMIT_FSIZE).
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class ObjectTooLarge(ObjectStoreError):
    """The stream had more bytes than the caller allowed; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"object exceeds the limit of {limit} bytes")
        self.limit = limit


class ObjectNotFound(ObjectStoreError):
    """No object with that digest is stored."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no object sha256:{sha256}")
        self.sha256 = sha256


class ObjectStore(Protocol):
    """Immutable blobs addressed by the SHA-256 of their content."""

    def put(self, stream: BinaryIO, *, media_type: str, max_bytes: int) -> StoredObject:
        """Store the bytes read from ``stream`` and return their digest, size and media type.

        The stream is read in chunks and spooled to a temporary file while it is hashed, never held
        whole in memory. Raises ``ObjectTooLarge`` as soon as more than ``max_bytes`` were read, with
        nothing stored. Putting content that is already stored uploads nothing and returns the stored
        object, whose media type is the one given when it was first stored.
        """
        ...

    def stat(self, sha256: str) -> StoredObject | None:
        """Return the stored object with this digest, or None if there is none."""
        ...

    def open(self, sha256: str) -> Iterator[bytes]:
        """Stream the object's bytes in chunks; raises ``ObjectNotFound`` at once if it is missing.

        The returned iterator has ``close()``; call it (or exhaust the iterator) to release the file
        or connection early. A sealing store reads and opens the whole object first and raises
        ``ObjectCorrupt`` (before any chunk) if it does not authenticate or match its address.
        """
        ...

    def presigned_url(self, sha256: str, *, expires: timedelta) -> str | None:
        """Return a time-limited URL a client can GET the object from, or None if this backend has
        none or seals (the caller then streams through ``open``). Does not check that the object exists."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the object; deleting a missing object is not an error."""
        ...

    def reseal(self, sha256: str) -> bool:
        """Seal a plain object, or reseal one sealed by an older key, with the active data key.

        Returns whether the object was rewritten (False: already sealed by the active key, so running it
        again is harmless). Raises ``ObjectNotFound``, ``ObjectCorrupt`` if the object fails its
        integrity check (it is left as it is), and ValueError on a store without a sealer."""
        ...

    def ping(self) -> None:
        """Raise ``ObjectStoreError`` if the store cannot be reached (used by readiness checks)."""
        ...


def check_digest(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lower-case hex characters, else raise ValueError.

    Digests become file names and object keys, so this also keeps callers out of other paths.
    """
    if not isinstance(sha256, str) or _DIGEST.fullmatch(sha256) is None:
        raise ValueError(f"not a SHA-256 digest in lower-case hex: {sha256!r:.80}")
    return sha256


def object_key(sha256: str) -> str:
    """The key an object is stored under: ``sha256/<hex>``."""
    return f"sha256/{check_digest(sha256)}"


def _check_media_type(media_type: str) -> str:
    if not isinstance(media_type, str) or "/" not in media_type or _CONTROL_CHARS.search(media_type):
        raise ValueError(f"not a media type: {media_type!r:.80}")
    return media_type


def _check_max_bytes(max_bytes: int) -> int:
    if max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    return max_bytes


def _spool(stream: BinaryIO, sink: IO[bytes], max_bytes: int) -> tuple[str, int]:
    """Copy ``stream`` into ``sink`` chunk by chunk and return (sha256 hex, size).

    Reads at most ``max_bytes + 1`` bytes, so an oversized stream is detected without reading it all.
    """
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = stream.read(min(CHUNK_SIZE, max_bytes + 1 - size))
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise ObjectTooLarge(max_bytes)
        digest.update(chunk)
        sink.write(chunk)
    sink.flush()
    return digest.hexdigest(), size


def _chunks_of(data: bytes) -> _ChunkIterator:
    view = io.BytesIO(data)
    return _ChunkIterator(lambda: view.read(CHUNK_SIZE), view.close)


def _read_spool(sink: IO[bytes]) -> bytes:
    sink.seek(0)
    return sink.read()


class _ChunkIterator(Iterator[bytes]):
    """Chunks from ``read`` until it returns b""; ``close`` releases the source even if never iterated."""

    def __init__(self, read: Callable[[], bytes], close: Callable[[], None]) -> None:
        self._read = read
        self._close: Callable[[], None] | None = close

    def __next__(self) -> bytes:
        if self._close is None:
            raise StopIteration
        try:
            chunk = self._read()
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> _ChunkIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class LocalObjectStore:
    """Objects as files under ``root``: ``sha256/ab/cd/<hex>`` plus a ``<hex>.meta.json`` sidecar.

    Uploads are spooled into ``root/tmp`` (same file system) and moved into place with ``os.replace``,
    so readers never see a partial object. A sealed object's sidecar also holds its plaintext size.
    """

    def __init__(self, root: Path | str, sealer: ObjectSealer | None = None) -> None:
        self.root = Path(root).absolute()
        self.sealer = sealer
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def _path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(path.name + ".meta.json")

    def put(self, stream: BinaryIO, *, media_type: str, max_bytes: int) -> StoredObject:
        _check_media_type(media_type)
        _check_max_bytes(max_bytes)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="upload-")
        tmp = Path(tmp_name)
        sha256 = ""
        try:
            with os.fdopen(fd, "wb") as sink:
                sha256, size = _spool(stream, sink, max_bytes)
                os.fsync(sink.fileno())
            existing = self.stat(sha256)
            if existing is not None:
                return existing
            path = self._path(sha256)
            path.parent.mkdir(parents=True, exist_ok=True)
            # The sidecar goes first: once the data file is visible its media type must be too.
            meta = {"media_type": media_type, "size": size}
            self._write_atomically(self._meta_path(path), json.dumps(meta).encode())
            if self.sealer is not None:
                # Sealed over the spool itself (opening it "wb" gives its space back first), so a nearly
                # full disk needs room for one copy of the object, not two.
                sealed = self.sealer.seal(sha256, tmp.read_bytes())
                with tmp.open("wb") as sink:
                    sink.write(sealed)
                    sink.flush()
                    os.fsync(sink.fileno())
            os.replace(tmp, path)
            return StoredObject(sha256=sha256, size=size, media_type=media_type)
        except OSError as exc:
            if sha256:
                self._forget_sidecar_of_missing(sha256)
            if exc.errno in _NO_ROOM:
                raise ObjectStoreFull(f"no room to store the object in {self.root}: {exc}") from exc
            raise ObjectStoreError(f"could not store object: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _forget_sidecar_of_missing(self, sha256: str) -> None:
        # A failed first write may have left the sidecar of an object that never appeared.
        path = self._path(sha256)
        with contextlib.suppress(OSError):
            if not path.exists():
                self._meta_path(path).unlink(missing_ok=True)

    def _write_atomically(self, path: Path, data: bytes) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def _meta(self, path: Path) -> dict[str, object]:
        try:
            meta = json.loads(self._meta_path(path).read_bytes())
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def stat(self, sha256: str) -> StoredObject | None:
        path = self._path(sha256)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ObjectStoreError(f"could not stat object: {exc}") from exc
        meta = self._meta(path)
        media_type = meta.get("media_type")
        plain_size = meta.get("size")
        return StoredObject(
            sha256=sha256,
            size=plain_size if isinstance(plain_size, int) else size,
            media_type=media_type if isinstance(media_type, str) else DEFAULT_MEDIA_TYPE,
        )

    def _read_stored(self, path: Path, sha256: str) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(sha256) from None
        except OSError as exc:
            raise ObjectStoreError(f"could not open object: {exc}") from exc

    def open(self, sha256: str) -> Iterator[bytes]:
        path = self._path(sha256)
        if self.sealer is not None:
            return _chunks_of(self.sealer.open(sha256, self._read_stored(path, sha256)))
        try:
            f = path.open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(sha256) from None
        except OSError as exc:
            raise ObjectStoreError(f"could not open object: {exc}") from exc
        return _ChunkIterator(lambda: f.read(CHUNK_SIZE), f.close)

    def reseal(self, sha256: str) -> bool:
        sealer = _need_sealer(self.sealer)
        path = self._path(sha256)
        stored = self._read_stored(path, sha256)
        if not sealer.needs_sealing(stored):
            return False
        plaintext = sealer.open(sha256, stored)
        try:
            meta = self._meta(path) | {"size": len(plaintext)}
            meta.setdefault("media_type", DEFAULT_MEDIA_TYPE)
            self._write_atomically(self._meta_path(path), json.dumps(meta).encode())
            self._write_atomically(path, sealer.seal(sha256, plaintext))
        except OSError as exc:
            if exc.errno in _NO_ROOM:
                raise ObjectStoreFull(f"no room to reseal the object in {self.root}: {exc}") from exc
            raise ObjectStoreError(f"could not reseal object: {exc}") from exc
        return True

    def presigned_url(self, sha256: str, *, expires: timedelta) -> str | None:
        check_digest(sha256)
        return None

    def delete(self, sha256: str) -> None:
        path = self._path(sha256)
        try:
            path.unlink(missing_ok=True)
            self._meta_path(path).unlink(missing_ok=True)
        except OSError as exc:
            raise ObjectStoreError(f"could not delete object: {exc}") from exc

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self._tmp, os.W_OK | os.X_OK):
            raise ObjectStoreError(f"object folder {self.root} is missing or not writable")


def _need_sealer(sealer: ObjectSealer | None) -> ObjectSealer:
    if sealer is None:
        raise ValueError("this object store has no data keyring to seal with")
    return sealer


def _s3_http_client(connect_timeout: float, read_timeout: float, retries: int) -> urllib3.PoolManager:
    # minio's default client waits five minutes and retries five times; a readiness probe and a
    # request handler need to hear about a dead server in seconds.
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        retries=urllib3.Retry(
            total=retries,
            backoff_factor=0.1,
            status_forcelist=[500, 502, 503, 504],
            allowed_methods=None,
        ),
    )


class S3ObjectStore:
    """Objects in one bucket of an S3 server (MinIO, SeaweedFS, AWS…) under ``sha256/<hex>``.

    The bucket is created on the first upload if it does not exist. The media type is stored as the
    object's Content-Type; a sealed object's plaintext size as its ``x-amz-meta-plaintext-size``.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        retries: int = 2,
        sealer: ObjectSealer | None = None,
    ) -> None:
        self.sealer = sealer
        try:
            check_bucket_name(bucket, strict=True)
        except ValueError as exc:
            raise ValueError(f"invalid S3 bucket name {bucket!r}: {exc}") from exc
        self.endpoint = endpoint
        self.bucket = bucket
        self.secure = secure
        try:
            self._client = Minio(
                endpoint,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure,
                region=region,
                http_client=_s3_http_client(connect_timeout, read_timeout, retries),
            )
        except ValueError as exc:
            raise ValueError(f"invalid S3 endpoint {endpoint!r}: {exc}") from exc
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"S3ObjectStore({scheme}://{self.endpoint}/{self.bucket})"

    def _fail(self, action: str, exc: Exception) -> ObjectStoreError:
        return ObjectStoreError(f"S3 {action} failed at {self.endpoint}/{self.bucket}: {exc}")

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            try:
                if not self._client.bucket_exists(bucket_name=self.bucket):
                    self._client.make_bucket(bucket_name=self.bucket)
            except S3Error as exc:
                # Another worker may have created it between our check and our request.
                if exc.code != "BucketAlreadyOwnedByYou":
                    raise self._fail("create bucket", exc) from exc
            except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise self._fail("create bucket", exc) from exc
            self._bucket_ready = True

    def put(self, stream: BinaryIO, *, media_type: str, max_bytes: int) -> StoredObject:
        _check_media_type(media_type)
        _check_max_bytes(max_bytes)
        with tempfile.TemporaryFile(prefix="hub-upload-") as spool:
            sha256, size = _spool(stream, spool, max_bytes)
            existing = self.stat(sha256)
            if existing is not None:
                return existing
            self._ensure_bucket()
            if self.sealer is None:
                spool.seek(0)
                self._write(sha256, spool, size, media_type)
            else:
                self._write_sealed(sha256, self.sealer.seal(sha256, _read_spool(spool)), size, media_type)
        return StoredObject(sha256=sha256, size=size, media_type=media_type)

    def _write(
        self,
        sha256: str,
        data: BinaryIO,
        length: int,
        media_type: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        try:
            self._client.put_object(
                bucket_name=self.bucket,
                object_name=object_key(sha256),
                data=data,
                length=length,
                content_type=media_type,
                metadata=metadata,  # type: ignore[arg-type]
            )
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._fail("upload", exc) from exc

    def _write_sealed(self, sha256: str, sealed: bytes, plain_size: int, media_type: str) -> None:
        metadata = {_PLAINTEXT_SIZE: str(plain_size)}
        self._write(sha256, io.BytesIO(sealed), len(sealed), media_type, metadata)

    def stat(self, sha256: str) -> StoredObject | None:
        key = object_key(sha256)
        try:
            info = self._client.stat_object(bucket_name=self.bucket, object_name=key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound"):
                return None
            raise self._fail("stat", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._fail("stat", exc) from exc
        plain_size = (info.metadata or {}).get(_PLAINTEXT_META)
        return StoredObject(
            sha256=sha256,
            size=int(plain_size) if plain_size and plain_size.isdigit() else int(info.size or 0),
            media_type=info.content_type or DEFAULT_MEDIA_TYPE,
        )

    def _read_stored(self, sha256: str) -> bytes:
        with contextlib.closing(self._open_stored(sha256)) as chunks:
            return b"".join(chunks)

    def open(self, sha256: str) -> Iterator[bytes]:
        if self.sealer is not None:
            return _chunks_of(self.sealer.open(sha256, self._read_stored(sha256)))
        return self._open_stored(sha256)

    def reseal(self, sha256: str) -> bool:
        sealer = _need_sealer(self.sealer)
        stored = self._read_stored(sha256)
        if not sealer.needs_sealing(stored):
            return False
        plaintext = sealer.open(sha256, stored)
        info = self.stat(sha256)
        media_type = info.media_type if info is not None else DEFAULT_MEDIA_TYPE
        self._write_sealed(sha256, sealer.seal(sha256, plaintext), len(plaintext), media_type)
        return True

    def _open_stored(self, sha256: str) -> _ChunkIterator:
        key = object_key(sha256)
        try:
            response = self._client.get_object(bucket_name=self.bucket, object_name=key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(sha256) from None
            raise self._fail("download", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._fail("download", exc) from exc

        def read() -> bytes:
            try:
                return response.read(CHUNK_SIZE)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise self._fail("download", exc) from exc

        def close() -> None:
            response.close()
            response.release_conn()

        return _ChunkIterator(read, close)

    def presigned_url(self, sha256: str, *, expires: timedelta) -> str | None:
        key = object_key(sha256)
        if self.sealer is not None:
            return None  # the bucket holds ciphertext: downloads go through ``open``
        try:
            return self._client.presigned_get_object(
                bucket_name=self.bucket, object_name=key, expires=expires
            )
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._fail("presign", exc) from exc

    def delete(self, sha256: str) -> None:
        key = object_key(sha256)
        try:
            self._client.remove_object(bucket_name=self.bucket, object_name=key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                return
            raise self._fail("delete", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._fail("delete", exc) from exc

    def ping(self) -> None:
        """Check the server answers and accepts our credentials; a missing bucket is fine, the first
        upload creates it."""
        try:
            self._client.bucket_exists(bucket_name=self.bucket)
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._fail("ping", exc) from exc


_PLAINTEXT_SIZE = "plaintext-size"
_PLAINTEXT_META = "x-amz-meta-" + _PLAINTEXT_SIZE
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_URL_FORMS = (
    "file:///absolute/path, a plain path, or s3://ACCESS:SECRET@host:port/bucket?secure=false&region=…"
)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


def object_store_from_url(url: str, *, keyring: Keyring | None = None) -> ObjectStore:
    """Build the object store a settings URL names, sealing with ``keyring`` if one is given.

    ``file:///abs/path`` or a plain path gives a ``LocalObjectStore``;
    ``s3://ACCESS:SECRET@host:port/bucket?secure=false&region=us-east-1`` gives an ``S3ObjectStore``
    (credentials URL-encoded). Anything else raises ValueError.
    """
    if not url or not url.strip():
        raise ValueError(f"empty object store URL; expected {_URL_FORMS}")
    sealer = ObjectSealer(keyring) if keyring is not None else None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "":
        return LocalObjectStore(Path(url), sealer)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"file URL must be file:///absolute/path, got {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"file URL takes no query or fragment, got {url!r}")
        return LocalObjectStore(Path(unquote(parts.path)), sealer)
    if scheme == "s3":
        return _s3_from_url(url, parts, sealer)
    raise ValueError(f"unsupported object store URL {_redacted(url)!r}; expected {_URL_FORMS}")


def _s3_from_url(url: str, parts: SplitResult, sealer: ObjectSealer | None) -> S3ObjectStore:
    shown = _redacted(url)
    if not parts.username or parts.password is None:
        raise ValueError(f"S3 URL needs credentials as s3://ACCESS:SECRET@host/bucket, got {shown!r}")
    try:
        hostname, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"S3 URL has an invalid port: {shown!r}") from exc
    if not hostname:
        raise ValueError(f"S3 URL needs a host, got {shown!r}")
    bucket = parts.path.strip("/")
    if not bucket or "/" in bucket:
        raise ValueError(f"S3 URL needs exactly one path segment, the bucket, got {shown!r}")
    secure, region = False, None
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name == "secure":
            if value.lower() in _TRUE:
                secure = True
            elif value.lower() in _FALSE:
                secure = False
            else:
                raise ValueError(f"S3 URL: secure must be true or false, got {value!r}")
        elif name == "region":
            region = value or None
        else:
            raise ValueError(f"S3 URL: unknown parameter {name!r} (known: secure, region)")
    host = f"[{hostname}]" if ":" in hostname else hostname
    endpoint = f"{host}:{port}" if port is not None else host
    return S3ObjectStore(
        endpoint=endpoint,
        access_key=unquote(parts.username),
        secret_key=unquote(parts.password),
        bucket=bucket,
        secure=secure,
        region=region,
        sealer=sealer,
    )
