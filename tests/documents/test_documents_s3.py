"""The same API with STORAGE_BACKEND=s3, against moto's S3 server (real HTTP, real boto3)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest

from medhub.config import Settings
from medhub.kit.storage import S3Storage, storage_from_settings
from tests.documents import samples
from tests.documents.helpers import URL, AdminSql, Catalog, serve, uploaded
from tests.documents.s3 import ACCESS_KEY, SECRET_KEY, moto_s3, unique_bucket


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


async def test_upload_download_delete_round_trip_on_s3(
    catalog: Catalog,
    make_settings: Callable[..., Settings],
    s3_endpoint: str,
    admin_sql: AdminSql,
) -> None:
    bucket = unique_bucket()
    settings = make_settings(
        STORAGE_BACKEND="s3",
        S3_ENDPOINT_URL=s3_endpoint,
        S3_BUCKET=bucket,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
    )
    storage = storage_from_settings(settings)
    assert isinstance(storage, S3Storage)
    await storage.ensure_bucket()
    content = samples.pdf("Stability study", pages=30)
    admin = catalog.supplier.admin

    async with serve(settings) as client:
        document = await uploaded(
            client,
            admin,
            entity_type="product",
            entity_id=catalog.product_id,
            document_type="certificate",
            content=content,
            file_name="../stability.pdf",
        )
        [(backend, key)] = admin_sql(
            "SELECT storage_backend, storage_key FROM documents WHERE id = %s", [document["id"]]
        )
        stored = storage.client.get_object(Bucket=bucket, Key=key)
        download = await client.get(str(document["download_url"]))
        deleted = await client.delete(f"{URL}/{document['id']}", headers=admin.headers)

    assert backend == "s3"
    assert key == f"documents/products/{catalog.product_id}/certificates/{document['id']}.pdf"
    assert stored["Body"].read() == content
    assert stored["ContentType"] == "application/pdf"
    assert document["file_name"] == "stability.pdf"
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-length"] == str(len(content))
    assert deleted.status_code == 200, deleted.text
    assert await storage.exists(key) is False
    # Nothing was written to the local disk.
    assert not (settings.data_dir / "files").exists()
