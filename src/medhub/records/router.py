"""A patient's medical records, `/patients/{patient_id}/records` (MedFlow), and the
patient's own medical history, `/patients/medical-history` (MedConnect).

`/patients/medical-history` must not be read as the patients router's
`/patients/{patient_id}`: app.py includes this router before that one.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header

from medhub.kit.dates import DayRangeQuery
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.consultations import RecordKind
from medhub.records import history, service
from medhub.records.auth import MedicalHistoryReader, RecordsRead, RecordsWrite
from medhub.records.schemas import (
    MedicalHistory,
    RecordCreate,
    RecordDetail,
    RecordFilters,
    RecordRead,
    RecordUpdate,
)

# Tagged per route: the history is documented with the patient's other routes.
router = APIRouter()

RECORDS = "/patients/{patient_id}/records"
RECORD = RECORDS + "/{record_id}"


@router.get(
    "/patients/medical-history",
    response_model=Envelope[MedicalHistory],
    tags=["patients"],
    summary="Your medical history at every organization (patients; needs an X-OTP-Token)",
    description=(
        "Charts, allergies and chronic conditions, consultations (the doctors' notes"
        " included) and medical records, across the organizations holding a chart linked"
        " to your account. Needs a one-time-code grant: `POST /api/v1/auth/otp/request`"
        " with purpose `medical_history`, then `POST /api/v1/auth/otp/verify`, and send"
        " the returned `otp_token` as `X-OTP-Token` (valid until it expires); without a"
        " live grant, 403 `OTP_REQUIRED`. At most `RATE_LIMIT_MEDICAL_HISTORY` (10 a"
        " minute) per user. Every read is audited."
    ),
)
async def get_medical_history(
    principal: MedicalHistoryReader,
    session: DbSession,
    days: DayRangeQuery,
    otp_token: Annotated[
        str | None,
        Header(
            alias="X-OTP-Token",
            description="The otp_token of POST /auth/otp/verify (purpose medical_history)",
        ),
    ] = None,
) -> JSONResponse:
    return ok(await history.read_history(session, principal, otp_token, days))


@router.get(
    RECORDS,
    tags=["records"],
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
    RECORDS,
    tags=["records"],
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
    RECORD,
    tags=["records"],
    response_model=Envelope[RecordDetail],
    summary="One medical record (audited read)",
)
async def get_record(
    patient_id: uuid.UUID, record_id: uuid.UUID, principal: RecordsRead, session: DbSession
) -> JSONResponse:
    return ok(await service.read_record(session, principal, patient_id, record_id))


@router.put(
    RECORD,
    tags=["records"],
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
    RECORD,
    tags=["records"],
    response_model=Envelope[None],
    summary="Delete a medical record (soft: it leaves the chart's history)",
)
async def delete_record(
    patient_id: uuid.UUID, record_id: uuid.UUID, principal: RecordsWrite, session: DbSession
) -> JSONResponse:
    await service.delete_record(session, principal, patient_id, record_id)
    return ok(None, message="Medical record deleted")
