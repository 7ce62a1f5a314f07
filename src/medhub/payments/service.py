"""Payments of orders: buyers start them, providers (or the supplier's staff, for bank
transfers) settle them, staff refund them; a paid order gets its invoice.

Every use case locks the order row first (then its payment rows), so a webhook,
a mark-paid and a refund on one order take turns. An order's `payment_status`
only ever changes through `orders.lifecycle.set_payment_status`.

One pending attempt per order: starting a payment while one is pending returns
that attempt again (200, with a fresh Stripe `client_secret`) instead of opening a
second PaymentIntent that could charge the buyer twice.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit import idempotency
from medhub.kit.errors import ErrorDetail, PermissionDenied
from medhub.kit.money import to_cents
from medhub.kit.pagination import PageParams
from medhub.kit.tenancy import set_system_context
from medhub.models.base import new_id
from medhub.models.orders import (
    Order,
    OrderStatus,
    Payment,
    PaymentAttemptStatus,
    PaymentStatus,
)
from medhub.models.orders import PaymentProvider as ProviderName
from medhub.notifications import service as notifications
from medhub.orders import lifecycle
from medhub.orders import service as orders
from medhub.payments import invoices
from medhub.payments.exceptions import (
    InvalidField,
    InvoiceNotFound,
    PaymentStateConflict,
    ProviderRejected,
    ReferenceTaken,
    WrongProvider,
)
from medhub.payments.providers import (
    OrderPayable,
    PaymentProvider,
    ProviderPayment,
    StripeProvider,
    provider_for,
)
from medhub.payments.repository import InvoiceRepository, PaymentRepository, WebhookEventRepository
from medhub.payments.schemas import (
    BankTransfer,
    InvoiceRead,
    MarkPaid,
    PaymentRead,
    PaymentRecorded,
    PaymentStarted,
    RefundCreate,
    WebhookReceived,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StartedPayment:
    status_code: int
    data: dict[str, Any]
    replayed: bool


# --- rules shared by the use cases ----------------------------------------------------------


def _ensure_payable(order: Order) -> None:
    if order.status == OrderStatus.cancelled:
        raise PaymentStateConflict(
            "This order was cancelled: it can no longer be paid",
            details=[ErrorDetail(field="status", message="cancelled")],
        )
    if order.payment_status in {PaymentStatus.paid, PaymentStatus.refunded}:
        raise PaymentStateConflict(
            f"This order is already {order.payment_status}",
            details=[ErrorDetail(field="payment_status", message=order.payment_status)],
        )


def _ensure_staff(principal: Principal, order: Order, doing: str) -> None:
    if not orders.is_supplier_staff(principal, order):
        raise PermissionDenied(f"Only the supplier's staff {doing}")


def _provider_idempotency_key(order: Order, payment: Payment, client_key: str | None) -> str:
    """The key the provider (Stripe) deduplicates payment creation by.

    With the client's `Idempotency-Key`, a retry after a rolled-back request gets
    the PaymentIntent Stripe already made (namespaced by order, hashed so the
    client's text never reaches Stripe); without one, the attempt's own id makes
    the SDK's network retries safe.
    """
    if client_key is not None:
        digest = hashlib.sha256(client_key.encode()).hexdigest()[:32]
        return f"medhub-pi-{order.id}-{digest}"
    return f"medhub-pi-{payment.id}"


def _started(order: Order, payment: Payment, provider_payment: ProviderPayment) -> PaymentStarted:
    bank_transfer = None
    if payment.provider == ProviderName.manual and provider_payment.instructions is not None:
        bank_transfer = BankTransfer(
            reference=provider_payment.reference,
            amount=order.total_amount,
            currency=order.currency,
            instructions=provider_payment.instructions,
        )
    return PaymentStarted(
        payment=PaymentRead.of(payment),
        client_secret=provider_payment.client_secret,
        bank_transfer=bank_transfer,
    )


# --- buyers ---------------------------------------------------------------------------------


async def _resume_pending(
    session: AsyncSession, provider: PaymentProvider, order: Order
) -> PaymentStarted | None:
    """The pending attempt again, if the order has one the provider still knows."""
    pending = await PaymentRepository(session).latest_with_status(
        order.id, PaymentAttemptStatus.pending, for_update=True
    )
    if pending is None or pending.provider != order.payment_provider:
        return None
    try:
        resumed: ProviderPayment | None = await provider.resume_payment(
            OrderPayable(order), pending
        )
    except ProviderRejected:
        resumed = None  # the provider no longer knows it (another account's key, say)
    if resumed is None or resumed.status == PaymentAttemptStatus.failed:
        # Cancelled or gone at the provider: close this attempt so another can open.
        pending.status = PaymentAttemptStatus.failed.value
        pending.failure_reason = "The payment was cancelled or is unknown at the provider"
        await session.flush()
        return None
    return _started(order, pending, resumed)


async def _open_attempt(
    session: AsyncSession,
    principal: Principal,
    provider: PaymentProvider,
    order: Order,
    client_key: str | None,
) -> PaymentStarted:
    payment = Payment(
        id=new_id(),
        order_id=order.id,
        provider=order.payment_provider,
        status=PaymentAttemptStatus.pending.value,
        amount=order.total_amount,
        currency=order.currency,
        recorded_by=principal.user_id,
    )
    created = await provider.create_payment(
        OrderPayable(order), _provider_idempotency_key(order, payment, client_key)
    )
    payment.provider_reference = created.reference
    await PaymentRepository(session).add(payment)
    await session.refresh(payment, ["created_at", "updated_at"])
    audit.record(
        session,
        "payment_started",
        actor=principal,
        entity_type="order",
        entity_id=order.id,
        organization_id=order.supplier_id,
        metadata={
            "order_number": order.order_number,
            "payment_id": str(payment.id),
            "provider": payment.provider,
            "provider_reference": payment.provider_reference,
            "amount": str(payment.amount),
            "currency": payment.currency,
        },
    )
    return _started(order, payment, created)


async def start_payment(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    order_id: uuid.UUID,
    *,
    idempotency_key: str | None,
) -> StartedPayment:
    """POST /orders/{id}/payments: the buyer starts paying with the order's provider."""
    buyer_id = principal.require_user_id()
    slot: idempotency.IdempotencySlot | None = None
    if idempotency_key is not None:
        claimed = await idempotency.claim(
            session,
            owner=str(buyer_id),
            endpoint="payments.create",
            key=idempotency_key,
            fingerprint=idempotency.request_hash(str(order_id).encode()),
        )
        if isinstance(claimed, idempotency.Replay):
            return StartedPayment(claimed.status_code, claimed.body, replayed=True)
        slot = claimed
        idempotency_key = slot.key

    order = await orders.get_order(session, principal, order_id, for_update=True)
    if not orders.is_buyer(principal, order):
        raise PermissionDenied("Only the buyer pays for an order")
    _ensure_payable(order)
    provider = provider_for(order.payment_provider, settings)
    started = await _resume_pending(session, provider, order)
    status_code = 200
    if started is None:
        started = await _open_attempt(session, principal, provider, order, idempotency_key)
        status_code = 201

    data = started.model_dump(mode="json")
    if slot is not None:
        await idempotency.complete(session, slot, status_code, data)
    return StartedPayment(status_code, data, replayed=False)


# --- buyers and the supplier's staff --------------------------------------------------------


async def list_payments(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID, params: PageParams
) -> tuple[list[PaymentRead], int]:
    """GET /orders/{id}/payments: every attempt, newest first (whoever sees the order)."""
    order = await orders.get_order(session, principal, order_id)
    repository = PaymentRepository(session)
    payments, total = await repository.paginate(repository.for_order_statement(order.id), params)
    return [PaymentRead.of(payment) for payment in payments], total


async def read_invoice(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID
) -> InvoiceRead:
    """GET /orders/{id}/invoice."""
    order = await orders.get_order(session, principal, order_id)
    invoice = await InvoiceRepository(session).for_order(order.id)
    if invoice is None:
        raise InvoiceNotFound()
    return InvoiceRead.of(invoice, order.order_number)


# --- the supplier's staff -------------------------------------------------------------------


async def mark_paid(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    order_id: uuid.UUID,
    data: MarkPaid,
) -> PaymentRecorded:
    """POST /orders/{id}/payments/mark-paid: a bank transfer arrived."""
    order = await orders.get_order(session, principal, order_id, for_update=True)
    _ensure_staff(principal, order, "record payments")
    if order.payment_provider != ProviderName.manual:
        raise WrongProvider(
            f"This order is paid through {order.payment_provider}: its payment is recorded"
            " when the provider confirms it",
            details=[ErrorDetail(field="payment_provider", message=order.payment_provider)],
        )
    _ensure_payable(order)
    if to_cents(data.amount) != order.total_amount:
        raise InvalidField(
            "amount",
            f"must equal the order total, {order.total_amount:.2f} {order.currency}",
            "The amount received does not match the order total",
        )
    repository = PaymentRepository(session)
    payment = await repository.latest_with_status(
        order.id, PaymentAttemptStatus.pending, for_update=True
    )
    if await repository.reference_taken(
        ProviderName.manual, data.reference, except_id=payment.id if payment else None
    ):
        raise ReferenceTaken(details=[ErrorDetail(field="reference", message="already recorded")])
    if payment is None:
        # The buyer transferred without starting a payment here first: fine.
        payment = Payment(
            order_id=order.id,
            provider=ProviderName.manual.value,
            amount=order.total_amount,
            currency=order.currency,
        )
        session.add(payment)
    payment.status = PaymentAttemptStatus.succeeded.value
    payment.provider_reference = data.reference
    payment.failure_reason = None
    payment.recorded_by = principal.actor_id
    await session.flush()
    await session.refresh(payment, ["created_at", "updated_at"])
    await lifecycle.set_payment_status(session, order, PaymentStatus.paid, actor=principal)
    invoice = await invoices.issue_invoice(session, order, settings, payment=payment)
    audit.record(
        session,
        "payment_recorded",
        actor=principal,
        entity_type="order",
        entity_id=order.id,
        organization_id=order.supplier_id,
        metadata={
            "order_number": order.order_number,
            "payment_id": str(payment.id),
            "reference": data.reference,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "invoice_number": invoice.invoice_number,
        },
    )
    return PaymentRecorded(
        payment=PaymentRead.of(payment),
        order=await orders.order_detail(session, order),
        invoice=InvoiceRead.of(invoice, order.order_number),
    )


async def refund(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    order_id: uuid.UUID,
    data: RefundCreate,
) -> PaymentRecorded:
    """POST /orders/{id}/payments/refund: give a paid order's money back, in full."""
    order = await orders.get_order(session, principal, order_id, for_update=True)
    _ensure_staff(principal, order, "refund payments")
    if order.payment_status != PaymentStatus.paid:
        raise PaymentStateConflict(
            f"Only a paid order can be refunded; this one is {order.payment_status}",
            details=[ErrorDetail(field="payment_status", message=order.payment_status)],
        )
    repository = PaymentRepository(session)
    payment = await repository.latest_with_status(
        order.id, PaymentAttemptStatus.succeeded, for_update=True
    )
    if payment is None:
        raise PaymentStateConflict("This order has no recorded payment to refund")
    if payment.provider == ProviderName.stripe and data.reference is not None:
        raise InvalidField("reference", "Stripe assigns the refund reference; leave it out")
    provider = provider_for(payment.provider, settings)
    payment.refund_reference = await provider.refund(
        OrderPayable(order), payment, payment.amount, reference=data.reference
    )
    payment.status = PaymentAttemptStatus.refunded.value
    payment.recorded_by = principal.actor_id
    await session.flush()
    await session.refresh(payment, ["updated_at"])
    await lifecycle.set_payment_status(session, order, PaymentStatus.refunded, actor=principal)
    audit.record(
        session,
        "payment_refunded",
        actor=principal,
        entity_type="order",
        entity_id=order.id,
        organization_id=order.supplier_id,
        metadata={
            "order_number": order.order_number,
            "payment_id": str(payment.id),
            "provider": payment.provider,
            "refund_reference": payment.refund_reference,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "reason": data.reason,
        },
    )
    invoice = await InvoiceRepository(session).for_order(order.id)
    return PaymentRecorded(
        payment=PaymentRead.of(payment),
        order=await orders.order_detail(session, order),
        invoice=InvoiceRead.of(invoice, order.order_number) if invoice else None,
    )


# --- Stripe webhooks ------------------------------------------------------------------------

WebhookHandler = Callable[[AsyncSession, Settings, dict[str, Any]], Awaitable[str]]


def _text(source: dict[str, Any], key: str) -> str | None:
    value = source.get(key)
    return value if isinstance(value, str) and value else None


async def _locked_payment(
    session: AsyncSession, intent_id: str | None, event_type: str
) -> tuple[Order, Payment] | None:
    """The payment of a PaymentIntent and its order, locked (order first, as everywhere)."""
    repository = PaymentRepository(session)
    payment = await repository.by_reference(ProviderName.stripe, intent_id) if intent_id else None
    if payment is None:
        # Not ours (another integration on the same Stripe account) or long gone:
        # acknowledged, so Stripe does not retry it for days.
        log.warning("payments.webhook_unknown_intent", intent_id=intent_id, event_type=event_type)
        return None
    order = await orders.lock_order(session, payment.order_id)
    if order is None:
        log.warning("payments.webhook_order_missing", payment_id=str(payment.id))
        return None
    await session.refresh(payment, with_for_update=True)
    return order, payment


async def _auto_refund(
    session: AsyncSession, settings: Settings, order: Order, payment: Payment
) -> str:
    """Money arrived for an order that cannot take it (cancelled meanwhile, or already
    paid by another attempt): give it back at once rather than keep it unaccounted."""
    why = (
        "the order was cancelled"
        if order.status == OrderStatus.cancelled
        else f"the order was already {order.payment_status}"
    )
    payment.refund_reference = await StripeProvider(settings).refund(
        OrderPayable(order), payment, payment.amount, reference=None
    )
    payment.status = PaymentAttemptStatus.refunded.value
    payment.failure_reason = f"Refunded automatically: {why} when the payment arrived"
    await session.flush()
    audit.record(
        session,
        "payment_auto_refunded",
        entity_type="order",
        entity_id=order.id,
        organization_id=order.supplier_id,
        metadata={
            "order_number": order.order_number,
            "payment_id": str(payment.id),
            "refund_reference": payment.refund_reference,
            "amount": str(payment.amount),
            "reason": why,
        },
    )
    if order.user_id is not None:
        await notifications.notify(
            session,
            order.user_id,
            "order",
            f"Payment for order {order.order_number} refunded",
            f"Your payment of {payment.amount:.2f} {payment.currency} was refunded because"
            f" {why} when it arrived.",
            {"link": f"/orders/{order.id}", "order_id": str(order.id)},
        )
    return "refunded"


async def _intent_succeeded(
    session: AsyncSession, settings: Settings, intent: dict[str, Any]
) -> str:
    found = await _locked_payment(session, _text(intent, "id"), "payment_intent.succeeded")
    if found is None:
        return "ignored"
    order, payment = found
    if payment.status in {PaymentAttemptStatus.succeeded, PaymentAttemptStatus.refunded}:
        return "ignored"
    payment.failure_reason = None
    accepts = order.status != OrderStatus.cancelled and order.payment_status in {
        PaymentStatus.pending,
        PaymentStatus.failed,
    }
    if not accepts:
        return await _auto_refund(session, settings, order, payment)
    payment.status = PaymentAttemptStatus.succeeded.value
    await session.flush()
    await lifecycle.set_payment_status(session, order, PaymentStatus.paid, actor=None)
    await invoices.issue_invoice(session, order, settings, payment=payment)
    return "applied"


async def _intent_failed(session: AsyncSession, settings: Settings, intent: dict[str, Any]) -> str:
    found = await _locked_payment(session, _text(intent, "id"), "payment_intent.payment_failed")
    if found is None:
        return "ignored"
    order, payment = found
    if payment.status not in {PaymentAttemptStatus.pending, PaymentAttemptStatus.failed}:
        # Events arrive in any order: a failure reported after the success changes nothing.
        return "ignored"
    error = intent.get("last_payment_error")
    error = error if isinstance(error, dict) else {}
    payment.status = PaymentAttemptStatus.failed.value
    payment.failure_reason = (
        _text(error, "message") or _text(error, "code") or "The payment was declined"
    )[:1000]
    await session.flush()
    if order.payment_status in {PaymentStatus.pending, PaymentStatus.failed}:
        await lifecycle.set_payment_status(session, order, PaymentStatus.failed, actor=None)
    return "applied"


def _latest_refund_id(charge: dict[str, Any]) -> str | None:
    refunds = charge.get("refunds")
    data = refunds.get("data") if isinstance(refunds, dict) else None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return _text(data[0], "id")
    return None


async def _charge_refunded(
    session: AsyncSession, settings: Settings, charge: dict[str, Any]
) -> str:
    found = await _locked_payment(session, _text(charge, "payment_intent"), "charge.refunded")
    if found is None:
        return "ignored"
    order, payment = found
    if payment.status != PaymentAttemptStatus.succeeded:
        # Already refunded (through our refund endpoint, whose echo this is).
        return "ignored"
    if charge.get("refunded") is not True:
        # Partial refunds are made and tracked in Stripe; the order stays paid.
        log.warning(
            "payments.partial_refund_ignored",
            payment_id=str(payment.id),
            amount_refunded=charge.get("amount_refunded"),
        )
        return "ignored"
    payment.status = PaymentAttemptStatus.refunded.value
    payment.refund_reference = _latest_refund_id(charge)
    await session.flush()
    if order.payment_status == PaymentStatus.paid:
        await lifecycle.set_payment_status(session, order, PaymentStatus.refunded, actor=None)
    return "applied"


WEBHOOK_HANDLERS: dict[str, WebhookHandler] = {
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
}


async def handle_stripe_webhook(
    session: AsyncSession, settings: Settings, payload: bytes, signature: str | None
) -> WebhookReceived:
    """POST /payments/webhooks/stripe: verify, then apply each event id at most once.

    Only a verified event widens the session to system context: the sender is
    anonymous, and the signature is what authorises it.
    """
    event = StripeProvider(settings).verify_webhook(payload, signature)
    event_id, event_type = _text(event, "id"), _text(event, "type")
    data = event.get("data")
    subject = data.get("object") if isinstance(data, dict) else None
    if event_id is None or event_type is None or not isinstance(subject, dict):
        raise InvalidField("event", "a Stripe event has an id, a type and data.object")
    await set_system_context(session)
    if not await WebhookEventRepository(session).claim(
        ProviderName.stripe, event_id[:255], event_type[:100]
    ):
        return WebhookReceived(duplicate=True, outcome="duplicate")
    handler = WEBHOOK_HANDLERS.get(event_type)
    if handler is None:
        log.info("payments.webhook_ignored", event_id=event_id, event_type=event_type)
        return WebhookReceived(duplicate=False, outcome="ignored")
    outcome = await handler(session, settings, subject)
    log.info("payments.webhook_handled", event_id=event_id, event_type=event_type, outcome=outcome)
    return WebhookReceived(duplicate=False, outcome=outcome)
