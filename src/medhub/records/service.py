"""Medical records of a chart: listed, read, written and (softly) deleted.

The chart comes first, through the patients service (`get_patient`: the
organization's charts for its doctors, a patient's own linked charts), so another
organization's chart, or another patient's, is not found (404) before any record is
looked at. Every read is audited (`medical_record.read`, `medical_record.list`), and
every write (`medical_record.created|updated|deleted`), with the chart's id in the
metadata and never any clinical content.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.consultations import service as consultations
from medhub.documents import service as documents
from medhub.documents.schemas import DOWNLOAD_URL
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.models.consultations import MedicalRecord
from medhub.models.documents import DocumentEntity, DocumentType
from medhub.models.patients import Patient
from medhub.patients import service as patients
from medhub.records.exceptions import RecordNotFound
from medhub.records.repository import RecordRepository
from medhub.records.schemas import RecordCreate, RecordFilters, RecordUpdate

ENTITY = "medical_record"


def record_view(record: MedicalRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "organization_id": record.organization_id,
        "patient_id": record.patient_id,
        "consultation_id": record.consultation_id,
        "author_id": record.author_id,
        "kind": record.kind,
        "recorded_on": record.recorded_on,
        "title": record.title,
        "content": record.content,
        "data": record.data,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _audit(
    session: AsyncSession,
    action: str,
    principal: Principal,
    chart: Patient,
    *,
    record_id: uuid.UUID | None = None,
    **metadata: Any,
) -> None:
    # The caller's organization (a patient has none, and may write only such rows);
    # the chart's is in the metadata. A list is about the chart, a read about a record.
    audit.record(
        session,
        action,
        actor=principal,
        entity_type=ENTITY if record_id is not None else "patient",
        entity_id=record_id if record_id is not None else chart.id,
        metadata={
            "patient_id": str(chart.id),
            "organization_id": str(chart.organization_id),
            **metadata,
        },
    )


async def _record(
    session: AsyncSession, chart: Patient, record_id: uuid.UUID, *, for_update: bool = False
) -> MedicalRecord:
    record = await RecordRepository(session).get_of_chart(chart, record_id, for_update=for_update)
    if record is None:
        raise RecordNotFound()
    return record


async def _check_consultation(
    session: AsyncSession, chart: Patient, consultation_id: uuid.UUID | None
) -> None:
    if consultation_id is not None and not await consultations.belongs_to_chart(
        session, consultation_id, chart.id
    ):
        raise ValidationFailed(
            "The consultation is not one of this patient's",
            details=[
                ErrorDetail(field="consultation_id", message="not a consultation of this chart")
            ],
        )


async def list_records(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    filters: RecordFilters,
    paging: PageParams,
) -> tuple[list[dict[str, Any]], int]:
    chart = await patients.get_patient(session, principal, patient_id)
    items, total = await RecordRepository(session).page(chart, filters, paging)
    _audit(session, "medical_record.list", principal, chart, count=len(items), kind=filters.kind)
    return [record_view(item) for item in items], total


async def read_record(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, record_id: uuid.UUID
) -> dict[str, Any]:
    chart = await patients.get_patient(session, principal, patient_id)
    record = await _record(session, chart, record_id)
    _audit(session, "medical_record.read", principal, chart, record_id=record.id)
    files = await documents.summaries_for_entity(
        session, DocumentEntity.medical_record.value, record.id
    )
    return {
        **record_view(record),
        # An image's thumbnail is a document of the record too; it is reached through
        # the image (`GET /upload/{id}`), not listed as a file of its own.
        "files": [
            {**row, "download_url": DOWNLOAD_URL.format(id=row["id"])}
            for row in files
            if row["document_type"] != DocumentType.thumbnail.value
        ],
    }


async def create_record(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: RecordCreate
) -> dict[str, Any]:
    chart = await patients.get_patient(session, principal, patient_id)
    await _check_consultation(session, chart, data.consultation_id)
    record = MedicalRecord(
        organization_id=chart.organization_id,
        patient_id=chart.id,
        author_id=principal.require_user_id(),
        consultation_id=data.consultation_id,
        kind=data.kind.value,
        recorded_on=data.recorded_on,
        title=data.title,
        content=data.content,
        data=data.data,
    )
    await RecordRepository(session).add(record)
    _audit(
        session, "medical_record.created", principal, chart, record_id=record.id, kind=record.kind
    )
    return record_view(record)


async def update_record(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    record_id: uuid.UUID,
    data: RecordUpdate,
) -> dict[str, Any]:
    chart = await patients.get_patient(session, principal, patient_id)
    record = await _record(session, chart, record_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    if "consultation_id" in changes:
        await _check_consultation(session, chart, data.consultation_id)
    if "kind" in changes:
        changes["kind"] = data.kind.value if data.kind is not None else None
    for name, value in changes.items():
        setattr(record, name, value)
    if changes:
        await session.flush()
        _audit(
            session,
            "medical_record.updated",
            principal,
            chart,
            record_id=record.id,
            fields=sorted(changes),
        )
    return record_view(record)


async def delete_record(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, record_id: uuid.UUID
) -> None:
    """Soft: the entry leaves the chart's history but stays in the database (what was
    known when, and who removed it)."""
    chart = await patients.get_patient(session, principal, patient_id)
    record = await _record(session, chart, record_id, for_update=True)
    record.deleted_at = datetime.now(UTC)
    record.deleted_by = principal.require_user_id()
    await session.flush()
    _audit(session, "medical_record.deleted", principal, chart, record_id=record.id)
