"""Consultations (eCureTrip `/consultations`) and the doctor's medical visits
(MedConnect `/doctors/medical-visits`): one resource, one item schema.

`/doctors/medical-visits` is a literal path under `/doctors`, where the doctors
router serves `/doctors/{doctor_id}`: this router is included before that one
(app.py), so the literal route is tried, and wins, first.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from medhub.consultations import lifecycle, service
from medhub.consultations.auth import ClinicalDoctor, ClinicalRead, ClinicalWrite
from medhub.consultations.schemas import (
    ConsultationCreate,
    ConsultationFilters,
    ConsultationRead,
    ConsultationSort,
    ConsultationUpdate,
    SortOrder,
)
from medhub.consultations.video import provider_for
from medhub.kit.appstate import AppSettings
from medhub.kit.dates import DayRangeQuery
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.consultations import ConsultationStatus

router = APIRouter(tags=["consultations"])

PAGE = page_envelope("consultations", ConsultationRead)


@router.get(
    "/consultations",
    response_model=PAGE,
    summary="Consultations: the organization's (doctors), or your own (patients)",
)
async def list_consultations(
    principal: ClinicalRead,
    session: DbSession,
    settings: AppSettings,
    paging: Paging,
    days: DayRangeQuery,
    patient_id: uuid.UUID | None = None,
    doctor_id: uuid.UUID | None = None,
    status: ConsultationStatus | None = None,
    sort: ConsultationSort = "scheduled_at",
    order: SortOrder = "desc",
) -> JSONResponse:
    filters = ConsultationFilters(
        patient_id=patient_id,
        doctor_id=doctor_id,
        status=status.value if status else None,
        since=days.start,
        until=days.end,
        sort=sort,
        descending=order == "desc",
    )
    items, total = await service.list_consultations(
        session, principal, filters, paging, provider_for(settings)
    )
    return ok(page_of("consultations", items, paging, total))


@router.post(
    "/consultations",
    response_model=Envelope[ConsultationRead],
    status_code=201,
    responses={
        200: {
            "description": "The appointment's consultation, which existed already",
            "model": Envelope[ConsultationRead],
        }
    },
    summary="Open an appointment's consultation (200 if it has one), or an ad hoc one (doctors)",
)
async def create_consultation(
    body: ConsultationCreate, principal: ClinicalWrite, session: DbSession, settings: AppSettings
) -> JSONResponse:
    consultation, was_created = await service.create_consultation(
        session, principal, body, provider_for(settings)
    )
    if was_created:
        return created(consultation, message="Consultation created")
    return ok(consultation)


@router.get(
    "/consultations/{consultation_id}",
    response_model=Envelope[ConsultationRead],
    summary="One consultation (audited read)",
)
async def get_consultation(
    consultation_id: uuid.UUID, principal: ClinicalRead, session: DbSession, settings: AppSettings
) -> JSONResponse:
    return ok(
        await service.read_consultation(session, principal, consultation_id, provider_for(settings))
    )


@router.put(
    "/consultations/{consultation_id}",
    response_model=Envelope[ConsultationRead],
    summary="Record the consultation's findings, or move its status on (doctors)",
)
async def update_consultation(
    consultation_id: uuid.UUID,
    body: ConsultationUpdate,
    principal: ClinicalWrite,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    consultation = await lifecycle.update_consultation(
        session, principal, consultation_id, body, provider_for(settings)
    )
    return ok(consultation, message="Consultation updated")


@router.get(
    "/doctors/medical-visits",
    response_model=PAGE,
    tags=["doctors"],
    summary="Your medical visits: the consultations you hold (doctors)",
)
async def list_medical_visits(
    principal: ClinicalDoctor,
    session: DbSession,
    settings: AppSettings,
    paging: Paging,
    days: DayRangeQuery,
    patient_id: uuid.UUID | None = None,
) -> JSONResponse:
    filters = ConsultationFilters(
        patient_id=patient_id,
        doctor_id=principal.require_user_id(),
        since=days.start,
        until=days.end,
    )
    items, total = await service.list_consultations(
        session, principal, filters, paging, provider_for(settings)
    )
    return ok(page_of("consultations", items, paging, total))
