"""An appointment's fee: paying it, capturing it into escrow, refunding it on
cancellation, releasing it after the visit, and cancelling what stays unpaid.

- Booking a paid consultation (a patient for themself) opens a pending payment with
  its bank-transfer instructions (`opened_on_booking`, appointments' booked hook);
  `POST /appointments/{id}/pay` starts or restarts it.
- The organization's admin records the transfer (`mark_paid`): captured, into escrow
  (ledger: patient_payments → escrow), payment_status `held`, appointment confirmed.
- A status move (`appointment_moved`, appointments' status hook): a cancellation
  refunds by the rules (ledger: escrow → refunds), a completed visit or a no-show
  starts the hold; what is left after a partial refund is released the same way.
- `release_due` (periodic): once ESCROW_HOLD_HOURS have passed with no open dispute,
  the held rest goes to the doctor minus the platform fee (ledger: escrow →
  doctor_payable + platform_revenue), each appointment in its own transaction under
  its row lock, so concurrent runs release it once.
- `expire_unpaid` (periodic): a payment still pending after
  APPOINTMENT_PAYMENT_TIMEOUT_MINUTES cancels its appointment (slot freed, both told).

Appointment payments use the `manual` provider in this slice: the Stripe webhook does
not know appointment payments yet. The provider is recorded per payment and the
providers are reached through `Payable`, so Stripe plugs in where `_provider` is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments import lifecycle
from medhub.appointments import service as appointments
from medhub.appointments.schemas import PaymentInstructions
from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.billing import ledger, service
from medhub.billing.exceptions import (
    AlreadyPaid,
    AlreadyRefunded,
    InvalidField,
    PaymentStateConflict,
    ReferenceTaken,
)
from medhub.billing.repository import DisputeRepository, PaymentRepository
from medhub.billing.schemas import (
    AppointmentPaymentRead,
    AppointmentPaymentRecorded,
    AppointmentPaymentStarted,
    MarkAppointmentPaid,
)
from medhub.config import Settings
from medhub.kit.db import Database
from medhub.kit.errors import ErrorDetail
from medhub.kit.money import to_cents
from medhub.kit.tenancy import set_system_context
from medhub.models.appointments import (
    Appointment,
    AppointmentPaymentStatus,
    AppointmentStatus,
)
from medhub.models.base import new_id
from medhub.models.billing import AppointmentPayment, AppointmentPaymentState
from medhub.models.identity import Role
from medhub.models.orders import PaymentProvider as ProviderName
from medhub.payments.providers import PaymentProvider, provider_for

S = AppointmentStatus
P = AppointmentPaymentState
BATCH = 100
# Where the fee can still be paid: the appointment is ahead, and nothing is paid yet.
PAYABLE_STATUSES = frozenset({S.requested, S.confirmed, S.checked_in})
SETTLED_PAYMENT_STATUSES = frozenset(
    {
        AppointmentPaymentStatus.held,
        AppointmentPaymentStatus.paid,
        AppointmentPaymentStatus.refunded,
    }
)


@dataclass(frozen=True)
class AppointmentPayable:
    """An appointment's fee as the payment providers see it (`payments.providers.Payable`)."""

    appointment: Appointment

    @property
    def payable_id(self) -> uuid.UUID:
        return self.appointment.id

    @property
    def payment_reference(self) -> str:
        # The random tail of the id: short enough to type into a bank form.
        return f"APT-{self.appointment.id.hex[-12:].upper()}"

    @property
    def amount_due(self) -> Decimal:
        return self.appointment.fee

    @property
    def currency(self) -> str:
        return self.appointment.currency

    @property
    def payment_description(self) -> str:
        return f"Consultation on {self.appointment.starts_at:%Y-%m-%d %H:%M} UTC"

    @property
    def payment_metadata(self) -> dict[str, str]:
        return {"appointment_id": str(self.appointment.id)}

    def transfer_instructions(self, reference: str) -> str:
        return (
            f"Transfer {self.appointment.fee:.2f} {self.appointment.currency} to the clinic's"
            f" bank account and quote the reference {reference} so the payment can be matched"
            " to your appointment. It is confirmed once the clinic has received the transfer;"
            " the fee is held until after the consultation."
        )


def _provider(settings: Settings) -> PaymentProvider:
    return provider_for(ProviderName.manual.value, settings)


def _instructions(payment: AppointmentPayment, *, text: str | None) -> PaymentInstructions:
    return PaymentInstructions(
        payment_id=payment.id,
        provider=payment.provider,
        status=payment.status,
        amount=payment.amount,
        currency=payment.currency,
        reference=payment.provider_reference,
        instructions=text,
        expires_at=payment.expires_at,
    )


async def _open(
    session: AsyncSession, settings: Settings, appointment: Appointment, actor: Principal
) -> PaymentInstructions:
    """A new pending payment of the appointment's fee, expiring after the timeout."""
    payable = AppointmentPayable(appointment)
    payment = AppointmentPayment(
        id=new_id(),
        appointment_id=appointment.id,
        organization_id=appointment.organization_id,
        provider=ProviderName.manual.value,
        status=P.pending.value,
        amount=appointment.fee,
        currency=appointment.currency,
        expires_at=service.now() + timedelta(minutes=settings.APPOINTMENT_PAYMENT_TIMEOUT_MINUTES),
        recorded_by=actor.user_id,
    )
    started = await _provider(settings).create_payment(payable, f"medhub-apt-{payment.id}")
    payment.provider_reference = started.reference
    await PaymentRepository(session).add(payment)
    await session.refresh(payment, ["created_at", "updated_at"])
    appointment.payment_status = AppointmentPaymentStatus.pending.value
    await session.flush()
    return _instructions(payment, text=started.instructions)


async def opened_on_booking(
    session: AsyncSession, settings: Settings, appointment: Appointment, patient: Principal
) -> PaymentInstructions | None:
    """Appointments' booked hook: a patient booked a paid consultation."""
    return await _open(session, settings, appointment, patient)


def _refuse_unpayable(appointment: Appointment) -> None:
    if appointment.fee <= 0:
        raise PaymentStateConflict(
            "This appointment has no fee to pay",
            details=[ErrorDetail(field="payment_status", message=appointment.payment_status)],
        )
    if AppointmentPaymentStatus(appointment.payment_status) in SETTLED_PAYMENT_STATUSES:
        raise AlreadyPaid(
            details=[ErrorDetail(field="payment_status", message=appointment.payment_status)]
        )
    if AppointmentStatus(appointment.status) not in PAYABLE_STATUSES:
        raise PaymentStateConflict(
            f"An appointment that is {appointment.status} takes no payment",
            details=[ErrorDetail(field="status", message=appointment.status)],
        )


async def start_payment(
    session: AsyncSession, principal: Principal, settings: Settings, appointment_id: uuid.UUID
) -> tuple[int, AppointmentPaymentStarted]:
    """POST /appointments/{id}/pay (the patient): the pending payment again, with a
    fresh timeout (200), or a new one (201)."""
    appointment = await appointments.get_appointment(
        session, principal, appointment_id, for_update=True
    )
    _refuse_unpayable(appointment)
    repository = PaymentRepository(session)
    payment = await repository.live_for(appointment.id, for_update=True)
    if payment is not None and payment.status == P.captured:
        raise AlreadyPaid()
    payable = AppointmentPayable(appointment)
    if payment is not None:
        payment.expires_at = service.now() + timedelta(
            minutes=settings.APPOINTMENT_PAYMENT_TIMEOUT_MINUTES
        )
        resumed = await _provider(settings).resume_payment(payable, payment)
        appointment.payment_status = AppointmentPaymentStatus.pending.value
        await session.flush()
        instructions = _instructions(payment, text=resumed.instructions)
        status_code = 200
    else:
        instructions = await _open(session, settings, appointment, principal)
        status_code = 201
    view = await appointments.detail(session, appointment)
    view.payment = instructions
    return status_code, AppointmentPaymentStarted(appointment=view, payment=instructions)


async def mark_paid(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    appointment_id: uuid.UUID,
    data: MarkAppointmentPaid,
) -> AppointmentPaymentRecorded:
    """POST /appointments/{id}/payments/mark-paid (the organization's admin): the bank
    transfer arrived. Captured into escrow; the appointment is confirmed."""
    appointment = await appointments.get_appointment(
        session, principal, appointment_id, for_update=True
    )
    _refuse_unpayable(appointment)
    if to_cents(data.amount) != appointment.fee:
        raise InvalidField(
            "amount",
            f"must equal the appointment's fee, {appointment.fee:.2f} {appointment.currency}",
            "The amount received does not match the appointment's fee",
        )
    repository = PaymentRepository(session)
    payment = await repository.live_for(appointment.id, for_update=True)
    if payment is not None and payment.status == P.captured:
        raise AlreadyPaid()
    if await repository.reference_taken(ProviderName.manual.value, data.reference):
        raise ReferenceTaken(details=[ErrorDetail(field="reference", message="already recorded")])
    if payment is None:
        # Paid without starting a payment here first (a staff booking, say): fine.
        payment = AppointmentPayment(
            id=new_id(),
            appointment_id=appointment.id,
            organization_id=appointment.organization_id,
            provider=ProviderName.manual.value,
            status=P.pending.value,
            amount=appointment.fee,
            currency=appointment.currency,
        )
        session.add(payment)
    payment.status = P.captured.value
    payment.provider_reference = data.reference
    payment.captured_at = service.now()
    payment.expires_at = None
    payment.recorded_by = principal.actor_id
    await session.flush()
    await session.refresh(payment, ["created_at", "updated_at"])
    await ledger.capture(session, appointment, payment.amount)
    service.show_on_appointment(appointment, payment)
    await session.flush()
    await lifecycle.confirm_paid(session, appointment)
    audit.record(
        session,
        "appointment_payment.captured",
        actor=principal,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={
            "payment_id": str(payment.id),
            "reference": data.reference,
            "amount": str(payment.amount),
            "currency": payment.currency,
        },
    )
    return AppointmentPaymentRecorded(
        appointment=await appointments.detail(session, appointment),
        payment=AppointmentPaymentRead.of(payment),
    )


async def refund(
    session: AsyncSession,
    settings: Settings,
    appointment: Appointment,
    payment: AppointmentPayment,
    amount: Decimal,
    *,
    actor: Principal | None,
    why: str,
    reference: str | None = None,
) -> None:
    """Give `amount` of the held money back, once per payment, never more than is held
    (both locked by the caller)."""
    if payment.refunded_amount > 0 or payment.refunded_at is not None:
        raise AlreadyRefunded()
    held = service.held_amount(payment)
    if amount <= 0 or amount > held:
        raise InvalidField("amount", f"must be above 0 and at most {held:.2f} {payment.currency}")
    payment.refund_reference = await _provider(settings).refund(
        AppointmentPayable(appointment), payment, amount, reference=reference
    )
    payment.refunded_amount = amount
    payment.refunded_at = service.now()
    await session.flush()
    await ledger.refund(session, appointment, amount)
    service.show_on_appointment(appointment, payment)
    await session.flush()
    audit.record(
        session,
        "appointment_payment.refunded",
        actor=actor,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={
            "payment_id": str(payment.id),
            "amount": str(amount),
            "currency": payment.currency,
            "why": why,
        },
    )


async def release(
    session: AsyncSession,
    settings: Settings,
    appointment: Appointment,
    payment: AppointmentPayment,
    *,
    actor: Principal | None,
) -> bool:
    """The held rest goes to the doctor minus the platform fee (both rows locked by the
    caller). False if there was nothing to release (already released)."""
    if payment.status != P.captured or payment.released_at is not None:
        return False
    amount = service.held_amount(payment)
    payment.released_at = service.now()
    if amount > 0:
        percent = await service.fee_percent(session, settings, appointment)
        share, fee = service.split(amount, percent)
        await ledger.release(session, appointment, share, fee)
    service.show_on_appointment(appointment, payment)
    await session.flush()
    audit.record(
        session,
        "appointment_payment.released",
        actor=actor,
        organization_id=appointment.organization_id,
        entity_type="appointment",
        entity_id=appointment.id,
        metadata={"payment_id": str(payment.id), "amount": str(amount)},
    )
    return True


def _refund_percent(
    settings: Settings, appointment: Appointment, principal: Principal | None
) -> Decimal:
    """How much of the fee a cancellation gives back: the patient's own cancellation
    inside the cut-off LATE_CANCEL_REFUND_PERCENT, otherwise (in time, or cancelled by
    the doctor's side or the platform) all of it."""
    if principal is not None and principal.role == Role.patient and appointment.cancelled_late:
        return settings.LATE_CANCEL_REFUND_PERCENT
    return Decimal(100)


async def appointment_moved(
    session: AsyncSession,
    settings: Settings | None,
    appointment: Appointment,
    previous: str,
    principal: Principal | None,
) -> None:
    """Appointments' status hook (the appointment is locked by the move)."""
    target = AppointmentStatus(appointment.status)
    if target not in {S.cancelled, S.completed, S.no_show}:
        return
    payment = await PaymentRepository(session).live_for(appointment.id, for_update=True)
    if payment is None:
        return
    if payment.status == P.pending:
        # Nothing was paid: the attempt closes with the appointment.
        if target != S.completed:
            payment.status = P.cancelled.value
            appointment.payment_status = AppointmentPaymentStatus.unpaid.value
            await session.flush()
        return
    if payment.released_at is not None or payment.release_after is not None:
        return
    if target == S.cancelled:
        if settings is None:  # cancellations always come with the settings
            raise RuntimeError("a cancellation's refund needs the settings")
        amount = service.refund_share(
            service.held_amount(payment), _refund_percent(settings, appointment, principal)
        )
        if amount > 0:
            await refund(
                session,
                settings,
                appointment,
                payment,
                amount,
                actor=principal,
                why="late_cancellation" if appointment.cancelled_late else "cancellation",
            )
    # The visit is over (a patient no-show keeps nothing back) or the rest of a
    # partial refund is left: released once the hold has passed, as any held fee.
    payment.release_after = service.now()
    if service.held_amount(payment) == 0:
        payment.released_at = payment.release_after
    service.show_on_appointment(appointment, payment)
    await session.flush()


async def release_one(session: AsyncSession, settings: Settings, appointment_id: uuid.UUID) -> bool:
    """Release one appointment's held fee if it is still due (the job's unit: the
    appointment, then its payment, locked; a concurrent run waits, then finds it
    released)."""
    appointment = await appointments.lock_appointment(session, appointment_id)
    if appointment is None:
        return False
    payment = await PaymentRepository(session).live_for(appointment.id, for_update=True)
    if payment is None or payment.release_after is None:
        return False
    if payment.release_after + service.hold_window(settings) > service.now():
        return False
    if await DisputeRepository(session).open_for_payment(payment.id):
        return False
    return await release(session, settings, appointment, payment, actor=None)


async def release_due(database: Database, settings: Settings, *, batch: int = BATCH) -> int:
    """Every due release, each in its own transaction (system context: every
    organization's); how many were released."""
    released = 0
    seen: set[uuid.UUID] = set()
    while True:
        async with database.unit_of_work() as session:
            await set_system_context(session)
            due = await PaymentRepository(session).due_for_release(
                service.now() - service.hold_window(settings), batch
            )
        fresh = [appointment_id for appointment_id in due if appointment_id not in seen]
        for appointment_id in fresh:
            seen.add(appointment_id)
            async with database.unit_of_work() as session:
                await set_system_context(session)
                if await release_one(session, settings, appointment_id):
                    released += 1
        if len(due) < batch or not fresh:
            return released


async def expire_one(session: AsyncSession, settings: Settings, appointment_id: uuid.UUID) -> bool:
    """Cancel one appointment whose payment is still pending past its expiry."""
    appointment = await appointments.lock_appointment(session, appointment_id)
    if appointment is None:
        return False
    payment = await PaymentRepository(session).live_for(appointment.id, for_update=True)
    if payment is None or payment.status != P.pending or payment.expires_at is None:
        return False
    if payment.expires_at > service.now():
        return False
    if await lifecycle.cancel_unpaid(session, settings, appointment):
        return True
    # Under way or over already: the fee is the desk's now; the attempt just closes.
    payment.status = P.cancelled.value
    appointment.payment_status = AppointmentPaymentStatus.unpaid.value
    await session.flush()
    return False


async def expire_unpaid(database: Database, settings: Settings, *, batch: int = BATCH) -> int:
    """Cancel every appointment left unpaid past the timeout; how many."""
    cancelled = 0
    seen: set[uuid.UUID] = set()
    while True:
        async with database.unit_of_work() as session:
            await set_system_context(session)
            due = await PaymentRepository(session).expired_pending(service.now(), batch)
        fresh = [appointment_id for appointment_id in due if appointment_id not in seen]
        for appointment_id in fresh:
            seen.add(appointment_id)
            async with database.unit_of_work() as session:
                await set_system_context(session)
                if await expire_one(session, settings, appointment_id):
                    cancelled += 1
        if len(due) < batch or not fresh:
            return cancelled
