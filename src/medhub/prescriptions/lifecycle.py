"""A prescription's end: cancelled by its doctors before anything was dispensed, or
expired when its time ran out (a periodic task).

    issued → scanned → validated → partially_dispensed → dispensed
       ↘ cancelled (nothing dispensed yet)   ↘ rejected (by a pharmacy)
       ↘ expired (any open one, at expires_at)
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit.db import Database
from medhub.kit.tenancy import set_system_context
from medhub.models.prescriptions import DISPENSABLE_STATUSES, PrescriptionStatus
from medhub.prescriptions import notices
from medhub.prescriptions.exceptions import AlreadyDispensed, PrescriptionClosed
from medhub.prescriptions.repository import PrescriptionRepository
from medhub.prescriptions.service import ENTITY, audit_about, full_view, now, readable

EXPIRY_BATCH = 500


async def cancel(
    session: AsyncSession,
    principal: Principal,
    prescription_id: uuid.UUID,
    reason: str,
    settings: Settings,
) -> dict[str, Any]:
    """`POST /doctors/prescriptions/{id}/cancel`: only while nothing was handed out."""
    prescription = await readable(session, principal, prescription_id, for_update=True)
    if PrescriptionStatus(prescription.status) not in DISPENSABLE_STATUSES:
        raise PrescriptionClosed(
            f"This prescription is {prescription.status}: it cannot be cancelled"
        )
    # Past its time it is expired, whether or not the sweep (every few minutes) has
    # said so yet: that is the status it must end in.
    if prescription.expires_at <= now():
        raise PrescriptionClosed(
            f"This prescription expired on {prescription.expires_at:%Y-%m-%d}: it cannot be"
            " cancelled"
        )
    items = (await PrescriptionRepository(session).items_of([prescription.id]))[prescription.id]
    if prescription.status == PrescriptionStatus.partially_dispensed or any(
        item.dispensed_quantity for item in items
    ):
        raise AlreadyDispensed()
    previous = prescription.status
    prescription.status = PrescriptionStatus.cancelled.value
    prescription.cancelled_at = now()
    prescription.cancelled_reason = reason
    await session.flush()
    audit_about(session, "prescription.cancelled", principal, prescription, previous=previous)
    await notices.status_changed(
        session,
        prescription,
        title=f"Your prescription {prescription.number} was cancelled",
        body=f"{prescription.prescriber_name} cancelled it: {reason}",
    )
    return await full_view(session, prescription, settings)


async def expire_due(database: Database) -> int:
    """Close every open prescription past its expiry; how many. Idempotent: a second
    run finds none, and two at once split the rows (skip locked)."""
    closed = 0
    while True:
        async with database.unit_of_work() as session:
            await set_system_context(session)
            expired = await PrescriptionRepository(session).expire_due(now(), EXPIRY_BATCH)
            for prescription in expired:
                audit.record(
                    session,
                    "prescription.expired",
                    organization_id=prescription.organization_id,
                    entity_type=ENTITY,
                    entity_id=prescription.id,
                    metadata={"patient_id": str(prescription.patient_id)},
                )
        closed += len(expired)
        if len(expired) < EXPIRY_BATCH:
            return closed
