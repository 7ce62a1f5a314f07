"""The hourly sweep of stored files no document points to (`sweep-orphaned-files`).

A file is written before its row, so a transaction that rolls back after the upload
leaves its file behind; the sweep removes such files once older than
UPLOAD_ORPHAN_GRACE_MINUTES and leaves alone the files of live rows, recent files
(requests still under way), temp files and anything outside the documents' prefix.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medhub.config import Settings
from medhub.documents import service
from medhub.documents.tasks import sweep_orphaned_files
from medhub.kit.db import Database
from medhub.kit.jobs import jobs_app
from medhub.kit.storage import S3Storage, storage_from_settings
from medhub.models.documents import Document
from tests.documents import samples
from tests.documents.helpers import AdminSql, Catalog
from tests.documents.s3 import ACCESS_KEY, SECRET_KEY, moto_s3, unique_bucket

TWO_HOURS_AGO = time.time() - 2 * 3600


class RolledBack(Exception):
    """Raised after the upload, as a later step of a request would fail."""


async def store(database: Database, settings: Settings, catalog: Catalog, *, keep: bool) -> str:
    """Upload a datasheet in a unit of work that commits (`keep`) or rolls back; its key."""
    stored: list[Document] = []

    async def upload() -> None:
        async with database.unit_of_work() as session:
            stored.append(
                await service.store_document(
                    session,
                    entity_type="product",
                    entity_id=uuid.UUID(catalog.product_id),
                    document_type="datasheet",
                    file_name="datasheet.pdf",
                    content=samples.pdf(),
                    uploaded_by=None,
                    settings=settings,
                )
            )
            if not keep:
                raise RolledBack

    if keep:
        await upload()
    else:
        with pytest.raises(RolledBack):
            await upload()
    return stored[0].storage_key


def age(settings: Settings, key: str) -> Path:
    path = settings.data_dir / "files" / key
    os.utime(path, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    return path


async def test_old_orphans_go_and_everything_else_stays(
    database: Database, settings: Settings, catalog: Catalog, admin_sql: AdminSql
) -> None:
    live = age(settings, await store(database, settings, catalog, keep=True))
    orphan = age(settings, await store(database, settings, catalog, keep=False))
    recent_orphan = (
        settings.data_dir / "files" / await store(database, settings, catalog, keep=False)
    )
    temp = orphan.with_name(".upload-abc123.tmp")
    temp.write_bytes(b"half a write")
    os.utime(temp, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    elsewhere = settings.data_dir / "files" / "exports" / "report.csv"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_bytes(b"a,b\n")
    os.utime(elsewhere, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    assert orphan.exists()
    assert recent_orphan.exists()
    assert admin_sql("SELECT count(*) FROM documents") == [(1,)]

    assert await service.sweep_orphaned_files(database, settings) == 1

    assert not orphan.exists()
    assert [p.exists() for p in (live, recent_orphan, temp, elsewhere)] == [True] * 4
    # Idempotent: nothing more to remove.
    assert await service.sweep_orphaned_files(database, settings) == 0


async def test_the_grace_is_a_setting(
    database: Database, make_settings: Callable[..., Settings], catalog: Catalog
) -> None:
    settings = make_settings(UPLOAD_ORPHAN_GRACE_MINUTES=180)
    orphan = age(settings, await store(database, settings, catalog, keep=False))
    assert await service.sweep_orphaned_files(database, settings) == 0
    assert orphan.exists()


def test_the_sweep_is_an_hourly_maintenance_job() -> None:
    task = jobs_app.tasks["medhub.documents.sweep_orphaned_files"]
    assert task is sweep_orphaned_files
    assert task.queue == "maintenance"
    periodic = {p.periodic_id: p.cron for p in jobs_app.periodic_registry.periodic_tasks.values()}
    assert periodic["sweep-orphaned-files"] == "41 * * * *"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


async def test_s3_lists_the_keys_written_before_the_cutoff(
    make_settings: Callable[..., Settings], s3_endpoint: str
) -> None:
    settings = make_settings(
        STORAGE_BACKEND="s3",
        S3_ENDPOINT_URL=s3_endpoint,
        S3_BUCKET=unique_bucket(),
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
    )
    storage = storage_from_settings(settings)
    assert isinstance(storage, S3Storage)
    await storage.ensure_bucket()
    keys = [f"documents/products/{uuid.uuid4()}/datasheets/{uuid.uuid4()}.pdf" for _ in range(3)]
    for key in keys:
        await storage.put(key, samples.pdf(), "application/pdf")
    await storage.put("exports/report.csv", b"a,b\n", "text/csv")

    assert sorted(await storage.keys_older_than("documents", time.time() + 60)) == sorted(keys)
    assert await storage.keys_older_than("documents", time.time() - 3600) == []
