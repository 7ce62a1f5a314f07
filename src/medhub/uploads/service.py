"""Clinical uploads: a patient chart's documents (MedFlow `POST /upload/patient`), its
medical files (`POST /upload/medical`), a user's own documents (eCureTrip
`POST /upload`), their metadata (`GET /upload/{id}`) and deletion.

Files are stored through the documents service (random storage keys, content
sniffing, downloads only through its authorised route); this module adds what
clinical files need:

- the types of `documents.CLINICAL_KINDS` (PDF, JPEG, PNG, DOC, DOCX, TXT) decided by
  content only, up to CLINICAL_UPLOAD_MAX_BYTES;
- images decoded and encoded again without their metadata (EXIF with GPS, XMP, text
  chunks), upright, with a thumbnail stored beside them (`images`);
- who may see a file (`document_access`, shared with the documents routes) and who may
  delete it: the uploader, or the chart's staff who may change what the file is
  (demographics: PATIENTS_WRITE, the organization's admins and doctors; medical
  files: CLINICAL_WRITE, its doctors); a user's own documents only by that user;
- an audit row for every upload, read and deletion (`upload.created|read|deleted`)
  with the chart and its organization in the metadata, never the file's name.

Patients upload their own chart's documents (`/upload/patient`) and their own
documents (`/upload`), not medical files into a chart: those are clinical content,
which the organization's doctors write (issue 12's matrix; MedFlow's `/upload/medical`
is staff's). A patient's own medical documents, as eCureTrip's patients upload them,
are their own documents (`/upload`, `document_type=medical`).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.documents import service as documents
from medhub.documents.service import StoredFile
from medhub.kit.errors import ErrorDetail, NotFound, ValidationFailed
from medhub.models.documents import Document, DocumentEntity, DocumentType
from medhub.patients import service as patients
from medhub.uploads import images
from medhub.uploads.document_access import UPLOAD_ENTITIES, Holder, audit_upload, resolve
from medhub.uploads.exceptions import RecordNotOfChart, UploadNotDeletable, UploadNotFound
from medhub.uploads.repository import UploadRepository
from medhub.uploads.schemas import OWN_DOCUMENT_TYPES, PATIENT_DOCUMENT_TYPES, UploadRead

# What a deletion needs, per entity: staff who may change the chart's demographics,
# or its clinical content. A user's own documents are reached by that user only.
_DELETE_ACTION = {
    DocumentEntity.patient: Action.PATIENTS_WRITE,
    DocumentEntity.patient_medical: Action.CLINICAL_WRITE,
    DocumentEntity.medical_record: Action.CLINICAL_WRITE,
}


@dataclass(frozen=True)
class NewFile:
    file_name: str
    content: bytes


def upload_view(document: Document, holder: Holder) -> UploadRead:
    return UploadRead.of_upload(
        document,
        patient_id=holder.patient_id,
        organization_id=holder.organization_id,
        record_id=holder.record_id,
    )


def _document_type(value: str | None, allowed: tuple[DocumentType, ...]) -> DocumentType:
    if value is None:
        return DocumentType.other
    for document_type in allowed:
        if document_type.value == value:
            return document_type
    raise ValidationFailed(
        f"Unknown document type {value!r}",
        details=[
            ErrorDetail(
                field="document_type",
                message=f"must be one of: {', '.join(t.value for t in allowed)}",
            )
        ],
    )


async def _chart(session: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> Holder:
    """The chart as the caller may see it (404 otherwise)."""
    return Holder(
        DocumentEntity.patient, chart=await patients.get_patient(session, principal, patient_id)
    )


async def _store(
    session: AsyncSession,
    principal: Principal,
    *,
    holder: Holder,
    entity_id: uuid.UUID,
    document_type: DocumentType,
    file: NewFile,
    settings: Settings,
) -> Document:
    """Check the bytes, clean an image and store it with its thumbnail; audited."""
    limit = settings.CLINICAL_UPLOAD_MAX_BYTES
    kind = await documents.identify(file.content, kinds=documents.CLINICAL_KINDS, max_bytes=limit)
    content, thumbnail = file.content, None
    if kind in documents.IMAGE_KINDS:
        cleaned = await asyncio.to_thread(images.clean_image, file.content, kind.mime_type)
        thumbnail = await documents.store_document(
            session,
            entity_type=holder.entity.value,
            entity_id=entity_id,
            document_type=DocumentType.thumbnail.value,
            file_name=f"thumbnail {file.file_name}",
            content=cleaned.thumbnail,
            uploaded_by=principal.user_id,
            settings=settings,
            kinds=documents.IMAGE_KINDS,
            max_bytes=limit,
        )
        content = cleaned.content
    try:
        document = await documents.store_document(
            session,
            entity_type=holder.entity.value,
            entity_id=entity_id,
            document_type=document_type.value,
            file_name=file.file_name,
            content=content,
            uploaded_by=principal.user_id,
            settings=settings,
            kinds=documents.CLINICAL_KINDS,
            # The limit is on what the client sent; an image encoded again may come out
            # a little larger than it came in, which is ours, not theirs.
            max_bytes=max(limit, len(content)),
            thumbnail_id=thumbnail.id if thumbnail is not None else None,
        )
    except BaseException:
        # The thumbnail's row goes with the transaction; its file would stay behind.
        if thumbnail is not None:
            await documents.remove_stored_file(
                settings, thumbnail.storage_backend, thumbnail.storage_key
            )
        raise
    audit_upload(
        session,
        principal,
        "upload.created",
        holder,
        document,
        thumbnail_id=str(thumbnail.id) if thumbnail is not None else None,
    )
    return document


async def upload_patient_document(
    session: AsyncSession,
    principal: Principal,
    *,
    patient_id: uuid.UUID,
    document_type: str,
    file: NewFile,
    settings: Settings,
) -> UploadRead:
    """A chart's document (ID, insurance card, consent): the organization's staff who
    may change demographics, or the patient, for their own linked chart."""
    kind_of_document = _document_type(document_type, PATIENT_DOCUMENT_TYPES)
    holder = await _chart(session, principal, patient_id)
    document = await _store(
        session,
        principal,
        holder=holder,
        entity_id=patient_id,
        document_type=kind_of_document,
        file=file,
        settings=settings,
    )
    return upload_view(document, holder)


async def upload_medical_file(
    session: AsyncSession,
    principal: Principal,
    *,
    patient_id: uuid.UUID,
    record_id: uuid.UUID | None,
    file: NewFile,
    settings: Settings,
) -> UploadRead:
    """A medical file of a chart, filed under one of its records when `record_id` is
    given (another chart's record, or none, is 400): the organization's doctors."""
    chart = (await _chart(session, principal, patient_id)).chart
    if record_id is None:
        holder, entity_id = Holder(DocumentEntity.patient_medical, chart=chart), patient_id
    else:
        if await UploadRepository(session).chart_of_record(record_id) != patient_id:
            raise RecordNotOfChart()
        holder = Holder(DocumentEntity.medical_record, chart=chart, record_id=record_id)
        entity_id = record_id
    document = await _store(
        session,
        principal,
        holder=holder,
        entity_id=entity_id,
        document_type=DocumentType.medical,
        file=file,
        settings=settings,
    )
    return upload_view(document, holder)


async def upload_own_document(
    session: AsyncSession,
    principal: Principal,
    *,
    document_type: str | None,
    file: NewFile,
    settings: Settings,
) -> UploadRead:
    """A document of the caller's own, seen by nobody else (eCureTrip's per-user uploads)."""
    kind_of_document = _document_type(document_type, OWN_DOCUMENT_TYPES)
    user_id = principal.require_user_id()
    holder = Holder(DocumentEntity.user)
    document = await _store(
        session,
        principal,
        holder=holder,
        entity_id=user_id,
        document_type=kind_of_document,
        file=file,
        settings=settings,
    )
    return upload_view(document, holder)


async def _visible_upload(
    session: AsyncSession, principal: Principal, upload_id: uuid.UUID
) -> tuple[Document, Holder]:
    """An upload the caller may see; 404 for anything else: another organization's or
    person's file, a product's or order's document, a thumbnail (reached through its
    image's `thumbnail_url`)."""
    document = await documents.find_document(session, upload_id)
    if document is None or document.document_type == DocumentType.thumbnail.value:
        raise UploadNotFound()
    entity = DocumentEntity(document.entity_type)
    if entity not in UPLOAD_ENTITIES:
        raise UploadNotFound()
    try:
        holder = await resolve(session, principal, entity, document.entity_id)
    except NotFound as exc:
        raise UploadNotFound() from exc
    return document, holder


async def read_upload(
    session: AsyncSession, principal: Principal, upload_id: uuid.UUID
) -> UploadRead:
    document, holder = await _visible_upload(session, principal, upload_id)
    audit_upload(session, principal, "upload.read", holder, document, via="upload")
    return upload_view(document, holder)


def _ensure_deletable(principal: Principal, document: Document, holder: Holder) -> None:
    action = _DELETE_ACTION.get(holder.entity)
    if action is None:  # a user's own: visible to that user only
        return
    if principal.user_id is not None and document.uploaded_by == principal.user_id:
        return
    # Seeing the chart already holds the caller to its organization (or to their own).
    if not can(principal.role, action):
        raise UploadNotDeletable()


async def delete_upload(
    session: AsyncSession, principal: Principal, upload_id: uuid.UUID
) -> tuple[UploadRead, list[StoredFile]]:
    """Delete the file and its thumbnail (rows flushed; the caller removes the bytes
    after the commit, `documents.remove_stored_files`). Hard, as every document's
    deletion: the audit row keeps what it was (type, size, SHA-256) and who removed it."""
    document, holder = await _visible_upload(session, principal, upload_id)
    _ensure_deletable(principal, document, holder)
    view = upload_view(document, holder)
    files = await documents.delete_document(session, document)
    audit_upload(session, principal, "upload.deleted", holder, document)
    return view, files
