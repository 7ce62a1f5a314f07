"""kit.storage: the local and S3 backends behave the same and never leave their root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medhub.config import Environment, Settings
from medhub.kit.storage import (
    CHUNK_SIZE,
    InvalidStorageKey,
    LocalStorage,
    S3Storage,
    Storage,
    StorageError,
    StoredFileMissing,
    storage_by_name,
    storage_from_settings,
    validate_key,
)
from tests.documents.s3 import ACCESS_KEY, SECRET_KEY, moto_s3, unique_bucket

# More than one chunk, and not a multiple of it, so chunking is exercised at both ends.
BIG = os.urandom(CHUNK_SIZE * 3 + 123)

UNSAFE_KEYS = [
    "",
    "../outside.pdf",
    "documents/../../outside.pdf",
    "/etc/passwd",
    "documents//x.pdf",
    "documents/./x.pdf",
    "documents/.hidden",
    "documents\\..\\x.pdf",
    "documents/x\x00.pdf",
    "documents/x.pdf/",
    "documents/caf\u00e9.pdf",
    "a" * 501,
]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
async def s3(s3_endpoint: str) -> S3Storage:
    storage = S3Storage(
        bucket=unique_bucket(),
        region="us-east-1",
        endpoint_url=s3_endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    await storage.ensure_bucket()
    return storage


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    backend: Storage = request.getfixturevalue(request.param)
    return backend


async def read_all(storage: Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.open(key)])


def settings_with(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"ENV": Environment.test, "DATA_DIR": tmp_path, "JWT_SECRET": "x" * 40}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- the interface, on both backends ------------------------------------------------------


async def test_bytes_come_back_identical_in_chunks(storage: Storage) -> None:
    key = "documents/products/p1/datasheets/big.pdf"
    await storage.put(key, BIG, "application/pdf")

    chunks = [chunk async for chunk in storage.open(key)]

    assert b"".join(chunks) == BIG
    assert len(chunks) > 1
    assert all(len(chunk) <= CHUNK_SIZE for chunk in chunks)


async def test_put_replaces_and_delete_removes(storage: Storage) -> None:
    key = "documents/orders/o1/other/a.csv"
    assert not await storage.exists(key)

    await storage.put(key, b"a,b\n1,2\n", "text/csv")
    await storage.put(key, b"a,b\n3,4\n", "text/csv")
    assert await storage.exists(key)
    assert await read_all(storage, key) == b"a,b\n3,4\n"

    await storage.delete(key)
    assert not await storage.exists(key)
    # Deleting again is not an error: cleanup after a failure may run twice.
    await storage.delete(key)


async def test_a_missing_key_raises_stored_file_missing(storage: Storage) -> None:
    with pytest.raises(StoredFileMissing):
        await read_all(storage, "documents/products/p1/datasheets/never.pdf")


@pytest.mark.parametrize("key", UNSAFE_KEYS)
async def test_unsafe_keys_are_refused_before_any_io(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidStorageKey):
        await storage.put(key, b"x", "application/octet-stream")
    with pytest.raises(InvalidStorageKey):
        await storage.exists(key)
    with pytest.raises(InvalidStorageKey):
        await storage.delete(key)
    with pytest.raises(InvalidStorageKey):
        await read_all(storage, key)


def test_validate_key_accepts_the_layout_the_service_generates() -> None:
    key = "documents/products/0199a3c2-7d1e-7c3a-9b1f-2f1d3c4b5a69/datasheets/0199a3c2.pdf"
    assert validate_key(key) == key


# --- local specifics ----------------------------------------------------------------------


async def test_local_files_live_under_the_root_without_temporary_leftovers(
    local: LocalStorage, tmp_path: Path
) -> None:
    await local.put("documents/products/p1/certificates/c.pdf", b"%PDF-1.7", "application/pdf")

    files = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    assert files == [tmp_path / "files/documents/products/p1/certificates/c.pdf"]
    assert files[0].read_bytes() == b"%PDF-1.7"


async def test_a_failed_local_write_leaves_the_old_file_and_no_temporary(
    local: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "documents/products/p1/datasheets/d.pdf"
    await local.put(key, b"old", "application/pdf")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        await local.put(key, b"new", "application/pdf")

    assert await read_all(local, key) == b"old"
    assert [p.name for p in (tmp_path / "files").rglob("*") if p.is_file()] == ["d.pdf"]


async def test_a_symlink_cannot_lead_a_key_outside_the_root(
    local: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pdf").write_bytes(b"secret")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "documents").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidStorageKey):
        await read_all(local, "documents/secret.pdf")
    with pytest.raises(InvalidStorageKey):
        await local.put("documents/planted.pdf", b"x", "application/pdf")
    assert not (outside / "planted.pdf").exists()


# --- choosing the backend -----------------------------------------------------------------


def test_local_storage_is_under_data_dir_files_and_built_once(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)

    storage = storage_from_settings(settings)

    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "files").resolve()
    assert storage_from_settings(settings_with(tmp_path)) is storage
    assert storage_from_settings(settings_with(tmp_path / "other")) is not storage


async def test_s3_storage_from_settings_talks_to_the_configured_endpoint(
    tmp_path: Path, s3_endpoint: str
) -> None:
    bucket = unique_bucket()

    def build(**extra: Any) -> Settings:
        values: dict[str, Any] = {
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT_URL": s3_endpoint,
            "S3_BUCKET": bucket,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }
        return settings_with(tmp_path, **{**values, **extra})

    storage = storage_from_settings(build())
    assert isinstance(storage, S3Storage)
    assert storage_from_settings(build()) is storage

    await storage.ensure_bucket()
    await storage.ensure_bucket()  # idempotent
    await storage.put("documents/x/y.csv", b"a,b\n", "text/csv")

    head = storage.client.head_object(Bucket=bucket, Key="documents/x/y.csv")
    assert head["ContentType"] == "text/csv"
    assert head["ContentLength"] == 4
    # A row written to S3 stays readable after STORAGE_BACKEND is switched back to local.
    assert storage_by_name(build(STORAGE_BACKEND="local"), "s3") is storage


async def test_without_ensure_bucket_a_missing_bucket_is_not_created(s3_endpoint: str) -> None:
    bucket = unique_bucket()
    storage = S3Storage(
        bucket=bucket,
        region="us-east-1",
        endpoint_url=s3_endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )

    with pytest.raises(StorageError, match="could not store"):
        await storage.put("documents/x.pdf", b"%PDF-1.7", "application/pdf")
    names = [b["Name"] for b in storage.client.list_buckets()["Buckets"]]
    assert bucket not in names
