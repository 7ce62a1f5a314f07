"""Disputes: within the hold window after a completed visit the patient may dispute
it; the held money then stays in escrow until an admin of the organization (or a super
admin) resolves it: released as usual, refunded in full, or refunded in part with the
rest released. Both sides are told either way, and both steps are audited."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments import service as appointments
from medhub.appointments.exceptions import AppointmentNotFound
from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.billing import escrow, service
from medhub.billing.exceptions import DisputeNotAllowed, DisputeNotFound, InvalidField
from medhub.billing.repository import DisputeRepository, PaymentRepository
from medhub.billing.schemas import DisputeCreate, DisputeOutcome, DisputeRead, DisputeResolve
from medhub.config import Settings
from medhub.kit.errors import Conflict, ErrorDetail
from medhub.kit.money import to_cents
from medhub.models.appointments import Appointment, AppointmentStatus
from medhub.models.base import new_id
from medhub.models.billing import (
    AppointmentDispute,
    AppointmentPaymentState,
    DisputeResolution,
    DisputeStatus,
)
from medhub.models.notifications import NotificationCategory
from medhub.notifications import service as notifications


async def _tell_both(
    session: AsyncSession, appointment: Appointment, title: str, body: str
) -> None:
    names = await appointments.names_of(session, appointment)
    data = {"link": f"/appointments/{appointment.id}", "appointment_id": str(appointment.id)}
    for recipient in (names.patient_user_id, appointment.doctor_id):
        if recipient is not None:
            await notifications.notify(
                session, recipient, NotificationCategory.appointment, title, body, data
            )


async def open_dispute(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    appointment_id: uuid.UUID,
    data: DisputeCreate,
) -> DisputeOutcome:
    """POST /appointments/{id}/dispute (the patient)."""
    appointment = await appointments.get_appointment(
        session, principal, appointment_id, for_update=True
    )
    if appointment.status != AppointmentStatus.completed:
        raise DisputeNotAllowed(
            "Only a completed consultation can be disputed",
            details=[ErrorDetail(field="status", message=appointment.status)],
        )
    payment = await PaymentRepository(session).live_for(appointment.id, for_update=True)
    if (
        payment is None
        or payment.status != AppointmentPaymentState.captured
        or payment.released_at is not None
        or payment.release_after is None
    ):
        raise DisputeNotAllowed(
            "There is no held payment to dispute",
            details=[ErrorDetail(field="payment_status", message=appointment.payment_status)],
        )
    closes = payment.release_after + service.hold_window(settings)
    if service.now() >= closes:
        raise DisputeNotAllowed(
            "The dispute window has closed",
            details=[ErrorDetail(field="status", message=f"closed {closes.isoformat()}")],
        )
    repository = DisputeRepository(session)
    if await repository.for_appointment(appointment.id) is not None:
        raise DisputeNotAllowed("This appointment was already disputed")
    dispute = AppointmentDispute(
        id=new_id(),
        appointment_id=appointment.id,
        organization_id=appointment.organization_id,
        payment_id=payment.id,
        opened_by=principal.user_id,
        reason=data.reason,
        status=DisputeStatus.open.value,
    )
    await repository.add(dispute)
    await session.refresh(dispute, ["created_at", "updated_at"])
    audit.record(
        session,
        "appointment_dispute.opened",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        # The reason is free text (it may be medical): only that one was given.
        metadata={"dispute_id": str(dispute.id), "payment_id": str(payment.id)},
    )
    await _tell_both(
        session,
        appointment,
        "Consultation payment disputed",
        "The payment for this consultation is disputed and held until the clinic resolves it.",
    )
    return DisputeOutcome(
        dispute=DisputeRead.of(dispute), appointment=await appointments.detail(session, appointment)
    )


async def _appointment_for_resolver(
    session: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> Appointment:
    if principal.is_super_admin:
        # Platform-wide: the super admin's context is the system's.
        appointment = await appointments.lock_appointment(session, appointment_id)
        if appointment is None:
            raise AppointmentNotFound()
        return appointment
    return await appointments.get_appointment(session, principal, appointment_id, for_update=True)


async def resolve_dispute(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    appointment_id: uuid.UUID,
    data: DisputeResolve,
) -> DisputeOutcome:
    """POST /appointments/{id}/dispute/resolve (the organization's admin, a super admin)."""
    appointment = await _appointment_for_resolver(session, principal, appointment_id)
    repository = DisputeRepository(session)
    dispute = await repository.for_appointment(appointment.id, for_update=True)
    if dispute is None:
        raise DisputeNotFound()
    if dispute.status != DisputeStatus.open:
        raise Conflict(
            "This dispute is already resolved",
            details=[ErrorDetail(field="resolution", message=dispute.resolution or "")],
        )
    payment = await PaymentRepository(session).live_for(appointment.id, for_update=True)
    if payment is None or payment.id != dispute.payment_id:
        raise Conflict("The disputed payment is no longer held")
    held = service.held_amount(payment)
    refunded = None
    if data.resolution == DisputeResolution.refund:
        refunded = held
    elif data.resolution == DisputeResolution.partial_refund:
        refunded = to_cents(data.amount) if data.amount is not None else None
        if refunded is None or refunded <= 0 or refunded >= held:
            raise InvalidField(
                "amount",
                f"must be above 0 and below the held {held:.2f} {payment.currency}"
                " (send refund to give it all back)",
            )
    if refunded is not None and refunded > 0:
        await escrow.refund(
            session,
            settings,
            appointment,
            payment,
            refunded,
            actor=principal,
            why=f"dispute_{data.resolution.value}",
        )
    # Whatever is left goes to the doctor now: the resolution ends the hold.
    await escrow.release(session, settings, appointment, payment, actor=principal)
    dispute.status = DisputeStatus.resolved.value
    dispute.resolution = data.resolution.value
    dispute.refund_amount = refunded
    dispute.resolved_by = principal.user_id
    dispute.resolved_at = service.now()
    await session.flush()
    await session.refresh(dispute, ["updated_at"])
    audit.record(
        session,
        "appointment_dispute.resolved",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={
            "dispute_id": str(dispute.id),
            "resolution": data.resolution.value,
            "refund_amount": str(refunded) if refunded is not None else None,
        },
    )
    outcome = {
        DisputeResolution.release: "the payment is released to the doctor",
        DisputeResolution.refund: "the payment is refunded in full",
        DisputeResolution.partial_refund: (
            f"{refunded or 0:.2f} {payment.currency} is refunded, the rest released"
        ),
    }[data.resolution]
    await _tell_both(
        session,
        appointment,
        "Consultation payment dispute resolved",
        f"The dispute was resolved: {outcome}.",
    )
    return DisputeOutcome(
        dispute=DisputeRead.of(dispute), appointment=await appointments.detail(session, appointment)
    )
