"""Appointments as the read endpoints and other domains see them, and who acts for
which side. Booking and rescheduling are in `booking`, status moves and cancellation
in `lifecycle`, the messages they send in `notices`, reminders in `reminders`.

The appointment belongs to the doctor's organization (its tenant); its patient is a
chart of that organization.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments.exceptions import AppointmentNotFound
from medhub.appointments.repository import AppointmentRepository, Names
from medhub.appointments.schemas import AppointmentFilters, AppointmentRead
from medhub.authz.principal import Principal
from medhub.kit.pagination import PageParams
from medhub.models.appointments import Appointment
from medhub.models.identity import Role


def now() -> datetime:
    """The current instant (one place, so the lifecycle's time rules read one clock)."""
    return datetime.now(UTC)


def is_patient(principal: Principal) -> bool:
    return principal.role == Role.patient


def is_staff(principal: Principal) -> bool:
    """The organization's side: its admins and (approved) doctors."""
    return principal.role in {Role.admin, Role.doctor}


def zone_of(appointment: Appointment) -> ZoneInfo:
    try:
        return ZoneInfo(appointment.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        # Validated when the doctor saved it; gone only with the machine's zone data.
        return ZoneInfo("UTC")


def appointment_view(appointment: Appointment, names: Names) -> AppointmentRead:
    return AppointmentRead(
        id=appointment.id,
        organization_id=appointment.organization_id,
        organization_name=names.organization_name,
        patient_id=appointment.patient_id,
        patient_name=names.patient_name,
        doctor_id=appointment.doctor_id,
        doctor_name=names.doctor_name,
        starts_at=appointment.starts_at.astimezone(UTC),
        ends_at=appointment.ends_at.astimezone(UTC),
        timezone=appointment.timezone,
        local_start=appointment.starts_at.astimezone(zone_of(appointment)),
        duration_minutes=int((appointment.ends_at - appointment.starts_at).total_seconds() // 60),
        type=appointment.type,
        status=appointment.status,
        reason=appointment.reason,
        fee=appointment.fee,
        currency=appointment.currency,
        payment_status=appointment.payment_status,
        refund_amount=appointment.refund_amount,
        booked_by=appointment.booked_by,
        cancelled_at=appointment.cancelled_at,
        cancelled_by=appointment.cancelled_by,
        cancellation_reason=appointment.cancellation_reason,
        cancelled_late=appointment.cancelled_late,
        created_at=appointment.created_at,
        updated_at=appointment.updated_at,
    )


async def get_appointment(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Appointment:
    """An appointment the caller may see (see the repository), else 404: its existence
    is confirmed to no one else."""
    appointment = await AppointmentRepository(session).get_visible(
        principal, appointment_id, for_update=for_update
    )
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


async def lock_appointment(session: AsyncSession, appointment_id: uuid.UUID) -> Appointment | None:
    """An appointment by id alone, locked, for jobs in the system context (no caller to
    scope by): the row lock is what serialises them with requests on the same one."""
    return await AppointmentRepository(session).get_by_id(appointment_id, for_update=True)


async def names_of(session: AsyncSession, appointment: Appointment) -> Names:
    return await AppointmentRepository(session).names(appointment.id)


async def detail(session: AsyncSession, appointment: Appointment) -> AppointmentRead:
    return appointment_view(appointment, await names_of(session, appointment))


async def read_appointment(
    session: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> AppointmentRead:
    return await detail(session, await get_appointment(session, principal, appointment_id))


async def list_appointments(
    session: AsyncSession, principal: Principal, filters: AppointmentFilters, params: PageParams
) -> tuple[list[AppointmentRead], int]:
    """GET /appointments: a patient's own (every organization), a doctor's own, an
    organization admin's organization's."""
    rows, total = await AppointmentRepository(session).page(principal, filters, params)
    return [appointment_view(appointment, names) for appointment, names in rows], total
