"""Reminders to the patient, 24 hours and 1 hour before an appointment (email and
in-app), each sent once however many workers run them.

A reminder is claimed by a conditional UPDATE (`... SET reminder_24h_sent_at = now()
WHERE ... AND reminder_24h_sent_at IS NULL RETURNING id`) in the transaction that
queues its notification and email: two runs at once cannot both claim one, a run
that fails rolls its claims back with its messages, and a cancelled appointment is
never claimed. A reminder whose time has come when the appointment is booked (or
moved) is marked sent there: the booking's message says as much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments import notices
from medhub.appointments.repository import AppointmentRepository
from medhub.appointments.service import now, zone_of
from medhub.kit.db import Database
from medhub.kit.tenancy import set_system_context
from medhub.models.appointments import Appointment

BATCH = 100


@dataclass(frozen=True)
class Reminder:
    column: str
    # Due once the start is this close...
    due_within: timedelta
    # ...and still further away than this (a later reminder covers the rest).
    later_than: timedelta


DAY_BEFORE = Reminder("reminder_24h_sent_at", timedelta(hours=24), timedelta(hours=1))
HOUR_BEFORE = Reminder("reminder_1h_sent_at", timedelta(hours=1), timedelta(0))
REMINDERS = (DAY_BEFORE, HOUR_BEFORE)


def starts_in(appointment: Appointment, moment: datetime) -> str:
    """How the reminder says when: "in 45 minutes", "today at 18:00", "tomorrow at
    10:30" (the doctor's clock, as everywhere in the appointment's messages)."""
    ahead = appointment.starts_at - moment
    if ahead <= timedelta(hours=1):
        minutes = max(1, math.ceil(ahead.total_seconds() / 60))
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    zone = zone_of(appointment)
    local = appointment.starts_at.astimezone(zone)
    days = (local.date() - moment.astimezone(zone).date()).days
    day = {0: "today", 1: "tomorrow"}.get(days, f"on {local:%A}")
    return f"{day} at {local:%H:%M}"


async def send_due(session: AsyncSession, reminder: Reminder, *, limit: int = BATCH) -> int:
    """Claim and send up to `limit` due reminders of one kind; how many."""
    repository = AppointmentRepository(session)
    claimed = await repository.claim_reminders(
        reminder.column,
        due_within=reminder.due_within,
        later_than=reminder.later_than,
        limit=limit,
    )
    moment = now()
    for appointment_id in claimed:
        appointment = await repository.get_by_id(appointment_id)
        if appointment is None:  # claimed in this transaction: cannot be gone
            continue
        names = await repository.names(appointment_id)
        await notices.reminder(session, appointment, names, starts_in(appointment, moment))
    return len(claimed)


async def send_due_reminders(database: Database, *, batch: int = BATCH) -> int:
    """Every due reminder, batch after batch, each batch its own transaction (in the
    system context: reminders are every organization's)."""
    total = 0
    for reminder in REMINDERS:
        while True:
            async with database.unit_of_work() as session:
                await set_system_context(session)
                sent = await send_due(session, reminder, limit=batch)
            total += sent
            if sent < batch:
                break
    return total
