"""The appointment lifecycle: requested → confirmed → checked_in → in_progress →
completed, or cancelled / no_show.

Who moves what: the organization's side (the appointment's doctor, the
organization's admins) confirms, checks in and starts (from
APPOINTMENT_EARLY_START_MINUTES before the start), completes, and marks a no-show
(once the start has passed); either side cancels. A patient cancels any time before
the start; inside APPOINTMENT_CANCEL_CUTOFF_HOURS the cancellation is marked late
(what that costs is the payments issue's). A cancelled appointment keeps its row and
frees its time: the exclusion constraints only count active statuses.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments import notices
from medhub.appointments.exceptions import AppointmentStateConflict
from medhub.appointments.repository import AppointmentRepository, Names
from medhub.appointments.schemas import AppointmentRead
from medhub.appointments.service import (
    appointment_view,
    get_appointment,
    is_patient,
    now,
)
from medhub.audit import service as audit
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit.errors import ErrorDetail, PermissionDenied
from medhub.models.appointments import Appointment, AppointmentStatus
from medhub.models.identity import Role

S = AppointmentStatus

TRANSITIONS: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    S.requested: frozenset({S.confirmed, S.cancelled, S.no_show}),
    # A video consultation has no desk to check in at: confirmed may start directly.
    S.confirmed: frozenset({S.checked_in, S.in_progress, S.cancelled, S.no_show}),
    S.checked_in: frozenset({S.in_progress, S.cancelled}),
    S.in_progress: frozenset({S.completed}),
    S.completed: frozenset(),
    S.cancelled: frozenset(),
    S.no_show: frozenset(),
}
# Moves that need the patient to be there: not before the early-start window opens.
ARRIVAL_MOVES = frozenset({S.checked_in, S.in_progress})

# What else happens, in the same unit of work, when an appointment starts (moves to
# in_progress): the consultations domain opens the appointment's consultation. It reads
# appointments, so this package may not import it; it is registered here instead, by
# name (registering again replaces), when the application is put together (app.py).
StartHook = Callable[[AsyncSession, Appointment, Principal], Awaitable[object]]
_START_HOOKS: dict[str, StartHook] = {}


def on_start(name: str, hook: StartHook) -> None:
    """Run `hook(session, appointment, actor)` whenever an appointment starts."""
    _START_HOOKS[name] = hook


# What else happens, in the same unit of work, when an appointment's status changes
# (billing: a cancellation refunds what the rules give back, a completed visit or a
# no-show starts the escrow hold). Registered like the start hooks. The hook gets the
# settings when the move came with them (None from a consultation's move), the status
# before, and who moved it (None: a job of the platform).
StatusHook = Callable[
    [AsyncSession, Settings | None, Appointment, str, Principal | None], Awaitable[object]
]
_STATUS_HOOKS: dict[str, StatusHook] = {}


def on_status_change(name: str, hook: StatusHook) -> None:
    """Run `hook(session, settings, appointment, previous, actor)` after every move."""
    _STATUS_HOOKS[name] = hook


async def _moved(
    session: AsyncSession,
    settings: Settings | None,
    appointment: Appointment,
    previous: str,
    principal: Principal | None,
) -> None:
    for hook in list(_STATUS_HOOKS.values()):
        await hook(session, settings, appointment, previous, principal)


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_transition(appointment: Appointment, target: AppointmentStatus) -> None:
    current = AppointmentStatus(appointment.status)
    allowed = TRANSITIONS[current]
    if target not in allowed:
        choices = ", ".join(sorted(s.value for s in allowed)) or "none (final state)"
        raise AppointmentStateConflict(
            f"An appointment that is {current.value} cannot become {target.value}",
            details=[ErrorDetail(field="status", message=f"allowed next: {choices}")],
        )


def _check_timing(
    settings: Settings, appointment: Appointment, target: AppointmentStatus, moment: datetime
) -> None:
    if target in ARRIVAL_MOVES:
        opens = appointment.starts_at - timedelta(minutes=settings.APPOINTMENT_EARLY_START_MINUTES)
        if moment < opens:
            raise AppointmentStateConflict(
                f"Too early: an appointment can become {target.value} from"
                f" {settings.APPOINTMENT_EARLY_START_MINUTES} minutes before its start",
                details=[ErrorDetail(field="status", message=f"from {_at(opens)}")],
            )
    if target == S.no_show and moment < appointment.starts_at:
        raise AppointmentStateConflict(
            "A patient is a no-show only once the appointment's start has passed",
            details=[ErrorDetail(field="status", message=f"from {_at(appointment.starts_at)}")],
        )


async def change_status(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    appointment_id: uuid.UUID,
    target: AppointmentStatus,
    *,
    reason: str | None = None,
) -> AppointmentRead:
    """PUT /appointments/{id} {"status": ...}."""
    if target == S.cancelled:
        return await cancel(session, principal, settings, appointment_id, reason)
    # Seen first, refused second: another patient's appointment stays a 404.
    appointment = await get_appointment(session, principal, appointment_id, for_update=True)
    if not can(principal.role, Action.APPOINTMENTS_MANAGE):
        raise PermissionDenied(
            "Patients reschedule or cancel their appointments; the doctor's side moves their status"
        )
    _check_transition(appointment, target)
    _check_timing(settings, appointment, target, now())
    previous = appointment.status
    appointment.status = target.value
    await session.flush()
    if target == S.in_progress:
        for hook in list(_START_HOOKS.values()):
            await hook(session, appointment, principal)
    await _moved(session, settings, appointment, previous, principal)
    audit.record(
        session,
        "appointment.status_changed",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={"from": previous, "to": target.value, "by": principal.role},
    )
    names = await AppointmentRepository(session).names(appointment.id)
    if target == S.confirmed:
        await notices.confirmed(session, appointment, names)
    return appointment_view(appointment, names)


# Where an appointment goes when its consultation starts or completes (the doctor is
# seeing, or has seen, the patient whatever the appointment said): from these statuses.
FOLLOWS_CONSULTATION: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    S.in_progress: frozenset({S.confirmed, S.checked_in}),
    S.completed: frozenset({S.confirmed, S.checked_in, S.in_progress}),
}


async def follow_consultation(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    target: AppointmentStatus,
    consultation_id: uuid.UUID,
) -> bool:
    """The consultation of this appointment started or completed (the consultations
    domain calls this in its unit of work): the appointment follows, audited; True if
    it moved. An appointment already there, or cancelled, is left as it is. No start
    hooks: the consultation that would open is the one calling."""
    appointment = await get_appointment(session, principal, appointment_id, for_update=True)
    if AppointmentStatus(appointment.status) not in FOLLOWS_CONSULTATION[target]:
        return False
    previous = appointment.status
    appointment.status = target.value
    await session.flush()
    await _moved(session, None, appointment, previous, principal)
    audit.record(
        session,
        "appointment.status_changed",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={
            "from": previous,
            "to": target.value,
            "by": principal.role,
            "via": "consultation",
            "consultation_id": str(consultation_id),
        },
    )
    return True


def _cancelled_by(principal: Principal, names: Names) -> str:
    """How the other side reads who cancelled."""
    if is_patient(principal):
        return "the patient"
    if principal.role == Role.doctor and names.doctor_name:
        return names.doctor_name
    return names.organization_name or "the clinic"


async def cancel(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    appointment_id: uuid.UUID,
    reason: str | None,
) -> AppointmentRead:
    """DELETE /appointments/{id} (or PUT with status cancelled): the row stays, marked
    cancelled with who, when and why; its time is free again at once."""
    appointment = await get_appointment(session, principal, appointment_id, for_update=True)
    _check_transition(appointment, S.cancelled)
    moment = now()
    late = False
    if is_patient(principal):
        if moment >= appointment.starts_at:
            raise AppointmentStateConflict(
                "This appointment has started: patients cancel before the start",
                details=[
                    ErrorDetail(field="status", message=f"started {_at(appointment.starts_at)}")
                ],
            )
        cutoff = appointment.starts_at - timedelta(hours=settings.APPOINTMENT_CANCEL_CUTOFF_HOURS)
        late = moment > cutoff
    previous = appointment.status
    appointment.status = S.cancelled.value
    appointment.cancelled_at = moment
    appointment.cancelled_by = principal.actor_id
    appointment.cancellation_reason = reason
    appointment.cancelled_late = late
    await session.flush()
    await _moved(session, settings, appointment, previous, principal)
    audit.record(
        session,
        "appointment.cancelled",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        # The reason is free text (it may say why medically): only whether one was given.
        metadata={
            "from": previous,
            "late": late,
            "reason_given": bool(reason),
            "by": principal.role,
        },
    )
    names = await AppointmentRepository(session).names(appointment.id)
    await notices.announce(
        session,
        settings,
        appointment,
        names,
        notices.Change.cancelled,
        cancelled_by=_cancelled_by(principal, names),
        reason=reason,
    )
    return appointment_view(appointment, names)


async def confirm_paid(session: AsyncSession, appointment: Appointment) -> bool:
    """The fee of a `requested` appointment was paid (billing, in its unit of work, with
    the appointment locked): it is confirmed and the patient hears it. True if it moved;
    an appointment staff already confirmed stays as it is."""
    if appointment.status != S.requested:
        return False
    appointment.status = S.confirmed.value
    await session.flush()
    audit.record(
        session,
        "appointment.status_changed",
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={"from": S.requested.value, "to": S.confirmed.value, "via": "payment"},
    )
    await notices.confirmed(
        session, appointment, await AppointmentRepository(session).names(appointment.id)
    )
    return True


async def cancel_unpaid(
    session: AsyncSession, settings: Settings, appointment: Appointment
) -> bool:
    """The fee was not paid in time (billing's timeout job, system context, the
    appointment locked): cancelled like any cancellation (slot freed, both sides told),
    by no one. True if it was cancelled.

    Only a request: an appointment the organization's staff confirmed without the fee
    (to be paid at the desk) is theirs to keep or cancel."""
    if AppointmentStatus(appointment.status) is not S.requested:
        return False
    previous = appointment.status
    appointment.status = S.cancelled.value
    appointment.cancelled_at = now()
    appointment.cancelled_by = None
    appointment.cancellation_reason = "The consultation fee was not paid in time"
    appointment.cancelled_late = False
    await session.flush()
    await _moved(session, settings, appointment, previous, None)
    audit.record(
        session,
        "appointment.cancelled",
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={
            "from": previous,
            "late": False,
            "reason_given": True,
            "by": "system",
            "via": "payment_timeout",
        },
    )
    names = await AppointmentRepository(session).names(appointment.id)
    await notices.announce(
        session,
        settings,
        appointment,
        names,
        notices.Change.cancelled,
        cancelled_by="MedHub (the fee was not paid in time)",
        reason=appointment.cancellation_reason,
    )
    return True
