from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from medhub.authz.dependencies import CurrentPrincipal, OptionalPrincipal
from medhub.documents import managing, reading, service
from medhub.documents.access import DocumentAccess
from medhub.documents.exceptions import FileTooLarge
from medhub.documents.filenames import content_disposition
from medhub.documents.schemas import DocumentRead
from medhub.kit.appstate import AppSettings
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.kit.storage import CHUNK_SIZE
from medhub.models.documents import DocumentEntity, DocumentType

router = APIRouter(tags=["documents"])


async def _document_access(request: Request) -> DocumentAccess:
    # Built by create_app from the rules of the domains that own the entities.
    access: DocumentAccess = request.app.state.document_access
    return access


Access = Annotated[DocumentAccess, Depends(_document_access)]


# The form fields are plain strings checked by the service (400 with details); their
# choices are listed in the OpenAPI schema. Typed (enum/UUID) form fields would fail
# validation through kit.handlers' "JSON route given a form" check, which answers
# 415 instead of 400 for a multipart field error.
_ENTITY_ENUM: dict[str, Any] = {"enum": [e.value for e in DocumentEntity]}
_TYPE_ENUM: dict[str, Any] = {"enum": [t.value for t in DocumentType]}
_UUID: dict[str, Any] = {"format": "uuid"}


def _form_uuid(field: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            details=[ErrorDetail(field=field, message="must be a UUID")]
        ) from None


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes, read in chunks and refused as soon as they pass `limit`:
    the declared Content-Length (or part size) is the client's word, not a fact."""
    buffer = bytearray()
    while chunk := await upload.read(CHUNK_SIZE):
        buffer += chunk
        if len(buffer) > limit:
            raise FileTooLarge(limit)
    return bytes(buffer)


@router.get(
    "/documents",
    response_model=page_envelope("documents", DocumentRead),
    summary=(
        "Documents of one entity (product, order, patient chart...); super admins list"
        " across entities, except personal and medical documents"
    ),
)
async def list_documents(
    *,
    principal: OptionalPrincipal,
    session: DbSession,
    access: Access,
    paging: Paging,
    entity_type: Annotated[
        DocumentEntity | None, Query(description="Required with entity_id (except super admins)")
    ] = None,
    entity_id: Annotated[
        uuid.UUID | None, Query(description="The product, order, chart...")
    ] = None,
    document_type: Annotated[DocumentType | None, Query()] = None,
) -> JSONResponse:
    filters = reading.DocumentFilters(
        entity_type=entity_type, entity_id=entity_id, document_type=document_type
    )
    items, total = await reading.list_documents(session, principal, access, filters, paging)
    return ok(page_of("documents", [DocumentRead.of(d) for d in items], paging, total))


@router.post(
    "/documents/upload",
    status_code=201,
    response_model=Envelope[DocumentRead],
    summary="Upload a document (PDF, PNG, JPEG, DOCX, XLSX or CSV; type checked by content)",
)
async def upload_document(
    *,
    principal: CurrentPrincipal,
    session: DbSession,
    access: Access,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="The file (at most UPLOAD_MAX_BYTES)")],
    entity_type: Annotated[str, Form(max_length=50, json_schema_extra=_ENTITY_ENUM)],
    entity_id: Annotated[
        str, Form(max_length=100, description="The product, order...", json_schema_extra=_UUID)
    ],
    document_type: Annotated[str, Form(max_length=100, json_schema_extra=_TYPE_ENUM)],
) -> JSONResponse:
    content = await _read_limited(file, settings.UPLOAD_MAX_BYTES)
    document = await managing.upload_document(
        session,
        principal,
        access,
        entity_type=entity_type,
        entity_id=_form_uuid("entity_id", entity_id),
        document_type=document_type,
        file_name=file.filename or "",
        content=content,
        settings=settings,
    )
    return created(DocumentRead.of(document), message="Document uploaded")


@router.get(
    "/documents/{document_id}",
    response_model=Envelope[DocumentRead],
    summary="A document's metadata",
)
async def get_document(
    document_id: uuid.UUID, principal: OptionalPrincipal, session: DbSession, access: Access
) -> JSONResponse:
    document = await reading.read_document(session, principal, access, document_id)
    return ok(DocumentRead.of(document))


@router.get(
    "/documents/{document_id}/download",
    response_class=StreamingResponse,
    responses={200: {"description": "The file, as an attachment", "content": {"*/*": {}}}},
    summary="Download a document (streamed)",
)
async def download_document(
    document_id: uuid.UUID,
    principal: OptionalPrincipal,
    session: DbSession,
    access: Access,
    settings: AppSettings,
) -> StreamingResponse:
    download = await reading.open_download(session, principal, access, document_id, settings)
    document = download.document
    return StreamingResponse(
        download.chunks,
        media_type=document.mime_type,
        headers={
            "Content-Disposition": content_disposition(document.file_name),
            "Content-Length": str(document.file_size),
            # The stored type was found by content; never let a browser guess another.
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.delete(
    "/documents/{document_id}",
    response_model=Envelope[DocumentRead],
    summary="Delete a document (its file is removed once the deletion is committed)",
)
async def delete_document(
    document_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    access: Access,
    settings: AppSettings,
) -> JSONResponse:
    document = await managing.delete_document(session, principal, access, document_id)
    # Runs after the response, so after the commit: a rolled-back deletion keeps its file.
    cleanup = BackgroundTask(
        service.remove_stored_file, settings, document.storage_backend, document.storage_key
    )
    return ok(DocumentRead.of(document), message="Document deleted", background=cleanup)
