"""Booking and rescheduling: a time is bookable exactly when the doctor's free slots
(GET /doctors/{id}/slots, `doctors.directory.free_slot_at`) offer it.

That check reads; it does not reserve. Two bookings of one slot at once both pass
it, and the exclusion constraints on appointments (one doctor, one chart: no two
active appointments overlap) let the first insert through and refuse the other when
it flushes: SQLSTATE 23P01, answered 409 SLOT_UNAVAILABLE like a slot seen taken.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments import notices
from medhub.appointments.exceptions import (
    AppointmentStateConflict,
    PatientAlreadyBooked,
    SlotUnavailable,
)
from medhub.appointments.repository import AppointmentRepository, overlap_kind
from medhub.appointments.schemas import AppointmentCreate, AppointmentRead, PaymentInstructions
from medhub.appointments.service import (
    appointment_view,
    get_appointment,
    is_patient,
    now,
)
from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.doctors import directory
from medhub.doctors.exceptions import DoctorNotFound
from medhub.doctors.schemas import PublicDoctor
from medhub.doctors.slots import Slot
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.models.appointments import (
    Appointment,
    AppointmentPaymentStatus,
    AppointmentStatus,
    AppointmentType,
)
from medhub.models.identity import Role
from medhub.models.patients import Patient
from medhub.patients import service as patients
from medhub.users import service as users

# What else happens when a patient books a consultation that has a fee: billing opens
# its payment (the appointment waits `requested`, payment_status `pending`) and says
# how to pay. Billing reads appointments, so this package may not import it; it is
# registered here by name when the application is put together (app.py), like
# lifecycle's start hooks.
BookedHook = Callable[
    [AsyncSession, Settings, Appointment, Principal], Awaitable[PaymentInstructions | None]
]
_BOOKED_HOOKS: dict[str, BookedHook] = {}


def on_booked(name: str, hook: BookedHook) -> None:
    """Run `hook(session, settings, appointment, patient)` when a patient books a
    consultation whose fee is above zero; what it returns is shown in the response."""
    _BOOKED_HOOKS[name] = hook


# The statuses whose time may still move.
RESCHEDULABLE = frozenset({AppointmentStatus.requested, AppointmentStatus.confirmed})
REMINDER_24H = timedelta(hours=24)
REMINDER_1H = timedelta(hours=1)


def _required(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        "The appointment cannot be booked as sent",
        details=[ErrorDetail(field=field, message=message)],
    )


def _check_type(doctor: PublicDoctor, kind: AppointmentType) -> None:
    if kind == AppointmentType.video and not doctor.offers_video:
        raise _required("type", "this doctor does not offer video consultations")


async def _slot(
    session: AsyncSession,
    settings: Settings,
    doctor_id: uuid.UUID,
    starts_at: datetime,
    *,
    held: tuple[datetime, datetime] | None = None,
) -> Slot:
    slot = await directory.free_slot_at(session, settings, doctor_id, starts_at, held=held)
    if slot is None:
        raise SlotUnavailable(
            details=[
                ErrorDetail(
                    field="starts_at",
                    message="not a free slot of this doctor (outside their hours, too soon,"
                    " in the past, or taken)",
                )
            ]
        )
    return slot


def _overlap_error(constraint: str) -> SlotUnavailable | PatientAlreadyBooked:
    detail = [ErrorDetail(field="starts_at", message="overlaps another active appointment")]
    if overlap_kind(constraint) == "patient":
        return PatientAlreadyBooked(details=detail)
    return SlotUnavailable("This slot was just taken: pick another one", details=detail)


async def _take_turns(
    repository: AppointmentRepository,
    *,
    user_id: uuid.UUID | None,
    patient_id: uuid.UUID,
    doctor_id: uuid.UUID,
    slot: Slot,
    excluding: uuid.UUID | None = None,
) -> None:
    """Wait for any other booking or move of this person, chart or doctor to end (see
    `AppointmentRepository.take_turns`), then make sure the person is free: someone
    with charts at several organizations holds no two overlapping appointments either
    (each chart's constraint sees one organization's), as far as the caller can see
    (every chart of theirs when a patient books themself)."""
    await repository.take_turns(account=user_id, chart=patient_id, doctor=doctor_id)
    if user_id is None:
        return
    if await repository.account_busy(user_id, slot.starts_at, slot.ends_at, excluding=excluding):
        raise PatientAlreadyBooked(
            details=[
                ErrorDetail(field="starts_at", message="the patient has another appointment then")
            ]
        )


def _reminders_covered(appointment: Appointment, moment: datetime) -> None:
    """A booking (or move) at short notice tells the patient everything a reminder
    would: the reminders whose time has already come count as sent and do not go out;
    the others (again, after a move) go out at their time."""
    ahead = appointment.starts_at - moment
    appointment.reminder_24h_sent_at = moment if ahead <= REMINDER_24H else None
    appointment.reminder_1h_sent_at = moment if ahead <= REMINDER_1H else None


async def _chart_and_doctor(
    session: AsyncSession, principal: Principal, data: AppointmentCreate
) -> tuple[Patient | None, PublicDoctor]:
    """Whose appointment with whom: a patient books for themself (their chart comes
    later, once the slot checks out); staff for a chart of their organization, with
    one of its doctors."""
    if is_patient(principal):
        if data.patient_id is not None:
            raise _required("patient_id", "patients book for themselves: leave it out")
        if data.doctor_id is None:
            raise _required("doctor_id", "required")
        return None, await directory.public_profile(session, data.doctor_id)
    doctor_id = data.doctor_id
    if doctor_id is None and principal.role == Role.doctor:
        doctor_id = principal.require_user_id()
    problems = []
    if doctor_id is None:
        problems.append(ErrorDetail(field="doctor_id", message="required"))
    if data.patient_id is None:
        problems.append(ErrorDetail(field="patient_id", message="required when staff book"))
    if problems or doctor_id is None or data.patient_id is None:
        raise ValidationFailed("The appointment cannot be booked as sent", details=problems)
    chart = await patients.get_patient(session, principal, data.patient_id)
    try:
        doctor = await directory.public_profile(session, doctor_id)
    except DoctorNotFound as error:
        if doctor_id == principal.user_id:
            # A doctor booking for themself who is not bookable: say why.
            raise _required(
                "doctor_id",
                "you are not bookable: your profile must be listed in the directory",
            ) from error
        raise
    if doctor.organization_id != principal.organization_id:
        raise _required("doctor_id", "not a doctor of your organization")
    return chart, doctor


async def book(
    session: AsyncSession, principal: Principal, settings: Settings, data: AppointmentCreate
) -> AppointmentRead:
    """POST /appointments."""
    chart, doctor = await _chart_and_doctor(session, principal, data)
    _check_type(doctor, data.type)
    slot = await _slot(session, settings, doctor.id, data.starts_at)
    if chart is None:
        # The patient's chart at the doctor's organization: found, or created on their
        # first booking there.
        user = await users.get_user(session, principal.require_user_id())
        chart = await patients.chart_for_account(
            session, organization_id=doctor.organization_id, user=user
        )
    repository = AppointmentRepository(session)
    await _take_turns(
        repository, user_id=chart.user_id, patient_id=chart.id, doctor_id=doctor.id, slot=slot
    )
    moment = now()
    appointment = _new_appointment(
        doctor,
        chart_id=chart.id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        type_=data.type,
        reason=data.reason,
        status=AppointmentStatus.requested,
        booked_by=principal.actor_id,
    )
    _reminders_covered(appointment, moment)
    session.add(appointment)
    refused = await repository.flush_or_overlap()
    if refused is not None:
        raise _overlap_error(refused)
    audit.record(
        session,
        "appointment.booked",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={
            "doctor_id": str(appointment.doctor_id),
            "patient_id": str(appointment.patient_id),
            "starts_at": appointment.starts_at.isoformat(),
            "type": appointment.type,
            "by": principal.role,
        },
    )
    # Only a patient booking for themself pays here: staff booking for a chart collect
    # the fee at the desk (the appointment stays `unpaid`, as before payments existed).
    payment: PaymentInstructions | None = None
    if is_patient(principal) and appointment.fee > 0:
        for hook in list(_BOOKED_HOOKS.values()):
            payment = await hook(session, settings, appointment, principal) or payment
    names = await repository.names(appointment.id)
    await notices.announce(session, settings, appointment, names, notices.Change.booked)
    view = appointment_view(appointment, names)
    view.payment = payment
    return view


async def reschedule(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    appointment_id: uuid.UUID,
    starts_at: datetime,
) -> AppointmentRead:
    """PUT /appointments/{id} {"starts_at": ...}: the same doctor, another free slot,
    in one UPDATE (the appointment holds its old time until the new one is its own)."""
    appointment = await get_appointment(session, principal, appointment_id, for_update=True)
    current = AppointmentStatus(appointment.status)
    if current not in RESCHEDULABLE:
        raise AppointmentStateConflict(
            f"An appointment that is {current.value} cannot be rescheduled",
            details=[ErrorDetail(field="starts_at", message="only requested or confirmed ones")],
        )
    moment = now()
    if is_patient(principal):
        cutoff = appointment.starts_at - timedelta(hours=settings.APPOINTMENT_CANCEL_CUTOFF_HOURS)
        if moment > cutoff:
            raise AppointmentStateConflict(
                f"Too late to reschedule: patients move an appointment until"
                f" {settings.APPOINTMENT_CANCEL_CUTOFF_HOURS} hours before its start"
                " (it can still be cancelled)",
                details=[ErrorDetail(field="starts_at", message="the cut-off has passed")],
            )
    if starts_at == appointment.starts_at:
        raise _required("starts_at", "the appointment already starts then")
    held = (appointment.starts_at, appointment.ends_at)
    try:
        slot = await _slot(session, settings, appointment.doctor_id, starts_at, held=held)
        doctor = await directory.public_profile(session, appointment.doctor_id)
    except DoctorNotFound as error:
        # The doctor left the directory since: the appointment stands, but no new time
        # can be offered for it.
        raise SlotUnavailable(
            "This doctor cannot be booked any more: the appointment keeps its time"
        ) from error
    repository = AppointmentRepository(session)
    before = await repository.names(appointment.id)
    await _take_turns(
        repository,
        user_id=before.patient_user_id,
        patient_id=appointment.patient_id,
        doctor_id=appointment.doctor_id,
        slot=slot,
        excluding=appointment.id,
    )
    previous = appointment.starts_at
    appointment.starts_at = slot.starts_at
    appointment.ends_at = slot.ends_at
    appointment.timezone = doctor.timezone
    if is_patient(principal) and current == AppointmentStatus.confirmed:
        # The doctor confirmed the old time, not this one.
        appointment.status = AppointmentStatus.requested.value
    _reminders_covered(appointment, moment)
    refused = await repository.flush_or_overlap()
    if refused is not None:
        raise _overlap_error(refused)
    audit.record(
        session,
        "appointment.rescheduled",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={
            "from": previous.isoformat(),
            "to": appointment.starts_at.isoformat(),
            "status": appointment.status,
            "by": principal.role,
        },
    )
    names = await repository.names(appointment.id)
    await notices.announce(
        session,
        settings,
        appointment,
        names,
        notices.Change.rescheduled,
        previous_starts_at=notices.when(appointment, previous),
    )
    return appointment_view(appointment, names)


def _new_appointment(
    doctor: PublicDoctor,
    *,
    chart_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    type_: AppointmentType,
    reason: str | None,
    status: AppointmentStatus,
    booked_by: uuid.UUID | None,
) -> Appointment:
    """The row a booking writes: fee and currency from the doctor's public profile, a
    room for a video appointment."""
    return Appointment(
        organization_id=doctor.organization_id,
        patient_id=chart_id,
        doctor_id=doctor.id,
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=doctor.timezone,
        type=type_.value,
        status=status.value,
        reason=reason,
        fee=doctor.consultation_fee,
        currency=doctor.currency,
        payment_status=(
            AppointmentPaymentStatus.unpaid.value
            if doctor.consultation_fee > 0
            else AppointmentPaymentStatus.not_required.value
        ),
        booked_by=booked_by,
        video_room=secrets.token_urlsafe(24) if type_ == AppointmentType.video else None,
    )


async def record_earlier_booking(
    session: AsyncSession,
    principal: Principal,
    *,
    doctor_id: uuid.UUID,
    chart_id: uuid.UUID,
    starts_at: datetime,
    minutes: int,
    type_: AppointmentType,
    reason: str | None,
    booked_by: uuid.UUID | None,
    via: str,
) -> uuid.UUID:
    """An appointment that was booked before now (history brought in from elsewhere, or
    the demo's past visits): `confirmed`, at `starts_at`, which may be in the past.

    `book` rightly offers only free slots from now plus the lead time, and the lifecycle
    lets an appointment be checked in, started or marked a no-show only around or after
    its start; a visit under way, finished or missed today was booked in the past,
    which is what this records. The row is what `book` writes, under the caller's tenant
    context (row-level security and the exclusion constraints apply), audited as a
    booking marked `via`, with no emails (they would announce a time already passed)
    and no reminders due. What happens next goes through the lifecycle."""
    doctor = await directory.public_profile(session, doctor_id)
    appointment = _new_appointment(
        doctor,
        chart_id=chart_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        type_=type_,
        reason=reason,
        status=AppointmentStatus.confirmed,
        booked_by=booked_by,
    )
    moment = now()
    appointment.reminder_24h_sent_at = moment
    appointment.reminder_1h_sent_at = moment
    session.add(appointment)
    refused = await AppointmentRepository(session).flush_or_overlap()
    if refused is not None:
        raise _overlap_error(refused)
    audit.record(
        session,
        "appointment.booked",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={
            "doctor_id": str(appointment.doctor_id),
            "patient_id": str(appointment.patient_id),
            "starts_at": appointment.starts_at.isoformat(),
            "type": appointment.type,
            "by": principal.role,
            "via": via,
        },
    )
    return appointment.id
