"""Clinical uploads: `/upload/patient`, `/upload/medical`, `/upload` and `/upload/{id}`,
downloads through the documents route, who may do what, and the audit trail."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from medhub.config import Settings
from medhub.kit.storage import LocalStorage
from medhub.kit.tenancy import set_tenant_context
from tests import commerce
from tests.assertions import assert_error
from tests.consultations.helpers import Clinic, make_chart
from tests.doctors.helpers import data
from tests.documents import samples
from tests.documents.helpers import serve
from tests.documents.helpers import uploaded as document_uploaded
from tests.factories import Account, Factory
from tests.uploads.helpers import (
    DOCUMENTS,
    UNKNOWN,
    UPLOAD,
    AdminSql,
    add_record,
    download,
    gps_of,
    has_no_metadata,
    image_size,
    medical_file,
    patient_document,
    photo,
    post_upload,
    stored_files,
    uploaded,
)

UPLOAD_FIELDS = {
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
    "patient_id",
    "organization_id",
    "record_id",
}


@pytest.fixture
def audit_rows(admin_sql: AdminSql) -> Callable[[str], list[tuple[Any, ...]]]:
    """(action, organization_id, user_id, metadata) of the `upload.*` rows about a file."""

    def read(document_id: str) -> list[tuple[Any, ...]]:
        return admin_sql(
            "SELECT action, organization_id, user_id, metadata FROM activity_logs"
            " WHERE entity_id = %s AND action LIKE 'upload.%%' ORDER BY created_at, id",
            [document_id],
        )

    return read


# --- happy paths --------------------------------------------------------------------------


async def test_staff_upload_a_patient_document_that_staff_and_the_patient_read(
    client: httpx.AsyncClient,
    clinic: Clinic,
    audit_rows: Callable[[str], list[tuple[Any, ...]]],
) -> None:
    content = samples.pdf("Ann Lee - national ID")
    upload = await patient_document(
        client, clinic.admin, clinic, content=content, file_name="Ann Lee ID.pdf"
    )

    assert set(upload) == UPLOAD_FIELDS
    assert upload["entity_type"] == "patient"
    assert upload["entity_id"] == upload["patient_id"] == str(clinic.chart.id)
    assert upload["organization_id"] == str(clinic.id)
    assert upload["record_id"] is None
    assert upload["document_type"] == "id_card"
    assert upload["mime_type"] == "application/pdf"
    assert upload["file_name"] == "Ann Lee ID.pdf"
    assert upload["sha256"] == hashlib.sha256(content).hexdigest()
    assert upload["uploaded_by"] == str(clinic.admin.id)
    assert upload["download_url"] == f"{DOCUMENTS}/{upload['id']}/download"
    assert upload["thumbnail_url"] is None

    for reader in (clinic.admin, clinic.doctor, clinic.patient):
        info = data(await client.get(f"{UPLOAD}/{upload['id']}", headers=reader.headers))
        assert info == upload
    got = await download(client, clinic.patient, upload["download_url"])
    assert got.status_code == 200, got.text
    assert got.content == content
    assert got.headers["content-type"] == "application/pdf"

    rows = audit_rows(upload["id"])
    assert [row[0] for row in rows] == ["upload.created"] + ["upload.read"] * 4
    for _, organization_id, _, metadata in rows:
        assert organization_id == clinic.id
        assert metadata["patient_id"] == str(clinic.chart.id)
        assert metadata["organization_id"] == str(clinic.id)
        # The file's name can be PHI: it is never in the log.
        assert "file_name" not in metadata
        assert "Ann Lee" not in str(metadata)
    assert rows[0][2] == clinic.admin.id
    assert [row[3]["via"] for row in rows[1:]] == [
        "upload",
        "upload",
        "upload",
        "documents.download",
    ]


async def test_a_patient_uploads_to_their_own_chart_and_its_staff_see_it(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    upload = await patient_document(
        client,
        clinic.patient,
        clinic,
        document_type="insurance_card",
        content=samples.pdf("Insurance"),
    )

    assert upload["uploaded_by"] == str(clinic.patient.id)
    assert upload["document_type"] == "insurance_card"
    for staff in (clinic.admin, clinic.doctor):
        got = await download(client, staff, upload["download_url"])
        assert got.status_code == 200, got.text


async def test_a_doctor_files_medical_files_on_the_chart_and_under_a_record(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    record = await add_record(client, clinic)

    loose = await medical_file(client, clinic, content=samples.pdf("Discharge letter"))
    filed = await medical_file(
        client,
        clinic,
        record_id=record["id"],
        content=samples.docx(),
        file_name="report.docx",
        content_type="application/octet-stream",
    )

    assert (loose["entity_type"], loose["entity_id"]) == ("patient_medical", str(clinic.chart.id))
    assert loose["record_id"] is None
    assert (filed["entity_type"], filed["entity_id"]) == ("medical_record", record["id"])
    assert filed["record_id"] == record["id"]
    assert filed["document_type"] == "medical"
    assert filed["mime_type"].endswith("wordprocessingml.document")
    for upload in (loose, filed):
        assert upload["patient_id"] == str(clinic.chart.id)
        assert upload["organization_id"] == str(clinic.id)
        # Clinical content: the patient reads it, the organization's admin does not.
        info = data(await client.get(f"{UPLOAD}/{upload['id']}", headers=clinic.patient.headers))
        assert info["id"] == upload["id"]
        got = await download(client, clinic.patient, upload["download_url"])
        assert got.status_code == 200, got.text
        assert_error(
            await client.get(f"{UPLOAD}/{upload['id']}", headers=clinic.admin.headers), 404
        )
        assert_error(await download(client, clinic.admin, upload["download_url"]), 404)


async def test_plain_text_and_legacy_word_are_medical_files_too(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    note = await medical_file(
        client, clinic, content=b"BP 120/80.\n", file_name="note.txt", content_type="text/plain"
    )
    doc = await medical_file(client, clinic, content=samples.ole("WordDocument"), file_name="a.doc")

    assert (note["mime_type"], note["file_name"]) == ("text/plain", "note.txt")
    assert (doc["mime_type"], doc["file_name"]) == ("application/msword", "a.doc")


async def test_anyone_signed_in_keeps_documents_of_their_own(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    pharmacy = await factory.organization("pharmacy")
    pharmacist = await factory.user("pharmacist", organization_id=pharmacy.id)
    mine = await uploaded(client, pharmacist, content=samples.pdf("Licence"))
    medical = await uploaded(
        client, clinic.patient, content=samples.pdf("Old lab"), document_type="medical"
    )

    assert mine["entity_type"] == "user"
    assert mine["entity_id"] == str(pharmacist.id)
    assert mine["document_type"] == "other"
    assert mine["patient_id"] is mine["organization_id"] is None
    assert medical["document_type"] == "medical"
    info = data(await client.get(f"{UPLOAD}/{mine['id']}", headers=pharmacist.headers))
    assert info == mine
    assert (await download(client, pharmacist, mine["download_url"])).status_code == 200
    # Nobody else's, not even the staff of an organization the patient is a patient of.
    for other in (clinic.patient, clinic.doctor):
        assert_error(await client.get(f"{UPLOAD}/{mine['id']}", headers=other.headers), 404)
    for other in (pharmacist, clinic.doctor, clinic.admin):
        assert_error(await download(client, other, medical["download_url"]), 404)


# --- images: metadata and thumbnails ------------------------------------------------------


async def test_gps_exif_is_stripped_and_a_small_thumbnail_stored(
    client: httpx.AsyncClient, clinic: Clinic, settings: Settings
) -> None:
    original = photo(orientation=6)
    assert gps_of(original)  # the test photo does say where it was taken
    upload = await patient_document(
        client,
        clinic.patient,
        clinic,
        content=original,
        file_name="card.jpg",
        content_type="image/jpeg",
    )

    assert upload["mime_type"] == "image/jpeg"
    assert upload["thumbnail_url"] is not None
    got = await download(client, clinic.doctor, upload["download_url"])
    assert got.status_code == 200, got.text
    assert has_no_metadata(got.content)
    assert gps_of(got.content) == {}
    # Orientation 6 (turn 90° clockwise) is applied to the pixels, not lost.
    assert image_size(got.content) == (800, 1200)
    assert upload["sha256"] == hashlib.sha256(got.content).hexdigest()
    assert upload["file_size"] == len(got.content)

    thumbnail = await download(client, clinic.doctor, upload["thumbnail_url"])
    assert thumbnail.status_code == 200, thumbnail.text
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert max(image_size(thumbnail.content)) == 256
    assert image_size(thumbnail.content) == (171, 256)
    assert len(thumbnail.content) < len(got.content) / 4
    assert has_no_metadata(thumbnail.content)

    # What is on disk is what is served: nothing with the location was ever written.
    files = stored_files(settings)
    assert len(files) == 2
    for path in files:
        assert has_no_metadata(path.read_bytes())


async def test_a_png_loses_its_text_chunks_and_exif_too(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    upload = await medical_file(
        client,
        clinic,
        content=photo((640, 480), image_format="PNG"),
        file_name="wound.png",
        content_type="image/png",
    )

    got = await download(client, clinic.doctor, upload["download_url"])
    thumbnail = await download(client, clinic.doctor, upload["thumbnail_url"])

    assert upload["mime_type"] == thumbnail.headers["content-type"] == "image/png"
    assert has_no_metadata(got.content)
    assert image_size(thumbnail.content) == (256, 192)


async def test_a_thumbnail_is_not_an_upload_of_its_own(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    upload = await medical_file(
        client, clinic, content=photo((300, 300)), file_name="x.jpg", content_type="image/jpeg"
    )
    thumbnail_id = upload["thumbnail_url"].split("/")[-2]

    assert_error(await client.get(f"{UPLOAD}/{thumbnail_id}", headers=clinic.doctor.headers), 404)
    assert_error(
        await client.delete(f"{UPLOAD}/{thumbnail_id}", headers=clinic.doctor.headers), 404
    )


# --- the type is the content's ------------------------------------------------------------


async def test_a_png_named_pdf_is_stored_as_png(client: httpx.AsyncClient, clinic: Clinic) -> None:
    upload = await patient_document(
        client,
        clinic.admin,
        clinic,
        content=photo((100, 60), image_format="PNG"),
        file_name="scan.pdf",
        content_type="application/pdf",
    )

    assert upload["mime_type"] == "image/png"
    assert upload["file_name"] == "scan.pdf.png"
    got = await download(client, clinic.admin, upload["download_url"])
    assert got.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (samples.EXE, "Windows executable"),
        (samples.xlsx(), "XLSX"),
        (b"GIF89a\x01\x00\x01\x00", "GIF image"),
        (samples.ole("Workbook"), "other than Word"),
        (b"\xff\xd8\xff\xe0 not really a JPEG", "could not be read"),
    ],
)
async def test_other_types_are_415_and_nothing_is_stored(
    *,
    client: httpx.AsyncClient,
    clinic: Clinic,
    settings: Settings,
    admin_sql: AdminSql,
    content: bytes,
    reason: str,
) -> None:
    response = await patient_document_response(client, clinic, content=content)

    error = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert reason in error["message"]
    assert admin_sql("SELECT count(*) FROM documents") == [(0,)]
    assert stored_files(settings) == []


async def patient_document_response(
    client: httpx.AsyncClient, clinic: Clinic, **kwargs: Any
) -> httpx.Response:
    return await post_upload(
        client,
        clinic.doctor,
        "/patient",
        patient_id=clinic.chart.id,
        document_type="consent",
        file_name="invoice.pdf",
        **kwargs,
    )


async def test_a_file_over_the_limit_is_413_and_nothing_is_stored(
    clinic: Clinic, make_settings: Callable[..., Settings], admin_sql: AdminSql
) -> None:
    settings = make_settings(CLINICAL_UPLOAD_MAX_BYTES=4096)
    at_limit = b"%PDF-1.7\n" + b"%" * (4096 - 9)

    async with serve(settings) as small:
        too_big = await patient_document_response(small, clinic, content=at_limit + b"%")
        own = await post_upload(small, clinic.patient, content=at_limit + b"%")
        exactly = await patient_document_response(small, clinic, content=at_limit)

    assert "4096 bytes" in assert_error(too_big, 413, "PAYLOAD_TOO_LARGE")["message"]
    assert_error(own, 413, "PAYLOAD_TOO_LARGE")
    assert exactly.status_code == 201, exactly.text
    assert admin_sql("SELECT file_size FROM documents") == [(4096,)]
    assert len(stored_files(settings)) == 1


async def test_a_file_of_exactly_the_default_limit_is_accepted(
    client: httpx.AsyncClient, clinic: Clinic, settings: Settings
) -> None:
    # The request (file + multipart framing) must fit the middleware's body limit too.
    limit = settings.CLINICAL_UPLOAD_MAX_BYTES
    assert limit == 10 * 1024 * 1024
    content = b"%PDF-1.7\n" + b"%" * (limit - 9)

    upload = await medical_file(client, clinic, content=content)

    assert upload["file_size"] == limit


async def test_a_storage_failure_after_the_thumbnail_leaves_no_file(
    client: httpx.AsyncClient,
    clinic: Clinic,
    settings: Settings,
    admin_sql: AdminSql,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write = LocalStorage._write
    writes: list[Path] = []

    def second_write_fails(path: Path, data: bytes) -> None:
        writes.append(path)
        if len(writes) == 2:
            raise OSError(28, "No space left on device")
        write(path, data)

    monkeypatch.setattr(LocalStorage, "_write", staticmethod(second_write_fails))

    response = await post_upload(
        client,
        clinic.doctor,
        "/medical",
        patient_id=clinic.chart.id,
        content=photo((400, 300)),
        file_name="x.jpg",
    )

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert len(writes) == 2
    assert admin_sql("SELECT count(*) FROM documents") == [(0,)]
    assert stored_files(settings) == []


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields", "with_file", "named"),
    [
        ("/patient", {"document_type": "id_card"}, True, {"patient_id"}),
        ("/patient", {"patient_id": "chart"}, True, {"document_type"}),
        ("/patient", {}, False, {"file", "patient_id", "document_type"}),
        (
            "/patient",
            {"patient_id": "not-a-uuid", "document_type": "id_card"},
            True,
            {"patient_id"},
        ),
        ("/patient", {"patient_id": "chart", "document_type": "selfie"}, True, {"document_type"}),
        ("/patient", {"patient_id": "chart", "document_type": "medical"}, True, {"document_type"}),
        ("/medical", {}, True, {"patient_id"}),
        ("/medical", {"patient_id": "chart", "record_id": "x"}, True, {"record_id"}),
        ("", {}, False, {"file"}),
        ("", {"document_type": "consent"}, True, {"document_type"}),
    ],
)
async def test_bad_fields_are_400_with_details(
    *,
    client: httpx.AsyncClient,
    clinic: Clinic,
    path: str,
    fields: dict[str, str],
    with_file: bool,
    named: set[str],
) -> None:
    values = {k: str(clinic.chart.id) if v == "chart" else v for k, v in fields.items()}
    files = {"file": ("a.pdf", samples.pdf(), "application/pdf")} if with_file else None
    response = await client.post(
        f"{UPLOAD}{path}", data=values, files=files, headers=clinic.doctor.headers
    )

    assert_error(response, 400, "VALIDATION_ERROR", fields=named)


async def test_an_empty_file_is_400(client: httpx.AsyncClient, clinic: Clinic) -> None:
    response = await patient_document_response(client, clinic, content=b"")

    assert_error(response, 400, "VALIDATION_ERROR", fields={"file"})


async def test_a_record_of_another_chart_is_400(
    client: httpx.AsyncClient, clinic: Clinic, factory: Factory, other_clinic: Clinic
) -> None:
    record = await add_record(client, clinic)
    second = await make_chart(factory.database, clinic.id, first_name="Bo")
    elsewhere = await add_record(client, other_clinic)

    for record_id in (record["id"], elsewhere["id"], UNKNOWN):
        response = await post_upload(
            client,
            clinic.doctor,
            "/medical",
            patient_id=second.id if record_id == record["id"] else clinic.chart.id,
            record_id=record_id,
            content=samples.pdf(),
        )
        assert_error(response, 400, "VALIDATION_ERROR", fields={"record_id"})


# --- who may ------------------------------------------------------------------------------


async def test_anonymous_callers_are_401(client: httpx.AsyncClient, clinic: Clinic) -> None:
    upload = await patient_document(client, clinic.admin, clinic, content=samples.pdf())

    for path, fields in (
        ("/patient", {"patient_id": clinic.chart.id, "document_type": "id_card"}),
        ("/medical", {"patient_id": clinic.chart.id}),
        ("", {}),
    ):
        response = await post_upload(client, None, path, content=samples.pdf(), **fields)
        assert_error(response, 401, "AUTHENTICATION_ERROR")
    assert_error(await client.get(f"{UPLOAD}/{upload['id']}"), 401, "AUTHENTICATION_ERROR")
    assert_error(await client.delete(f"{UPLOAD}/{upload['id']}"), 401, "AUTHENTICATION_ERROR")
    # The download route is open to anonymous callers for public files; this one is not there.
    assert_error(await download(client, None, upload["download_url"]), 404)


async def test_roles_without_the_right_are_403(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    pharmacy = await factory.organization("pharmacy")
    pharmacist = await factory.user("pharmacist", organization_id=pharmacy.id)
    super_admin = await factory.user("super_admin")
    patient_fields = {"patient_id": clinic.chart.id, "document_type": "id_card"}
    medical_fields = {"patient_id": clinic.chart.id}

    for account in (pharmacist, super_admin):
        response = await post_upload(
            client, account, "/patient", content=samples.pdf(), **patient_fields
        )
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    for account in (pharmacist, super_admin, clinic.admin, clinic.patient):
        response = await post_upload(
            client, account, "/medical", content=samples.pdf(), **medical_fields
        )
        assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_an_unapproved_doctor_is_403(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    waiting = await factory.user("doctor", organization_id=clinic.id, approved=False)

    response = await post_upload(
        client, waiting, "/medical", content=samples.pdf(), patient_id=clinic.chart.id
    )

    assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_another_organization_or_patient_is_404(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    id_card = await patient_document(client, clinic.admin, clinic, content=samples.pdf())
    scan = await medical_file(client, clinic, content=photo((300, 200)), file_name="s.jpg")
    stranger = await factory.user("patient")

    # Uploading to a chart one may not see.
    for account in (other_clinic.admin, other_clinic.doctor, other_clinic.patient, stranger):
        response = await post_upload(
            client,
            account,
            "/patient",
            content=samples.pdf(),
            patient_id=clinic.chart.id,
            document_type="id_card",
        )
        assert_error(response, 404, "NOT_FOUND")
    response = await post_upload(
        client, other_clinic.doctor, "/medical", content=samples.pdf(), patient_id=clinic.chart.id
    )
    assert_error(response, 404, "NOT_FOUND")
    response = await post_upload(
        client, clinic.doctor, "/medical", content=samples.pdf(), patient_id=UNKNOWN
    )
    assert_error(response, 404, "NOT_FOUND")

    # Reading, downloading and deleting what is another organization's or person's.
    for account in (other_clinic.admin, other_clinic.doctor, other_clinic.patient, stranger):
        for upload in (id_card, scan):
            assert_error(await client.get(f"{UPLOAD}/{upload['id']}", headers=account.headers), 404)
            assert_error(
                await client.delete(f"{UPLOAD}/{upload['id']}", headers=account.headers), 404
            )
            assert_error(await download(client, account, upload["download_url"]), 404)
            assert_error(
                await client.get(f"{DOCUMENTS}/{upload['id']}", headers=account.headers), 404
            )
        assert_error(await download(client, account, scan["thumbnail_url"]), 404)
    assert_error(await client.get(f"{UPLOAD}/{UNKNOWN}", headers=clinic.doctor.headers), 404)


async def test_a_product_document_is_not_an_upload(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    document = await document_uploaded(
        client,
        supplier.admin,
        entity_type="product",
        entity_id=product["id"],
        document_type="datasheet",
        content=samples.pdf(),
    )

    response = await client.get(f"{UPLOAD}/{document['id']}", headers=supplier.admin.headers)
    assert_error(response, 404)


# --- deleting -----------------------------------------------------------------------------


async def test_the_uploader_or_the_charts_staff_delete(
    client: httpx.AsyncClient,
    clinic: Clinic,
    settings: Settings,
    admin_sql: AdminSql,
    audit_rows: Callable[[str], list[tuple[Any, ...]]],
) -> None:
    by_patient = await patient_document(
        client, clinic.patient, clinic, content=photo((400, 300)), file_name="card.jpg"
    )
    by_admin = await patient_document(client, clinic.admin, clinic, content=samples.pdf())
    medical = await medical_file(client, clinic, content=samples.pdf())
    assert len(stored_files(settings)) == 4  # the photo has its thumbnail

    # The patient may not delete what staff uploaded to their chart, nor medical files.
    for upload in (by_admin, medical):
        response = await client.delete(f"{UPLOAD}/{upload['id']}", headers=clinic.patient.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")

    deleted = data(
        await client.delete(f"{UPLOAD}/{by_patient['id']}", headers=clinic.patient.headers)
    )
    assert deleted["id"] == by_patient["id"]
    data(await client.delete(f"{UPLOAD}/{by_admin['id']}", headers=clinic.doctor.headers))
    data(await client.delete(f"{UPLOAD}/{medical['id']}", headers=clinic.doctor.headers))

    assert admin_sql("SELECT count(*) FROM documents") == [(0,)]
    assert stored_files(settings) == []
    for upload in (by_patient, by_admin, medical):
        assert_error(
            await client.get(f"{UPLOAD}/{upload['id']}", headers=clinic.doctor.headers), 404
        )
        assert_error(await download(client, clinic.doctor, upload["download_url"]), 404)
    assert_error(await download(client, clinic.doctor, by_patient["thumbnail_url"]), 404)
    action, organization_id, user_id, metadata = audit_rows(by_patient["id"])[-1]
    assert (action, organization_id, user_id) == ("upload.deleted", clinic.id, clinic.patient.id)
    assert metadata["patient_id"] == str(clinic.chart.id)
    assert metadata["sha256"] == by_patient["sha256"]


async def test_an_admin_deletes_demographics_but_not_medical_files(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    by_doctor = await patient_document(client, clinic.doctor, clinic, content=samples.pdf())
    medical = await medical_file(client, clinic, content=samples.pdf())

    data(await client.delete(f"{UPLOAD}/{by_doctor['id']}", headers=clinic.admin.headers))
    response = await client.delete(f"{UPLOAD}/{medical['id']}", headers=clinic.admin.headers)
    assert_error(response, 404)


async def test_own_documents_are_deleted_by_their_owner_only(
    client: httpx.AsyncClient, clinic: Clinic, settings: Settings
) -> None:
    mine = await uploaded(client, clinic.doctor, content=samples.pdf())

    response = await client.delete(f"{UPLOAD}/{mine['id']}", headers=clinic.admin.headers)
    assert_error(response, 404)
    data(await client.delete(f"{UPLOAD}/{mine['id']}", headers=clinic.doctor.headers))
    assert stored_files(settings) == []


# --- through the documents routes ---------------------------------------------------------


async def test_the_documents_routes_serve_but_do_not_change_clinical_files(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    upload = await patient_document(client, clinic.admin, clinic, content=samples.pdf())
    medical = await medical_file(client, clinic, content=samples.pdf())
    super_admin = await factory.user("super_admin")

    listed = data(
        await client.get(
            DOCUMENTS,
            params={"entity_type": "patient", "entity_id": str(clinic.chart.id)},
            headers=clinic.admin.headers,
        )
    )
    assert [d["id"] for d in listed["documents"]] == [upload["id"]]
    info = data(await client.get(f"{DOCUMENTS}/{upload['id']}", headers=clinic.admin.headers))
    assert info["download_url"] == upload["download_url"]

    # Uploading or deleting goes through /upload (image metadata, who may delete what).
    response = await client.post(
        f"{DOCUMENTS}/upload",
        data={
            "entity_type": "patient",
            "entity_id": str(clinic.chart.id),
            "document_type": "other",
        },
        files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
        headers=clinic.admin.headers,
    )
    assert_error(response, 403, "AUTHORIZATION_ERROR")
    response = await client.delete(f"{DOCUMENTS}/{upload['id']}", headers=clinic.admin.headers)
    assert_error(response, 403, "AUTHORIZATION_ERROR")

    # Platform operators see no PHI: not in their listing across entities, nor by id.
    everything = data(await client.get(DOCUMENTS, headers=super_admin.headers))
    assert everything["documents"] == []
    for document in (upload, medical):
        assert_error(
            await client.get(f"{DOCUMENTS}/{document['id']}", headers=super_admin.headers), 404
        )
        assert_error(await download(client, super_admin, document["download_url"]), 404)
    response = await client.get(
        DOCUMENTS, params={"entity_type": "patient"}, headers=super_admin.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", fields={"entity_id"})


async def test_row_level_security_keeps_other_tenants_away_from_clinical_files(
    client: httpx.AsyncClient, clinic: Clinic, other_clinic: Clinic, app: FastAPI
) -> None:
    await patient_document(client, clinic.admin, clinic, content=samples.pdf())
    await medical_file(client, clinic, content=samples.pdf())
    await uploaded(client, clinic.patient, content=samples.pdf())

    async def visible(account: Account) -> int:
        async with app.state.database.unit_of_work() as session:
            await set_tenant_context(
                session,
                user_id=account.id,
                organization_id=account.organization_id,
                role=account.role,
            )
            return int((await session.execute(text("SELECT count(*) FROM documents"))).scalar_one())

    # Whatever the code asks, the database shows no other organization's or person's rows.
    assert await visible(other_clinic.doctor) == 0
    assert await visible(other_clinic.patient) == 0
    assert await visible(clinic.doctor) == 2
    assert await visible(clinic.patient) == 3


async def test_a_record_lists_its_files_but_not_their_thumbnails(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    record = await add_record(client, clinic)
    other = await add_record(client, clinic)
    scan = await medical_file(client, clinic, record_id=record["id"], content=photo())
    report = await medical_file(
        client, clinic, record_id=record["id"], content=samples.pdf("Report"), file_name="r.pdf"
    )
    await medical_file(client, clinic, content=samples.pdf("Loose letter"))
    url = f"/api/v1/patients/{clinic.chart.id}/records/{record['id']}"

    detail = data(await client.get(url, headers=clinic.doctor.headers))

    files = {item["id"]: item for item in detail["files"]}
    assert set(files) == {scan["id"], report["id"]}
    assert files[report["id"]]["mime_type"] == "application/pdf"
    for reader in (clinic.doctor, clinic.patient):
        got = await download(client, reader, files[scan["id"]]["download_url"])
        assert got.status_code == 200, got.text
    empty = data(
        await client.get(
            f"/api/v1/patients/{clinic.chart.id}/records/{other['id']}",
            headers=clinic.doctor.headers,
        )
    )
    assert empty["files"] == []
