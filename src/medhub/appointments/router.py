"""Appointments (MedFlow `/appointments` and eCureTrip `/api/appointments`: one
resource, role-aware)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from medhub.appointments import booking, lifecycle, service
from medhub.appointments.auth import AppointmentsBook, AppointmentsRead
from medhub.appointments.schemas import (
    AppointmentCancel,
    AppointmentCreate,
    AppointmentFilters,
    AppointmentRead,
    AppointmentSort,
    AppointmentUpdate,
)
from medhub.kit.appstate import AppSettings
from medhub.kit.dates import DayRangeQuery
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.appointments import AppointmentStatus, AppointmentType

router = APIRouter(prefix="/appointments", tags=["appointments"])


@router.get(
    "",
    response_model=page_envelope("appointments", AppointmentRead),
    summary="Appointments: a patient's own, a doctor's own, an organization admin's organization's",
)
async def list_appointments(
    principal: AppointmentsRead,
    session: DbSession,
    paging: Paging,
    days: DayRangeQuery,
    status: AppointmentStatus | None = None,
    type: Annotated[AppointmentType | None, Query(description="in_person or video")] = None,
    doctor_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    sort: Annotated[AppointmentSort, Query(description="starts_at or created_at")] = "starts_at",
    order: Literal["asc", "desc"] = "asc",
) -> JSONResponse:
    filters = AppointmentFilters(
        status=status,
        type=type,
        doctor_id=doctor_id,
        patient_id=patient_id,
        since=days.start,
        before=days.end,
        sort=sort,
        descending=order == "desc",
    )
    items, total = await service.list_appointments(session, principal, filters, paging)
    return ok(page_of("appointments", items, paging, total))


@router.post(
    "",
    status_code=201,
    response_model=Envelope[AppointmentRead],
    summary="Book a free slot: patients for themselves, staff for a chart of their"
    " organization (409 SLOT_UNAVAILABLE when the time is not free)",
)
async def book_appointment(
    body: AppointmentCreate, principal: AppointmentsBook, session: DbSession, settings: AppSettings
) -> JSONResponse:
    appointment = await booking.book(session, principal, settings, body)
    return created(appointment, message="Appointment booked")


@router.get(
    "/{appointment_id}", response_model=Envelope[AppointmentRead], summary="One appointment"
)
async def get_appointment(
    appointment_id: uuid.UUID, principal: AppointmentsRead, session: DbSession
) -> JSONResponse:
    return ok(await service.read_appointment(session, principal, appointment_id))


@router.put(
    "/{appointment_id}",
    response_model=Envelope[AppointmentRead],
    summary="Reschedule (`starts_at`) or move the status (`status`); 409"
    " INVALID_STATE_TRANSITION for a move not allowed now",
)
async def update_appointment(
    appointment_id: uuid.UUID,
    body: AppointmentUpdate,
    principal: AppointmentsBook,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    if (body.starts_at is None) == (body.status is None):
        raise ValidationFailed(
            "Send either `starts_at` (reschedule) or `status` (a status move)",
            details=[
                ErrorDetail(field=field, message="exactly one of starts_at and status")
                for field in ("starts_at", "status")
            ],
        )
    if body.starts_at is not None:
        if body.reason is not None:
            raise ValidationFailed(
                "A reason goes with a cancellation",
                details=[ErrorDetail(field="reason", message="only with status cancelled")],
            )
        appointment = await booking.reschedule(
            session, principal, settings, appointment_id, body.starts_at
        )
        return ok(appointment, message="Appointment rescheduled")
    assert body.status is not None
    target = AppointmentStatus(body.status)
    if body.reason is not None and target != AppointmentStatus.cancelled:
        raise ValidationFailed(
            "A reason goes with a cancellation",
            details=[ErrorDetail(field="reason", message="only with status cancelled")],
        )
    appointment = await lifecycle.change_status(
        session, principal, settings, appointment_id, target, reason=body.reason
    )
    return ok(appointment, message=f"Appointment {appointment.status}")


@router.delete(
    "/{appointment_id}",
    response_model=Envelope[AppointmentRead],
    summary="Cancel (the row stays, the slot is free again); 409 when it cannot be cancelled",
)
async def cancel_appointment(
    appointment_id: uuid.UUID,
    principal: AppointmentsBook,
    session: DbSession,
    settings: AppSettings,
    body: AppointmentCancel | None = None,
) -> JSONResponse:
    appointment = await lifecycle.cancel(
        session, principal, settings, appointment_id, body.reason if body else None
    )
    return ok(appointment, message="Appointment cancelled")
