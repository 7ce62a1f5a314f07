"""Clinical uploads: MedFlow `/upload/patient` and `/upload/medical`, eCureTrip
`/upload` and `/upload/{id}`. The bytes are downloaded through the documents route
(`download_url`, `thumbnail_url`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.background import BackgroundTask

from medhub.documents import service as documents
from medhub.documents.exceptions import FileTooLarge
from medhub.kit.appstate import AppSettings
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.storage import CHUNK_SIZE
from medhub.uploads import service
from medhub.uploads.auth import (
    ChartDocumentsUpload,
    MedicalFilesUpload,
    OwnDocumentsUpload,
    UploadsAccess,
)
from medhub.uploads.schemas import OWN_DOCUMENT_TYPES, PATIENT_DOCUMENT_TYPES, UploadRead

router = APIRouter(prefix="/upload", tags=["uploads"])

# Form fields are plain strings checked here and by the service (400 with details);
# their formats and choices are listed in the OpenAPI schema. Typed form fields would
# fail through kit.handlers' "JSON route given a form" check (415 instead of 400).
_UUID: dict[str, Any] = {"format": "uuid"}
_PATIENT_TYPES: dict[str, Any] = {"enum": [t.value for t in PATIENT_DOCUMENT_TYPES]}
_OWN_TYPES: dict[str, Any] = {"enum": [t.value for t in OWN_DOCUMENT_TYPES]}
_TYPES_NOTE = "PDF, JPEG, PNG, DOC, DOCX or TXT, by content; images lose their metadata (EXIF)"

File_ = Annotated[
    UploadFile, File(description="The file (at most CLINICAL_UPLOAD_MAX_BYTES): " + _TYPES_NOTE)
]


def _form_uuid(field: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            details=[ErrorDetail(field=field, message="must be a UUID")]
        ) from None


async def _received(upload: UploadFile, limit: int) -> service.NewFile:
    """The upload's bytes, read in chunks and refused as soon as they pass `limit`:
    the declared Content-Length (or part size) is the client's word, not a fact."""
    buffer = bytearray()
    while chunk := await upload.read(CHUNK_SIZE):
        buffer += chunk
        if len(buffer) > limit:
            raise FileTooLarge(limit)
    return service.NewFile(file_name=upload.filename or "", content=bytes(buffer))


@router.post(
    "/patient",
    status_code=201,
    response_model=Envelope[UploadRead],
    summary="Upload a patient chart's document: ID, insurance card, consent (staff; the patient)",
)
async def upload_patient_document(
    *,
    principal: ChartDocumentsUpload,
    session: DbSession,
    settings: AppSettings,
    file: File_,
    patient_id: Annotated[str, Form(max_length=100, json_schema_extra=_UUID)],
    document_type: Annotated[str, Form(max_length=50, json_schema_extra=_PATIENT_TYPES)],
) -> JSONResponse:
    chart_id = _form_uuid("patient_id", patient_id)
    received = await _received(file, settings.CLINICAL_UPLOAD_MAX_BYTES)
    upload = await service.upload_patient_document(
        session,
        principal,
        patient_id=chart_id,
        document_type=document_type,
        file=received,
        settings=settings,
    )
    return created(upload, message="File uploaded")


@router.post(
    "/medical",
    status_code=201,
    response_model=Envelope[UploadRead],
    summary="Upload a medical file to a chart, or to one of its records (its doctors)",
)
async def upload_medical_file(
    *,
    principal: MedicalFilesUpload,
    session: DbSession,
    settings: AppSettings,
    file: File_,
    patient_id: Annotated[str, Form(max_length=100, json_schema_extra=_UUID)],
    record_id: Annotated[
        str | None,
        Form(
            max_length=100,
            description="A medical record of this chart to file it under",
            json_schema_extra=_UUID,
        ),
    ] = None,
) -> JSONResponse:
    chart_id = _form_uuid("patient_id", patient_id)
    record = _form_uuid("record_id", record_id) if record_id else None
    received = await _received(file, settings.CLINICAL_UPLOAD_MAX_BYTES)
    upload = await service.upload_medical_file(
        session, principal, patient_id=chart_id, record_id=record, file=received, settings=settings
    )
    return created(upload, message="File uploaded")


@router.post(
    "",
    status_code=201,
    response_model=Envelope[UploadRead],
    summary="Upload a document of your own, seen by nobody else (any signed-in person)",
)
async def upload_own_document(
    *,
    principal: OwnDocumentsUpload,
    session: DbSession,
    settings: AppSettings,
    file: File_,
    document_type: Annotated[
        str | None,
        Form(max_length=50, description="other unless given", json_schema_extra=_OWN_TYPES),
    ] = None,
) -> JSONResponse:
    received = await _received(file, settings.CLINICAL_UPLOAD_MAX_BYTES)
    upload = await service.upload_own_document(
        session, principal, document_type=document_type or None, file=received, settings=settings
    )
    return created(upload, message="File uploaded")


@router.get(
    "/{upload_id}",
    response_model=Envelope[UploadRead],
    summary="A file's information, with its download_url (audited read)",
)
async def get_upload(
    upload_id: uuid.UUID, principal: UploadsAccess, session: DbSession
) -> JSONResponse:
    return ok(await service.read_upload(session, principal, upload_id))


@router.delete(
    "/{upload_id}",
    response_model=Envelope[UploadRead],
    summary="Delete a file and its thumbnail (its uploader; the chart's staff who may change it)",
)
async def delete_upload(
    upload_id: uuid.UUID, principal: UploadsAccess, session: DbSession, settings: AppSettings
) -> JSONResponse:
    upload, files = await service.delete_upload(session, principal, upload_id)
    # Runs after the response, so after the commit: a rolled-back deletion keeps its files.
    cleanup = BackgroundTask(documents.remove_stored_files, settings, files)
    return ok(upload, message="File deleted", background=cleanup)
