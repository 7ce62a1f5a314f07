"""Reading documents: the list, a document's metadata and its download, for whoever
may see the entity it is attached to (that entity's domain decides, see `access`).
Reads of sensitive documents (clinical uploads) are audited by their domain."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.documents.access import DocumentAccess
from medhub.documents.exceptions import DocumentFileMissing, DocumentNotFound, StorageUnavailable
from medhub.documents.repository import DocumentRepository
from medhub.kit.errors import AuthenticationFailed, ErrorDetail, NotFound, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.kit.storage import StorageError, StoredFileMissing, storage_by_name
from medhub.models.documents import Document, DocumentEntity, DocumentType

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DocumentFilters:
    entity_type: DocumentEntity | None = None
    entity_id: uuid.UUID | None = None
    document_type: DocumentType | None = None


@dataclass(frozen=True)
class DocumentDownload:
    document: Document
    chunks: AsyncIterator[bytes]


async def list_documents(
    session: AsyncSession,
    principal: Principal | None,
    access: DocumentAccess,
    filters: DocumentFilters,
    page: PageParams,
) -> tuple[Sequence[Document], int]:
    """One entity's documents for whoever may see it; super admins also list across
    entities, except those whose documents are sensitive (personal or medical)."""
    is_super_admin = principal is not None and principal.is_super_admin
    entity_types: list[str] | None = None
    if filters.entity_type is None or filters.entity_id is None:
        if not is_super_admin:
            raise ValidationFailed(
                "Choose the entity whose documents to list",
                details=[
                    ErrorDetail(field=name, message="is required")
                    for name in ("entity_type", "entity_id")
                    if getattr(filters, name) is None
                ],
            )
        if filters.entity_type is not None and access.is_sensitive(filters.entity_type):
            raise ValidationFailed(
                f"{filters.entity_type.value} documents are listed for one entity at a time",
                details=[ErrorDetail(field="entity_id", message="is required")],
            )
        entity_types = [entity.value for entity in access.open_entities()]
    else:
        await access.of(filters.entity_type).ensure_visible(session, principal, filters.entity_id)
        await access.audit_read(
            session, principal, filters.entity_type, filters.entity_id, document=None, how="list"
        )
    repository = DocumentRepository(session)
    statement = repository.filtered_statement(
        entity_type=filters.entity_type.value if filters.entity_type else None,
        entity_types=entity_types,
        entity_id=filters.entity_id,
        document_type=filters.document_type.value if filters.document_type else None,
    )
    return await repository.paginate(statement, page)


async def get_document(
    session: AsyncSession,
    principal: Principal | None,
    access: DocumentAccess,
    document_id: uuid.UUID,
) -> Document:
    """The document if the caller may see what it is attached to; else 404."""
    document = await DocumentRepository(session).get(document_id)
    if document is None:
        raise DocumentNotFound()
    try:
        await access.of(DocumentEntity(document.entity_type)).ensure_visible(
            session, principal, document.entity_id
        )
    except (NotFound, AuthenticationFailed) as exc:
        # The same 404 as for an id that does not exist: whether a document is there
        # (and what it is attached to) is not confirmed to someone who may not see it.
        raise DocumentNotFound() from exc
    return document


async def read_document(
    session: AsyncSession,
    principal: Principal | None,
    access: DocumentAccess,
    document_id: uuid.UUID,
) -> Document:
    """`get_document` for showing its metadata (an audited read where sensitive)."""
    document = await get_document(session, principal, access, document_id)
    await access.audit_read(
        session,
        principal,
        DocumentEntity(document.entity_type),
        document.entity_id,
        document=document,
        how="metadata",
    )
    return document


async def open_download(
    session: AsyncSession,
    principal: Principal | None,
    access: DocumentAccess,
    document_id: uuid.UUID,
    settings: Settings,
) -> DocumentDownload:
    """The document and its bytes; the first chunk is read here, so a missing file is
    a 404 before any response header is sent rather than a broken stream."""
    document = await get_document(session, principal, access, document_id)
    await access.audit_read(
        session,
        principal,
        DocumentEntity(document.entity_type),
        document.entity_id,
        document=document,
        how="download",
    )
    try:
        storage = storage_by_name(settings, document.storage_backend)
    except StorageError as exc:
        raise StorageUnavailable() from exc
    chunks = storage.open(document.storage_key)
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except StoredFileMissing as exc:
        log.error("documents.file_missing", document_id=str(document.id), key=document.storage_key)
        raise DocumentFileMissing() from exc
    except (StorageError, OSError) as exc:
        log.error("documents.read_failed", document_id=str(document.id), error=str(exc))
        raise StorageUnavailable() from exc
    return DocumentDownload(document=document, chunks=_prepend(first, chunks))


async def _prepend(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in rest:
            yield chunk
    finally:
        # A client that hangs up mid-download: close the file or S3 body now.
        await rest.aclose()
