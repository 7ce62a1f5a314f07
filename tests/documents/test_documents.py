"""/api/v1/documents for products and certifications: upload, list, metadata, download,
delete, and every way an upload is refused (local storage)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from medhub.config import Settings
from medhub.documents import service
from medhub.kit.db import Database
from medhub.kit.storage import LocalStorage, storage_from_settings
from tests import commerce
from tests.assertions import assert_error
from tests.documents import samples
from tests.documents.helpers import (
    URL,
    AdminSql,
    Catalog,
    raw_upload,
    serve,
    upload,
    uploaded,
)
from tests.factories import Factory

READ_FIELDS = {
    "id",
    "entity_type",
    "entity_id",
    "document_type",
    "file_name",
    "file_size",
    "mime_type",
    "sha256",
    "uploaded_by",
    "created_at",
    "download_url",
    "thumbnail_url",
}


def files_root(settings: Settings) -> Path:
    storage = storage_from_settings(settings)
    assert isinstance(storage, LocalStorage)
    return storage.root


def stored_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.data_dir.rglob("*") if p.is_file() and "files" in p.parts)


# --- the round trip -----------------------------------------------------------------------


async def test_upload_list_download_round_trip(
    client: httpx.AsyncClient, catalog: Catalog, settings: Settings
) -> None:
    content = samples.pdf(pages=40)  # several storage chunks
    admin = catalog.supplier.admin

    response = await upload(
        client,
        admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=content,
        file_name="Cardiomax datasheet.pdf",
        content_type="application/octet-stream",  # the claim is ignored; the bytes decide
    )

    assert response.status_code == 201, response.text
    document = response.json()["data"]
    assert set(document) == READ_FIELDS
    assert document["entity_type"] == "product"
    assert document["entity_id"] == catalog.product_id
    assert document["document_type"] == "datasheet"
    assert document["file_name"] == "Cardiomax datasheet.pdf"
    assert document["file_size"] == len(content)
    assert document["mime_type"] == "application/pdf"
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    assert document["uploaded_by"] == str(admin.id)
    assert document["download_url"] == f"/api/v1/documents/{document['id']}/download"

    # On disk under the seed's layout, named by the document's id, not the client's name.
    expected = (
        files_root(settings)
        / f"documents/products/{catalog.product_id}/datasheets/{document['id']}.pdf"
    )
    assert stored_files(settings) == [expected]
    assert expected.read_bytes() == content

    listed = await client.get(
        URL, params={"entity_type": "product", "entity_id": catalog.product_id}
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"]["documents"] == [document]
    assert listed.json()["data"]["pagination"]["total"] == 1

    metadata = await client.get(f"{URL}/{document['id']}")
    assert metadata.status_code == 200
    assert metadata.json()["data"] == document

    download = await client.get(document["download_url"])  # anonymous: a public product
    assert download.status_code == 200
    assert download.content == content
    assert hashlib.sha256(download.content).hexdigest() == document["sha256"]
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-length"] == str(len(content))
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == (
        'attachment; filename="Cardiomax datasheet.pdf"; '
        "filename*=UTF-8''Cardiomax%20datasheet.pdf"
    )


async def test_the_product_detail_lists_its_documents(
    client: httpx.AsyncClient, catalog: Catalog
) -> None:
    document = await uploaded(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="specification",
        content=samples.xlsx(),
        file_name="spec.xlsx",
    )

    detail = await client.get(f"/api/v1/products/{catalog.product_id}")

    assert detail.status_code == 200, detail.text
    assert [d["id"] for d in detail.json()["data"]["documents"]] == [document["id"]]


@pytest.mark.parametrize(
    ("content", "file_name", "mime_type"),
    [
        (samples.PNG, "label.png", "image/png"),
        (samples.JPEG, "box.jpeg", "image/jpeg"),
        (
            samples.docx(),
            "leaflet.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (samples.CSV, "batches.csv", "text/csv"),
    ],
)
async def test_every_allowed_type_is_stored_with_the_type_found_in_it(
    client: httpx.AsyncClient, catalog: Catalog, content: bytes, file_name: str, mime_type: str
) -> None:
    document = await uploaded(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="other",
        content=content,
        file_name=file_name,
        content_type="application/pdf",  # a wrong claim changes nothing
    )

    assert document["mime_type"] == mime_type
    assert document["file_name"] == file_name
    download = await client.get(document["download_url"])
    assert download.content == content
    assert download.headers["content-type"].split(";")[0] == mime_type


async def test_an_upload_is_audited(
    client: httpx.AsyncClient, catalog: Catalog, admin_sql: AdminSql
) -> None:
    content = samples.pdf()
    document = await uploaded(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="certificate",
        content=content,
    )

    rows = admin_sql(
        "SELECT user_id, organization_id, entity_id, metadata FROM activity_logs"
        " WHERE action = 'document_uploaded'"
    )
    assert len(rows) == 1
    user_id, organization_id, entity_id, metadata = rows[0]
    assert user_id == catalog.supplier.admin.id
    assert organization_id == catalog.supplier.id
    assert str(entity_id) == document["id"]
    assert metadata["entity_id"] == catalog.product_id
    assert metadata["sha256"] == hashlib.sha256(content).hexdigest()


# --- refusals -----------------------------------------------------------------------------


async def test_a_file_over_the_limit_is_413_and_nothing_is_stored(
    client: httpx.AsyncClient,
    catalog: Catalog,
    make_settings: Callable[..., Settings],
    admin_sql: AdminSql,
) -> None:
    settings = make_settings(UPLOAD_MAX_BYTES=4096)
    at_limit = samples.CSV + b"x,y\n" * ((4096 - len(samples.CSV)) // 4)
    at_limit += b"z" * (4096 - len(at_limit))
    assert len(at_limit) == 4096

    async with serve(settings) as small:
        too_big = await upload(
            small,
            catalog.supplier.admin,
            entity_type="product",
            entity_id=catalog.product_id,
            document_type="other",
            content=at_limit + b"\n",
            file_name="big.csv",
        )
        exactly = await upload(
            small,
            catalog.supplier.admin,
            entity_type="product",
            entity_id=catalog.product_id,
            document_type="other",
            content=at_limit,
            file_name="fits.csv",
        )

    assert "4096 bytes" in assert_error(too_big, 413, "PAYLOAD_TOO_LARGE")["message"]
    assert exactly.status_code == 201, exactly.text
    names = admin_sql("SELECT file_name FROM documents")
    assert names == [("fits.csv",)]
    assert len(stored_files(settings)) == 1


async def test_a_disguised_executable_is_415_and_nothing_is_stored(
    client: httpx.AsyncClient, catalog: Catalog, settings: Settings, admin_sql: AdminSql
) -> None:
    response = await upload(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.EXE,
        file_name="datasheet.pdf",
        content_type="application/pdf",
    )

    message = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")["message"]
    assert "Windows executable" in message
    assert "PDF, PNG, JPEG, DOCX, XLSX or CSV" in message
    assert admin_sql("SELECT count(*) FROM documents") == [(0,)]
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    ("file_name", "stored_name"),
    [
        ("../../etc/passwd", "passwd.pdf"),
        ("..\\x.pdf", "x.pdf"),
        ("..\\..\\..\\windows\\system32\\drivers\\etc\\hosts", "hosts.pdf"),
        ("/etc/cron.d/evil.pdf", "evil.pdf"),
        ("evil\x00.pdf", "evil%00.pdf"),  # as httpx and browsers escape it: harmless text
        ("..", "document.pdf"),
    ],
)
async def test_path_tricks_in_the_file_name_never_reach_the_file_system(  # noqa: PLR0917
    client: httpx.AsyncClient,
    catalog: Catalog,
    settings: Settings,
    admin_sql: AdminSql,
    file_name: str,
    stored_name: str,
) -> None:
    content = samples.pdf()

    document = await uploaded(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=content,
        file_name=file_name,
    )

    assert document["file_name"] == stored_name
    [(key,)] = admin_sql("SELECT storage_key FROM documents WHERE id = %s", [document["id"]])
    assert key == f"documents/products/{catalog.product_id}/datasheets/{document['id']}.pdf"
    # The only file written anywhere under DATA_DIR is that one, inside the storage root.
    [stored] = stored_files(settings)
    assert stored == files_root(settings) / key
    assert stored.read_bytes() == content
    download = await client.get(document["download_url"])
    assert download.content == content
    assert not set(download.headers["content-disposition"]) & {"/", "\\", "\x00"}


@pytest.mark.parametrize(
    ("raw_name", "stored_name"),
    [
        # NUL itself never gets this far: the input guard refuses it with a 400
        # (tests/kit/test_input_guard.py).
        (b"evil\x01.pdf", "evil.pdf"),
        (b"report.pdf\x07.exe", "report.pdf.exe.pdf"),
        (b"../../\x1f/etc/passwd", "passwd.pdf"),
        (b"tab\there\x1b[31m.pdf", "tabhere[31m.pdf"),
        ("caf\u00e9 \u202ereversed.pdf".encode(), "caf\u00e9 reversed.pdf"),
    ],
)
async def test_raw_control_characters_in_the_file_name_are_dropped(
    client: httpx.AsyncClient,
    catalog: Catalog,
    settings: Settings,
    raw_name: bytes,
    stored_name: str,
) -> None:
    response = await raw_upload(
        client,
        catalog.supplier.admin,
        fields={
            "entity_type": "product",
            "entity_id": catalog.product_id,
            "document_type": "datasheet",
        },
        file_name=raw_name,
        content=samples.pdf(),
    )

    assert response.status_code == 201, response.text
    document = response.json()["data"]
    assert document["file_name"] == stored_name
    [stored] = stored_files(settings)
    assert stored.name == f"{document['id']}.pdf"


async def test_an_empty_file_is_400(client: httpx.AsyncClient, catalog: Catalog) -> None:
    response = await upload(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=b"",
    )

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "file", "message": "must not be empty"}]


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"entity_type": "prescription"}, "entity_type"),
        ({"entity_id": "not-a-uuid"}, "entity_id"),
        ({"document_type": "selfie"}, "document_type"),
        ({"document_type": "shipping_doc"}, "document_type"),  # an order's, not a product's
        ({"document_type": "invoice"}, "document_type"),  # generated, never uploaded
    ],
)
async def test_bad_form_fields_are_400_with_details(
    client: httpx.AsyncClient, catalog: Catalog, form: dict[str, str], field: str
) -> None:
    fields = {
        "entity_type": "product",
        "entity_id": catalog.product_id,
        "document_type": "datasheet",
        **form,
    }

    response = await client.post(
        f"{URL}/upload",
        data=fields,
        files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
        headers=catalog.supplier.admin.headers,
    )

    assert_error(response, 400, "VALIDATION_ERROR", fields={field})


async def test_a_missing_file_is_400(client: httpx.AsyncClient, catalog: Catalog) -> None:
    response = await client.post(
        f"{URL}/upload",
        data={"entity_type": "product", "entity_id": catalog.product_id, "document_type": "other"},
        headers=catalog.supplier.admin.headers,
    )

    assert_error(response, 400, fields={"file"})


async def test_anonymous_upload_is_401(client: httpx.AsyncClient, catalog: Catalog) -> None:
    response = await upload(
        client,
        None,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.pdf(),
    )

    assert_error(response, 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("role", ["customer", "distributor", "pharmacist", "sales"])
async def test_only_the_suppliers_admins_upload_to_a_product(
    client: httpx.AsyncClient, factory: Factory, catalog: Catalog, role: str, settings: Settings
) -> None:
    # Sales staff of the very supplier still lack products.write.
    if role in {"sales", "distributor"}:
        organization_id: uuid.UUID | None = catalog.supplier.id
    elif role == "pharmacist":
        organization_id = (await factory.organization("pharmacy")).id
    else:
        organization_id = None
    account = await factory.user(role, organization_id=organization_id)

    response = await upload(
        client,
        account,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.pdf(),
    )

    assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert stored_files(settings) == []


async def test_another_suppliers_admin_cannot_upload_to_a_product(
    client: httpx.AsyncClient, factory: Factory, catalog: Catalog
) -> None:
    other = await commerce.supplier(factory)

    response = await upload(
        client,
        other.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.pdf(),
    )

    assert response.status_code == 403, response.text


async def test_a_super_admin_uploads_to_any_product(
    client: httpx.AsyncClient, factory: Factory, catalog: Catalog
) -> None:
    root = await factory.user("super_admin")

    document = await uploaded(
        client,
        root,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="certificate",
        content=samples.pdf(),
    )

    assert document["uploaded_by"] == str(root.id)


async def test_uploading_to_an_unknown_product_is_404(
    client: httpx.AsyncClient, catalog: Catalog
) -> None:
    response = await upload(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=uuid.uuid4(),
        document_type="datasheet",
        content=samples.pdf(),
    )

    assert response.status_code == 404, response.text


# --- who sees product documents --------------------------------------------------------------


async def test_an_inactive_products_documents_are_hidden_from_the_public(
    client: httpx.AsyncClient, factory: Factory, catalog: Catalog
) -> None:
    admin = catalog.supplier.admin
    document = await uploaded(
        client,
        admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.pdf(),
    )
    withdrawn = await client.delete(f"/api/v1/products/{catalog.product_id}", headers=admin.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    customer = await factory.user("customer")
    query = {"entity_type": "product", "entity_id": catalog.product_id}

    for headers in (None, customer.headers):
        assert (await client.get(document["download_url"], headers=headers)).status_code == 404
        assert (await client.get(f"{URL}/{document['id']}", headers=headers)).status_code == 404
        assert (await client.get(URL, params=query, headers=headers)).status_code == 404

    staff = await client.get(document["download_url"], headers=catalog.supplier.sales.headers)
    assert staff.status_code == 200


async def test_certification_documents_follow_their_product(
    client: httpx.AsyncClient, factory: Factory, catalog: Catalog
) -> None:
    admin = catalog.supplier.admin
    created = await client.post(
        f"/api/v1/products/{catalog.product_id}/certifications",
        json={"type": "WHO-GMP", "issue_date": "2025-01-01", "expiry_date": "2027-01-01"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    certification_id = created.json()["data"]["id"]
    customer = await factory.user("customer")

    denied = await upload(
        client,
        customer,
        entity_type="certification",
        entity_id=certification_id,
        document_type="certificate",
        content=samples.pdf(),
    )
    document = await uploaded(
        client,
        admin,
        entity_type="certification",
        entity_id=certification_id,
        document_type="certificate",
        content=samples.pdf(),
    )
    listed = await client.get(
        URL, params={"entity_type": "certification", "entity_id": certification_id}
    )

    assert denied.status_code == 403
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["data"]["documents"]] == [document["id"]]
    assert (await client.get(document["download_url"])).status_code == 200


# --- listing ---------------------------------------------------------------------------------


async def test_listing_needs_an_entity_except_for_super_admins(
    client: httpx.AsyncClient, factory: Factory, catalog: Catalog
) -> None:
    document = await uploaded(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.pdf(),
    )
    root = await factory.user("super_admin")

    anonymous = await client.get(URL)
    half = await client.get(
        URL, params={"entity_type": "product"}, headers=catalog.supplier.admin.headers
    )
    everything = await client.get(URL, headers=root.headers)

    details = assert_error(anonymous, 400)["details"]
    assert [d["field"] for d in details] == ["entity_type", "entity_id"]
    assert_error(half, 400, fields={"entity_id"})
    assert everything.status_code == 200
    assert [d["id"] for d in everything.json()["data"]["documents"]] == [document["id"]]


async def test_listing_filters_by_type_and_paginates(
    client: httpx.AsyncClient, catalog: Catalog
) -> None:
    admin = catalog.supplier.admin
    ids = []
    for document_type in ("datasheet", "certificate", "datasheet"):
        document = await uploaded(
            client,
            admin,
            entity_type="product",
            entity_id=catalog.product_id,
            document_type=document_type,
            content=samples.pdf(document_type),
        )
        ids.append(document["id"])
    query = {"entity_type": "product", "entity_id": catalog.product_id}

    datasheets = await client.get(URL, params={**query, "document_type": "datasheet"})
    first_page = await client.get(URL, params={**query, "limit": 2})
    bad = await client.get(URL, params={**query, "document_type": "selfie"})

    assert [d["id"] for d in datasheets.json()["data"]["documents"]] == [ids[2], ids[0]]
    assert [d["id"] for d in first_page.json()["data"]["documents"]] == [ids[2], ids[1]]
    assert first_page.json()["data"]["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 3,
        "total_pages": 2,
    }
    assert_error(bad, 400, fields={"document_type"})


async def test_unknown_documents_are_404(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()

    for path in (f"{URL}/{missing}", f"{URL}/{missing}/download"):
        response = await client.get(path)
        assert_error(response, 404, "NOT_FOUND")


# --- deleting -------------------------------------------------------------------------------


async def test_the_supplier_admin_deletes_a_document_and_its_file(
    client: httpx.AsyncClient,
    factory: Factory,
    catalog: Catalog,
    settings: Settings,
    admin_sql: AdminSql,
) -> None:
    admin = catalog.supplier.admin
    document = await uploaded(
        client,
        admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.pdf(),
    )
    customer = await factory.user("customer")
    assert len(stored_files(settings)) == 1

    refused = await client.delete(f"{URL}/{document['id']}", headers=customer.headers)
    anonymous = await client.delete(f"{URL}/{document['id']}")
    deleted = await client.delete(f"{URL}/{document['id']}", headers=admin.headers)
    again = await client.delete(f"{URL}/{document['id']}", headers=admin.headers)

    assert refused.status_code == 403
    assert anonymous.status_code == 401
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"]["id"] == document["id"]
    assert again.status_code == 404
    assert (await client.get(document["download_url"])).status_code == 404
    assert stored_files(settings) == []
    [(metadata,)] = admin_sql(
        "SELECT metadata FROM activity_logs WHERE action = 'document_deleted' AND entity_id = %s",
        [document["id"]],
    )
    assert metadata["file_name"] == document["file_name"]


async def test_a_document_whose_file_vanished_is_404_not_a_broken_stream(
    client: httpx.AsyncClient, catalog: Catalog, settings: Settings
) -> None:
    document = await uploaded(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.pdf(),
    )
    for path in stored_files(settings):
        path.unlink()

    response = await client.get(document["download_url"])

    error = assert_error(response, 404)
    assert error["message"] == "The file of this document is no longer available"


# --- store_document, as other domains call it -----------------------------------------------


async def test_a_failed_insert_leaves_no_file_behind(
    database: Database, catalog: Catalog, settings: Settings, admin_sql: AdminSql
) -> None:
    with pytest.raises(Exception, match="fk_documents_uploaded_by_users"):
        async with database.unit_of_work() as session:
            await service.store_document(
                session,
                entity_type="product",
                entity_id=uuid.UUID(catalog.product_id),
                document_type="datasheet",
                file_name="orphan.pdf",
                content=samples.pdf(),
                uploaded_by=uuid.uuid4(),  # no such user: the insert fails
                settings=settings,
            )

    assert admin_sql("SELECT count(*) FROM documents") == [(0,)]
    assert stored_files(settings) == []


async def test_a_file_of_exactly_the_default_upload_limit_is_accepted(
    client: httpx.AsyncClient, catalog: Catalog, settings: Settings
) -> None:
    # The whole request (file + multipart framing) must fit the body limit of the
    # middleware, or the documented 10 MB upload would be refused before it is read.
    limit = settings.UPLOAD_MAX_BYTES
    content = b"%PDF-1.7\n" + b"%" * (limit - 9)

    response = await upload(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=content,
        file_name="x" * 200 + ".pdf",
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["file_size"] == limit


async def test_a_storage_failure_is_503_and_adds_no_row(
    client: httpx.AsyncClient,
    catalog: Catalog,
    admin_sql: AdminSql,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalStorage, "_write", staticmethod(disk_full))

    response = await upload(
        client,
        catalog.supplier.admin,
        entity_type="product",
        entity_id=catalog.product_id,
        document_type="datasheet",
        content=samples.pdf(),
    )

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert admin_sql("SELECT count(*) FROM documents") == [(0,)]
