"""Where uploaded files' bytes live: the local filesystem or an S3-compatible store.

Both backends speak one small async interface (`Storage`). Keys are relative,
`/`-separated paths chosen by the service (`documents/products/<id>/datasheets/<id>.pdf`),
never by a client; both backends still refuse a key that could climb out of their
root, so a bug upstream cannot turn into a path traversal.

Blocking I/O (file system calls, boto3) runs in worker threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import SecretStr

from medhub.config import Settings

CHUNK_SIZE = 64 * 1024
MAX_KEY_LENGTH = 500  # documents.storage_key is VARCHAR(500)
# Letters, digits and a few separators per component: what the service generates,
# and nothing a shell, a URL or another operating system would read specially.
_KEY_COMPONENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


class StorageError(Exception):
    """The storage backend failed (unreachable, misconfigured, refused the request)."""


class InvalidStorageKey(StorageError, ValueError):
    """A key that is not a plain relative path inside the store."""


class StoredFileMissing(StorageError, FileNotFoundError):
    """No object is stored under this key."""


def validate_key(key: str) -> str:
    """The key itself if it is a safe relative path, else InvalidStorageKey."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidStorageKey(f"storage key must be 1 to {MAX_KEY_LENGTH} characters")
    parts = key.split("/")
    for part in parts:
        # Rejects "", ".", "..", dot-files, backslashes, NUL and anything non-ASCII.
        if part in {".", ".."} or not _KEY_COMPONENT.match(part):
            raise InvalidStorageKey(f"unsafe storage key component {part!r}")
    return key


def _is_key(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidStorageKey:
        return False
    return True


@runtime_checkable
class Storage(Protocol):
    """The one interface the documents domain uses; `name` is stored with each row."""

    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there; all or nothing."""
        ...

    def open(self, key: str) -> AsyncGenerator[bytes, None]:
        """The stored bytes in chunks; StoredFileMissing (on first iteration) if absent.
        Close it (`aclose`) when stopping early, to release the file or connection."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def keys_older_than(self, prefix: str, cutoff: float) -> list[str]:
        """The keys under `prefix` last written before `cutoff` (unix seconds)."""
        ...


class LocalStorage:
    """Files under `root` (DATA_DIR/files), written atomically (temp file + rename)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def path_for(self, key: str) -> Path:
        """The file of `key`, refusing anything that resolves outside the root
        (the key checks already exclude `..`; this also catches symlinks)."""
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidStorageKey("storage key resolves outside the storage root")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(self._write, path, data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the target, so os.replace is an atomic rename: a reader
        # sees the old file or the whole new one, a crash leaves at most a temp file.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise

    async def open(self, key: str) -> AsyncGenerator[bytes, None]:
        path = self.path_for(key)
        try:
            handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise StoredFileMissing(key) from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        path = self.path_for(key)
        return await asyncio.to_thread(path.is_file)

    async def keys_older_than(self, prefix: str, cutoff: float) -> list[str]:
        return await asyncio.to_thread(self._keys_older_than, validate_key(prefix), cutoff)

    def _keys_older_than(self, prefix: str, cutoff: float) -> list[str]:
        keys = []
        for path in (self.root / prefix).rglob("*"):
            key = path.relative_to(self.root).as_posix()
            # Temp files of writes under way (".upload-…") are not keys.
            if not _is_key(key):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted while we walked
                continue
            if path.is_file() and stat.st_mtime < cutoff:
                keys.append(key)
        return keys


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})


class S3Storage:
    """Objects in one S3 (or S3-compatible: MinIO, moto) bucket.

    boto3 is synchronous; each call runs in a worker thread. One client per
    instance: boto3 clients are thread-safe, sessions are not.
    """

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.region = region
        config = Config(
            region_name=region,
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=30,
            # Self-hosted stores (MinIO, moto) serve buckets by path, not by host name.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        # Without explicit keys boto3 uses its default chain (env, profile, IAM role).
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self.client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (deployment tooling and tests, not requests)."""
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in _NO_BUCKET_CODES:
                raise StorageError(f"cannot reach bucket {self.bucket}: {exc}") from exc
        arguments: dict[str, Any] = {"Bucket": self.bucket}
        # us-east-1 is the one region that refuses an explicit location constraint.
        if self.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client.create_bucket(**arguments)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        try:
            await asyncio.to_thread(
                self.client.put_object,
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ContentLength=len(data),
            )
        except ClientError as exc:
            raise StorageError(f"could not store {key}: {exc}") from exc

    async def open(self, key: str) -> AsyncGenerator[bytes, None]:
        validate_key(key)
        try:
            response = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                raise StoredFileMissing(key) from exc
            raise StorageError(f"could not read {key}: {exc}") from exc
        body = response["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK_SIZE):
                yield chunk
        finally:
            await asyncio.to_thread(body.close)

    async def delete(self, key: str) -> None:
        validate_key(key)
        try:
            # S3 answers 204 for a missing key too, so deleting is idempotent.
            await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise StorageError(f"could not delete {key}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                return False
            raise StorageError(f"could not look up {key}: {exc}") from exc
        return True

    async def keys_older_than(self, prefix: str, cutoff: float) -> list[str]:
        return await asyncio.to_thread(self._keys_older_than, validate_key(prefix), cutoff)

    def _keys_older_than(self, prefix: str, cutoff: float) -> list[str]:
        keys = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{prefix}/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["LastModified"].timestamp() < cutoff and _is_key(item["Key"]):
                        keys.append(item["Key"])
        except ClientError as exc:
            raise StorageError(f"could not list {prefix}: {exc}") from exc
        return keys


_cache: dict[tuple[Any, ...], Storage] = {}
_cache_lock = threading.Lock()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _cache_key(settings: Settings) -> tuple[Any, ...]:
    if settings.STORAGE_BACKEND == "local":
        return ("local", str(settings.data_dir))
    return (
        "s3",
        settings.S3_BUCKET,
        settings.S3_REGION,
        settings.S3_ENDPOINT_URL,
        settings.AWS_ACCESS_KEY_ID,
        _secret(settings.AWS_SECRET_ACCESS_KEY),
    )


def _build(settings: Settings) -> Storage:
    if settings.STORAGE_BACKEND == "local":
        return LocalStorage(settings.data_dir / "files")
    return S3Storage(
        bucket=settings.S3_BUCKET,
        region=settings.S3_REGION,
        endpoint_url=settings.S3_ENDPOINT_URL,
        access_key_id=settings.AWS_ACCESS_KEY_ID,
        secret_access_key=_secret(settings.AWS_SECRET_ACCESS_KEY),
    )


def storage_from_settings(settings: Settings) -> Storage:
    """The process's storage for these settings, built once (an S3 client is costly to make)."""
    key = _cache_key(settings)
    storage = _cache.get(key)
    if storage is None:
        with _cache_lock:
            storage = _cache.get(key)
            if storage is None:
                storage = _cache[key] = _build(settings)
    return storage


def storage_by_name(settings: Settings, backend: str) -> Storage:
    """The storage a row was written to, which may differ from today's STORAGE_BACKEND
    after a migration between backends."""
    if backend == settings.STORAGE_BACKEND:
        return storage_from_settings(settings)
    if backend not in {"local", "s3"}:
        raise StorageError(f"unknown storage backend {backend!r}")
    return storage_from_settings(settings.model_copy(update={"STORAGE_BACKEND": backend}))
