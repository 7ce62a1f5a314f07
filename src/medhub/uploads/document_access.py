"""Who may see clinical uploads, and their audit: the uploads domain's rules for the
documents of patient charts, medical records and users, handed to the documents routes
by `create_app` (documents sit below and do not import them).

- `patient` (a chart's ID, insurance card, consent...): whoever may see the chart's
  demographics, the organization's admins and approved doctors (PATIENTS_READ), and the
  patient whose linked chart it is.
- `patient_medical`, `medical_record` (medical files of a chart, or of one record):
  clinical content, the organization's approved doctors (CLINICAL_READ) and the patient
  whose linked chart it is; not the organization's admins, not super admins.
- `user` (a person's own documents): that person only.

Anyone else is answered 404 (as for a file that does not exist), anonymous callers
included. Uploading and deleting go through the upload routes, which strip image
metadata and keep the rules of who may delete what, so the documents routes refuse
them (403) once the caller may see the entity. Every read through the documents
routes is audited here (`upload.read`), like the upload routes' own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.documents.access import EntityAccess, ReadKind
from medhub.kit.errors import AuthenticationFailed, NotFound
from medhub.models.documents import Document, DocumentEntity, DocumentType
from medhub.models.patients import Patient
from medhub.patients import service as patients
from medhub.uploads.exceptions import ManagedThroughUploads, UploadNotFound
from medhub.uploads.repository import UploadRepository

UPLOAD_ENTITIES = (
    DocumentEntity.patient,
    DocumentEntity.patient_medical,
    DocumentEntity.medical_record,
    DocumentEntity.user,
)
CLINICAL_ENTITIES = frozenset({DocumentEntity.patient_medical, DocumentEntity.medical_record})
AUDIT_ENTITY = "document"


@dataclass(frozen=True)
class Holder:
    """What an upload belongs to, as the caller may see it."""

    entity: DocumentEntity
    chart: Patient | None = None
    record_id: uuid.UUID | None = None

    @property
    def patient_id(self) -> uuid.UUID | None:
        return self.chart.id if self.chart is not None else None

    @property
    def organization_id(self) -> uuid.UUID | None:
        return self.chart.organization_id if self.chart is not None else None


def reads_clinical(principal: Principal) -> bool:
    """Doctors (their organization's charts, once approved: the chart scope decides) and
    patients (their own linked charts)."""
    return can(principal.role, Action.CLINICAL_READ) or can(principal.role, Action.PATIENT_SELF)


async def resolve(
    session: AsyncSession,
    principal: Principal | None,
    entity: DocumentEntity,
    entity_id: uuid.UUID,
) -> Holder:
    """The holder of an upload entity if the caller may see its files; UploadNotFound
    otherwise (AuthenticationFailed for anonymous callers)."""
    if principal is None:
        raise AuthenticationFailed("Sign in to see these files")
    if entity is DocumentEntity.user:
        if principal.user_id is None or principal.user_id != entity_id:
            raise UploadNotFound()
        return Holder(entity)
    if entity in CLINICAL_ENTITIES and not reads_clinical(principal):
        raise UploadNotFound()
    chart_id, record_id = entity_id, None
    if entity is DocumentEntity.medical_record:
        record_id = entity_id
        found = await UploadRepository(session).chart_of_record(record_id)
        if found is None:
            raise UploadNotFound()
        chart_id = found
    try:
        chart = await patients.get_patient(session, principal, chart_id)
    except NotFound as exc:
        raise UploadNotFound() from exc
    return Holder(entity, chart=chart, record_id=record_id)


def audit_upload(
    session: AsyncSession,
    principal: Principal,
    action: str,
    holder: Holder,
    document: Document | None,
    *,
    entity_id: uuid.UUID | None = None,
    **extra: Any,
) -> None:
    """One audit row about a clinical file (or an entity's list of them): the chart and
    its organization in the metadata (the patient's access log finds it there), what
    the file is, never its name (a name like "HIV test Ann Lee.pdf" is PHI)."""
    metadata: dict[str, Any] = {"entity_type": holder.entity.value}
    if holder.chart is not None:
        metadata["patient_id"] = str(holder.chart.id)
        metadata["organization_id"] = str(holder.chart.organization_id)
    if holder.record_id is not None:
        metadata["record_id"] = str(holder.record_id)
    if document is not None:
        metadata |= {
            "document_type": document.document_type,
            "mime_type": document.mime_type,
            "file_size": document.file_size,
            "sha256": document.sha256,
        }
    metadata |= extra
    audit.record(
        session,
        action,
        actor=principal,
        organization_id=holder.organization_id,
        entity_type=AUDIT_ENTITY if document is not None else holder.entity.value,
        entity_id=document.id if document is not None else entity_id,
        metadata=metadata,
    )


class UploadDocuments:
    """The rules for the documents of one kind of upload entity (EntityAccess and
    SensitiveDocuments of documents.access)."""

    def __init__(self, entity: DocumentEntity) -> None:
        self.entity = entity

    async def ensure_visible(
        self, session: AsyncSession, principal: Principal | None, entity_id: uuid.UUID
    ) -> None:
        await resolve(session, principal, self.entity, entity_id)

    async def ensure_manageable(
        self,
        session: AsyncSession,
        principal: Principal,
        entity_id: uuid.UUID,
        document_type: DocumentType,
        *,
        existing: Document | None,
    ) -> uuid.UUID:
        await resolve(session, principal, self.entity, entity_id)
        raise ManagedThroughUploads()

    async def audit_read(
        self,
        session: AsyncSession,
        principal: Principal | None,
        entity_id: uuid.UUID,
        document: Document | None,
        how: ReadKind,
    ) -> None:
        if principal is None:  # never: ensure_visible refused anonymous callers
            return
        holder = await resolve(session, principal, self.entity, entity_id)
        audit_upload(
            session,
            principal,
            "upload.read",
            holder,
            document,
            entity_id=entity_id,
            via=f"documents.{how}",
        )


DOCUMENT_ACCESS: dict[DocumentEntity, EntityAccess] = {
    entity: UploadDocuments(entity) for entity in UPLOAD_ENTITIES
}
