"""Handlers of the prescription events (seed "Event-Driven Architecture"): each runs
once per event in its own job, in system context (events/tasks.py), and reloads what
it needs by id."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.events.registry import EventView, handles
from medhub.kit.jobs import JobRuntime
from medhub.prescriptions import notices
from medhub.prescriptions.repository import PrescriptionRepository


@handles("prescription.created")
async def send_prescription_email(
    session: AsyncSession, runtime: JobRuntime, event: EventView
) -> None:
    """The patient's prescription email and in-app notification."""
    repository = PrescriptionRepository(session)
    prescription = await repository.get(uuid.UUID(event.payload["prescription_id"]))
    if prescription is None:
        return
    items = await repository.items_of([prescription.id])
    await notices.prescription_written(
        session, runtime.settings, prescription, items[prescription.id]
    )


@handles("prescription.dispensed")
async def tell_patient_dispensed(
    session: AsyncSession, runtime: JobRuntime, event: EventView
) -> None:
    """The patient hears what a pharmacy handed out, and what remains."""
    prescription = await PrescriptionRepository(session).get(
        uuid.UUID(event.payload["prescription_id"])
    )
    if prescription is None:
        return
    complete = event.payload.get("complete", False)
    title = (
        f"Your prescription {prescription.number} has been dispensed"
        if complete
        else f"Part of your prescription {prescription.number} has been dispensed"
    )
    body = f"{event.payload.get('pharmacy_name', 'Your pharmacy')} handed out: " + str(
        event.payload.get("summary", "")
    )
    if not complete:
        body += ". The rest can be dispensed until " + prescription.expires_at.strftime(
            notices.DAY_FORMAT
        )
    await notices.status_changed(session, prescription, title=title, body=body + ".")


@handles("prescription.rejected")
async def tell_rejected(session: AsyncSession, runtime: JobRuntime, event: EventView) -> None:
    """The prescriber and the patient hear which pharmacy rejected it, and why."""
    prescription = await PrescriptionRepository(session).get(
        uuid.UUID(event.payload["prescription_id"])
    )
    if prescription is None:
        return
    pharmacy_name = str(event.payload.get("pharmacy_name", "A pharmacy"))
    reason = str(event.payload.get("reason", ""))
    await notices.rejected_to_prescriber(session, prescription, pharmacy_name, reason)
    await notices.status_changed(
        session,
        prescription,
        title=f"Your prescription {prescription.number} was rejected by {pharmacy_name}",
        body=f"Reason: {reason}. Please contact {prescription.prescriber_name}.",
    )
