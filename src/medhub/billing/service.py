"""What the billing use cases share: the clock, the platform fee and its split, and
how a payment's state shows on its appointment. The use cases are split by subject:
`escrow` (paying, capture, refunds, release, the payment timeout), `disputes`,
`ledger` (posting groups, the ledger list) and `earnings`.

Every money movement posts a ledger group in the same transaction as the state change
it belongs to, with the appointment (then the payment) locked, in that order, as
everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.config import Settings
from medhub.kit.money import CENT
from medhub.models.appointments import Appointment, AppointmentPaymentStatus
from medhub.models.billing import AppointmentPayment
from medhub.organizations import service as organizations

HUNDRED = Decimal(100)


def now() -> datetime:
    """The current instant. One place, so tests move billing's clock (hold windows,
    payment timeouts) without sleeping: they replace this function."""
    return datetime.now(UTC)


def hold_window(settings: Settings) -> timedelta:
    """ESCROW_HOLD_HOURS as a duration (decimal hours, to the microsecond)."""
    return timedelta(seconds=float(settings.ESCROW_HOLD_HOURS * 3600))


def split(amount: Decimal, percent: Decimal) -> tuple[Decimal, Decimal]:
    """(doctor's share, platform fee) of `amount`: the fee is `percent` of it rounded
    DOWN to the cent, the doctor gets the rest, so the two always add up to `amount`."""
    fee = (amount * percent / HUNDRED).quantize(CENT, rounding=ROUND_DOWN)
    return amount - fee, fee


async def fee_percent(
    session: AsyncSession, settings: Settings, appointment: Appointment
) -> Decimal:
    """The organization's own platform fee, else PLATFORM_FEE_PERCENT."""
    own = await organizations.platform_fee_percent_of(session, appointment.organization_id)
    return own if own is not None else settings.PLATFORM_FEE_PERCENT


def refund_share(amount: Decimal, percent: Decimal) -> Decimal:
    """`percent` of `amount`, rounded down to the cent (the patient is never given back
    more than the rule says; the rest is released like any held fee)."""
    return (amount * percent / HUNDRED).quantize(CENT, rounding=ROUND_DOWN)


def held_amount(payment: AppointmentPayment) -> Decimal:
    """What of a captured payment is still in escrow."""
    if payment.released_at is not None:
        return Decimal(0)
    return payment.amount - payment.refunded_amount


def show_on_appointment(appointment: Appointment, payment: AppointmentPayment) -> None:
    """Mirror the payment's state in the appointment's `payment_status` and
    `refund_amount` (what the appointment views show)."""
    appointment.refund_amount = payment.refunded_amount
    if payment.refunded_amount >= payment.amount:
        appointment.payment_status = AppointmentPaymentStatus.refunded.value
    elif payment.released_at is not None:
        appointment.payment_status = AppointmentPaymentStatus.paid.value
    else:
        appointment.payment_status = AppointmentPaymentStatus.held.value
