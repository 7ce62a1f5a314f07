"""What an appointment's changes tell its two sides: an in-app notification and an
email with the `.ics` invitation (REQUEST when booked or moved, CANCEL when
cancelled), to the patient and to the doctor; the reminders; the confirmation.

All of it joins the caller's transaction (`notifications.notify` and
`mail.queue_email` queue their rows and jobs there): a change that rolls back tells
no one, a committed one always tells.

The patient is reached through the account their chart is linked to (in-app and
email, as they chose for appointments), else at the chart's email address (email
only), else not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments import calendar
from medhub.appointments.repository import Names
from medhub.appointments.service import now, zone_of
from medhub.config import Settings
from medhub.mail import service as mail
from medhub.models.appointments import Appointment, AppointmentType
from medhub.models.notifications import NotificationCategory
from medhub.notifications import service as notifications

CATEGORY = NotificationCategory.appointment
# How times read in messages: "Tuesday, 24 November 2026, 10:30" (and the zone beside).
WHEN_FORMAT = "%A, %d %B %Y, %H:%M"


class Change(StrEnum):
    booked = "booked"
    rescheduled = "rescheduled"
    cancelled = "cancelled"


TEMPLATES = {
    Change.booked: "appointment_booked",
    Change.rescheduled: "appointment_rescheduled",
    Change.cancelled: "appointment_cancelled",
}


def when(appointment: Appointment, instant: datetime | None = None) -> str:
    """An instant (the start by default) on the doctor's clock, as messages show it."""
    moment = instant if instant is not None else appointment.starts_at
    return moment.astimezone(zone_of(appointment)).strftime(WHEN_FORMAT)


def _doctor(names: Names) -> str:
    return names.doctor_name or "your doctor"


def _patient(names: Names) -> str:
    return names.patient_name or "your patient"


def _location(appointment: Appointment, names: Names) -> str | None:
    """Where: the organization for a visit, None for a video consultation."""
    if appointment.type == AppointmentType.video:
        return None
    return names.organization_name or "the clinic"


def details(appointment: Appointment, names: Names) -> dict[str, Any]:
    """The context every appointment email shares (templates/email/_appointment_*)."""
    return {
        "doctor_name": _doctor(names),
        "patient_name": _patient(names),
        "appointment_id": str(appointment.id),
        "starts_at": when(appointment),
        "timezone": appointment.timezone,
        "duration_minutes": int(
            (appointment.ends_at - appointment.starts_at).total_seconds() // 60
        ),
        "location": _location(appointment, names),
    }


@dataclass(frozen=True)
class _Side:
    for_doctor: bool
    title: str
    body: str


def _sides(
    change: Change, appointment: Appointment, names: Names, extra: dict[str, Any]
) -> tuple[_Side, _Side]:
    """(patient, doctor): the notification's title and text for each side."""
    start = f"{when(appointment)} ({appointment.timezone})"
    doctor, patient = _doctor(names), _patient(names)
    if change is Change.booked:
        return (
            _Side(False, f"Appointment booked with {doctor}", f"Your appointment is on {start}."),
            _Side(True, f"New appointment: {patient}", f"{patient} is booked for {start}."),
        )
    if change is Change.rescheduled:
        moved = f"Moved from {extra['previous_starts_at']} to {start}."
        return (
            _Side(False, f"Appointment with {doctor} moved", moved),
            _Side(True, f"Appointment moved: {patient}", moved),
        )
    cancelled = f"The appointment on {start} was cancelled by {extra['cancelled_by']}."
    return (
        _Side(False, f"Appointment with {doctor} cancelled", cancelled),
        _Side(True, f"Appointment cancelled: {patient}", cancelled),
    )


def _invitation(
    settings: Settings,
    appointment: Appointment,
    names: Names,
    change: Change,
    *,
    for_doctor: bool,
    at: datetime,
) -> dict[str, Any]:
    frontend = settings.FRONTEND_URL.rstrip("/")
    link = f"{frontend}/appointments/{appointment.id}"
    video = appointment.type == AppointmentType.video
    sender_name, sender_address = parseaddr(settings.FROM_EMAIL)
    attendees = tuple(
        (name, email)
        for name, email in (
            (_patient(names), names.patient_email),
            (_doctor(names), names.doctor_email),
        )
        if email
    )
    summary = (
        f"Appointment: {_patient(names)}" if for_doctor else f"Appointment with {_doctor(names)}"
    )
    description = (
        f"Video consultation: join at {link}/join"
        if video
        else f"Visit at {_location(appointment, names)}"
    )
    invitation = calendar.Invitation(
        appointment_id=appointment.id,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        summary=summary,
        description=f"{description}\nManage it: {link}",
        location=f"{link}/join" if video else _location(appointment, names),
        url=link,
        organizer_name=names.organization_name or sender_name or "MedHub",
        organizer_email=sender_address or "noreply@medhub.local",
        attendees=attendees,
        sequence=calendar.sequence_for(
            appointment.created_at, at, revision=change is not Change.booked
        ),
        method=calendar.Method.cancel if change is Change.cancelled else calendar.Method.request,
        stamp=at,
    )
    return calendar.attachment(invitation)


async def announce(
    session: AsyncSession,
    settings: Settings,
    appointment: Appointment,
    names: Names,
    change: Change,
    **extra: Any,
) -> None:
    """Tell both sides about `change` (with `extra` for its template: the previous
    start of a reschedule, who cancelled and why)."""
    at = now()
    patient_side, doctor_side = _sides(change, appointment, names, extra)
    template = TEMPLATES[change]
    data = {
        "link": f"/appointments/{appointment.id}",
        "appointment_id": str(appointment.id),
        "change": change.value,
    }
    for side in (patient_side, doctor_side):
        context = {**details(appointment, names), **extra, "for_doctor": side.for_doctor}
        ics = _invitation(settings, appointment, names, change, for_doctor=side.for_doctor, at=at)
        recipient = appointment.doctor_id if side.for_doctor else names.patient_user_id
        if recipient is not None:
            await notifications.notify(
                session,
                recipient,
                CATEGORY,
                side.title,
                side.body,
                data,
                email=(template, context),
                attachments=[ics],
            )
        elif names.patient_email:
            # A chart without an account: the email is all it can get.
            await mail.queue_email(
                session,
                template,
                names.patient_email,
                {"full_name": _patient(names), **context},
                attachments=[ics],
            )


async def confirmed(session: AsyncSession, appointment: Appointment, names: Names) -> None:
    """The doctor's side confirmed the appointment: the patient hears it."""
    context = details(appointment, names)
    title = f"Appointment with {_doctor(names)} confirmed"
    body = f"See you on {when(appointment)} ({appointment.timezone})."
    await _to_patient(
        session,
        names,
        template="appointment_confirmation",
        context=context,
        title=title,
        body=body,
        appointment_id=appointment.id,
    )


async def reminder(
    session: AsyncSession, appointment: Appointment, names: Names, starts_in: str
) -> None:
    """A reminder to the patient (`starts_in`: "tomorrow at 10:30", "in 1 hour")."""
    context = {**details(appointment, names), "starts_in": starts_in}
    title = f"Reminder: appointment with {_doctor(names)} {starts_in}"
    body = f"Your appointment is on {when(appointment)} ({appointment.timezone})."
    await _to_patient(
        session,
        names,
        template="appointment_reminder",
        context=context,
        title=title,
        body=body,
        appointment_id=appointment.id,
    )


async def _to_patient(
    session: AsyncSession,
    names: Names,
    *,
    template: str,
    context: dict[str, Any],
    title: str,
    body: str,
    appointment_id: uuid.UUID,
) -> None:
    if names.patient_user_id is not None:
        await notifications.notify(
            session,
            names.patient_user_id,
            CATEGORY,
            title,
            body,
            {"link": f"/appointments/{appointment_id}", "appointment_id": str(appointment_id)},
            email=(template, context),
        )
    elif names.patient_email:
        await mail.queue_email(
            session, template, names.patient_email, {"full_name": _patient(names), **context}
        )
