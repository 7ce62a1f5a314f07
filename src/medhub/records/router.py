"""A patient's medical records: `/patients/{patient_id}/records` (MedFlow)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from medhub.kit.dates import DayRangeQuery
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.consultations import RecordKind
from medhub.records import service
from medhub.records.auth import RecordsRead, RecordsWrite
from medhub.records.schemas import RecordCreate, RecordFilters, RecordRead, RecordUpdate

router = APIRouter(prefix="/patients/{patient_id}/records", tags=["records"])


@router.get(
    "",
    response_model=page_envelope("records", RecordRead),
    summary="A chart's medical records, newest first (its doctors; the patient, their own)",
)
async def list_records(
    patient_id: uuid.UUID,
    principal: RecordsRead,
    session: DbSession,
    paging: Paging,
    days: DayRangeQuery,
    kind: RecordKind | None = None,
) -> JSONResponse:
    filters = RecordFilters(kind=kind.value if kind else None, first=days.first, last=days.last)
    items, total = await service.list_records(session, principal, patient_id, filters, paging)
    return ok(page_of("records", items, paging, total))


@router.post(
    "",
    response_model=Envelope[RecordRead],
    status_code=201,
    summary="Add a medical record to a chart (doctors of its organization)",
)
async def create_record(
    patient_id: uuid.UUID, body: RecordCreate, principal: RecordsWrite, session: DbSession
) -> JSONResponse:
    record = await service.create_record(session, principal, patient_id, body)
    return created(record, message="Medical record created")


@router.get(
    "/{record_id}",
    response_model=Envelope[RecordRead],
    summary="One medical record (audited read)",
)
async def get_record(
    patient_id: uuid.UUID, record_id: uuid.UUID, principal: RecordsRead, session: DbSession
) -> JSONResponse:
    return ok(await service.read_record(session, principal, patient_id, record_id))


@router.put(
    "/{record_id}",
    response_model=Envelope[RecordRead],
    summary="Change a medical record (doctors of its organization)",
)
async def update_record(
    patient_id: uuid.UUID,
    record_id: uuid.UUID,
    body: RecordUpdate,
    principal: RecordsWrite,
    session: DbSession,
) -> JSONResponse:
    record = await service.update_record(session, principal, patient_id, record_id, body)
    return ok(record, message="Medical record updated")


@router.delete(
    "/{record_id}",
    response_model=Envelope[None],
    summary="Delete a medical record (soft: it leaves the chart's history)",
)
async def delete_record(
    patient_id: uuid.UUID, record_id: uuid.UUID, principal: RecordsWrite, session: DbSession
) -> JSONResponse:
    await service.delete_record(session, principal, patient_id, record_id)
    return ok(None, message="Medical record deleted")
