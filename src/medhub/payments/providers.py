"""Payment providers: how an order's total (or an appointment's fee) is collected and
given back.

Each order records its provider when it is placed (`order.payment_provider`), so
changing `PAYMENT_PROVIDER` only affects new orders. Two providers:

- `manual`: bank transfer. Starting a payment only tells the buyer what to transfer
  and which reference to quote; the supplier's staff record the transfer once it
  arrives (mark-paid) and record refunds they made themselves. No network.
- `stripe`: PaymentIntents through Stripe's official SDK (async, over httpx). The
  browser confirms the intent with its `client_secret`; the outcome arrives by
  signed webhook (`verify_webhook`).

Amounts leave here in the provider's minor units, converted from `Decimal` exactly.

The providers see a `Payable` (what is paid for: an order through `OrderPayable`, an
appointment's fee through billing's own) and a `PaymentAttempt` (the row recording one
attempt), never a domain's model directly, so billing reuses them for appointments.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import stripe
import structlog

from medhub.config import Settings
from medhub.models.orders import Order, PaymentAttemptStatus
from medhub.models.orders import PaymentProvider as ProviderName
from medhub.payments.exceptions import (
    InvalidSignature,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderUnavailable,
)

log = structlog.get_logger(__name__)

# Stripe amounts are integers in the currency's smallest unit; these currencies have
# none (JPY) or three decimals (KWD). Everything else has two.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

# A request thread waits on Stripe while holding the order's row lock: fail fast
# rather than keep a database connection busy for the SDK's default 80 s.
STRIPE_TIMEOUT_SECONDS = 20.0
# Every call carries an idempotency key, so the SDK's own retries are safe.
STRIPE_NETWORK_RETRIES = 2


@dataclass(frozen=True)
class ProviderPayment:
    """A payment started (or looked up again) at a provider."""

    reference: str
    status: PaymentAttemptStatus
    client_secret: str | None = None
    instructions: str | None = None


class Payable(Protocol):
    """What a payment is for: the amount due, the reference a bank transfer quotes, and
    how the provider's records name it."""

    @property
    def payable_id(self) -> uuid.UUID: ...

    @property
    def payment_reference(self) -> str: ...

    @property
    def amount_due(self) -> Decimal: ...

    @property
    def currency(self) -> str: ...

    @property
    def payment_description(self) -> str: ...

    @property
    def payment_metadata(self) -> dict[str, str]: ...

    def transfer_instructions(self, reference: str) -> str:
        """What a payer by bank transfer is told to do."""
        ...


class PaymentAttempt(Protocol):
    """One recorded attempt to collect a `Payable` (an order's `Payment`, an
    appointment's `AppointmentPayment`)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def status(self) -> str: ...

    @property
    def currency(self) -> str: ...

    @property
    def provider_reference(self) -> str | None: ...


@dataclass(frozen=True)
class OrderPayable:
    """An order as the providers see it."""

    order: Order

    @property
    def payable_id(self) -> uuid.UUID:
        return self.order.id

    @property
    def payment_reference(self) -> str:
        return self.order.order_number

    @property
    def amount_due(self) -> Decimal:
        return self.order.total_amount

    @property
    def currency(self) -> str:
        return self.order.currency

    @property
    def payment_description(self) -> str:
        return f"Order {self.order.order_number}"

    @property
    def payment_metadata(self) -> dict[str, str]:
        return {"order_id": str(self.order.id), "order_number": self.order.order_number}

    def transfer_instructions(self, reference: str) -> str:
        return bank_transfer_instructions(self.order, reference)


class PaymentProvider(Protocol):
    name: ProviderName

    async def create_payment(self, payable: Payable, idempotency_key: str) -> ProviderPayment:
        """Start collecting `payable.amount_due`; `idempotency_key` makes a retry of
        the same attempt return the same provider object."""
        ...

    async def resume_payment(self, payable: Payable, payment: PaymentAttempt) -> ProviderPayment:
        """A pending attempt again (the buyer reloaded the checkout page)."""
        ...

    async def refund(
        self, payable: Payable, payment: PaymentAttempt, amount: Decimal, *, reference: str | None
    ) -> str | None:
        """Give `amount` back; the refund's reference (a manual refund's is the one
        the staff quote, if any)."""
        ...


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`Decimal("125.50"), "usd"` → 12550, exactly (never through a float)."""
    code = currency.lower()
    exponent = (
        0 if code in ZERO_DECIMAL_CURRENCIES else 3 if code in THREE_DECIMAL_CURRENCIES else 2
    )
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ProviderRejected(
            f"{amount} {currency.upper()} cannot be expressed in the currency's smallest unit"
        )
    return int(scaled)


def bank_transfer_instructions(order: Order, reference: str) -> str:
    return (
        f"Transfer {order.total_amount:.2f} {order.currency} to the supplier's bank account"
        f" and quote the reference {reference} so the payment can be matched to your order."
        " The order is marked paid once the supplier has received the transfer."
    )


class ManualProvider:
    """Bank transfer: the buyer pays outside the platform, quoting the order number."""

    name = ProviderName.manual

    async def create_payment(self, payable: Payable, idempotency_key: str) -> ProviderPayment:
        return ProviderPayment(
            reference=payable.payment_reference,
            status=PaymentAttemptStatus.pending,
            instructions=payable.transfer_instructions(payable.payment_reference),
        )

    async def resume_payment(self, payable: Payable, payment: PaymentAttempt) -> ProviderPayment:
        reference = payment.provider_reference or payable.payment_reference
        return ProviderPayment(
            reference=reference,
            status=PaymentAttemptStatus(payment.status),
            instructions=payable.transfer_instructions(reference),
        )

    async def refund(
        self, payable: Payable, payment: PaymentAttempt, amount: Decimal, *, reference: str | None
    ) -> str | None:
        # The supplier sends the money back themselves; we record what they tell us.
        return reference


_INTENT_STATUSES = {
    "succeeded": PaymentAttemptStatus.succeeded,
    "canceled": PaymentAttemptStatus.failed,
}


class StripeProvider:
    """PaymentIntents and refunds through the official SDK, plus webhook verification."""

    name = ProviderName.stripe

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @asynccontextmanager
    async def _client(self, operation: str, **context: Any) -> AsyncIterator[stripe.StripeClient]:
        """A client for one call, closed afterwards, with Stripe's errors turned into ours.

        One client per call: httpx's connection pool belongs to the event loop that
        opened it, and payments are rare enough that a fresh connection costs nothing
        that matters.
        """
        api_key = (
            self._settings.STRIPE_SECRET_KEY.get_secret_value()
            if self._settings.STRIPE_SECRET_KEY
            else None
        )
        if not api_key:
            raise ProviderNotConfigured("Stripe payments are not configured (STRIPE_SECRET_KEY)")
        http_client = stripe.HTTPXClient(timeout=STRIPE_TIMEOUT_SECONDS)
        client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self._settings.STRIPE_API_BASE},
            http_client=http_client,
            max_network_retries=STRIPE_NETWORK_RETRIES,
        )
        try:
            yield client
        except stripe.StripeError as exc:
            raise _translate(exc, operation, context) from exc
        finally:
            # The SDK leaves close_async unannotated.
            await http_client.close_async()  # type: ignore[no-untyped-call]

    async def create_payment(self, payable: Payable, idempotency_key: str) -> ProviderPayment:
        async with self._client(
            "create_payment_intent", payable_id=str(payable.payable_id)
        ) as client:
            intent = await client.v1.payment_intents.create_async(
                {
                    "amount": to_minor_units(payable.amount_due, payable.currency),
                    "currency": payable.currency.lower(),
                    "description": payable.payment_description,
                    "metadata": payable.payment_metadata,
                    "automatic_payment_methods": {"enabled": True},
                },
                {"idempotency_key": idempotency_key},
            )
        return ProviderPayment(
            reference=intent.id,
            status=_INTENT_STATUSES.get(intent.status, PaymentAttemptStatus.pending),
            client_secret=intent.client_secret,
        )

    async def resume_payment(self, payable: Payable, payment: PaymentAttempt) -> ProviderPayment:
        if payment.provider_reference is None:
            raise ProviderRejected("This payment attempt has no Stripe PaymentIntent")
        async with self._client(
            "retrieve_payment_intent", payable_id=str(payable.payable_id)
        ) as client:
            intent = await client.v1.payment_intents.retrieve_async(payment.provider_reference)
        return ProviderPayment(
            reference=intent.id,
            status=_INTENT_STATUSES.get(intent.status, PaymentAttemptStatus.pending),
            client_secret=intent.client_secret,
        )

    async def refund(
        self, payable: Payable, payment: PaymentAttempt, amount: Decimal, *, reference: str | None
    ) -> str | None:
        if payment.provider_reference is None:
            raise ProviderRejected("This payment has no Stripe PaymentIntent to refund")
        async with self._client("create_refund", payable_id=str(payable.payable_id)) as client:
            refund = await client.v1.refunds.create_async(
                {
                    "payment_intent": payment.provider_reference,
                    "amount": to_minor_units(amount, payment.currency),
                    "metadata": payable.payment_metadata,
                },
                # A payment is refunded once, in full: a retried refund (after a
                # timeout or a rolled-back request) must return that same refund.
                {"idempotency_key": f"medhub-refund-{payment.id}"},
            )
        if refund.status in {"failed", "canceled"}:
            raise ProviderRejected(f"Stripe could not refund the payment ({refund.status})")
        return refund.id

    def verify_webhook(self, payload: bytes, signature_header: str | None) -> dict[str, Any]:
        """The event in `payload` if `Stripe-Signature` proves Stripe sent it within the
        tolerance, else InvalidSignature (400). No secret configured: 503, so Stripe
        keeps the event and retries once the server is set up."""
        secret = (
            self._settings.STRIPE_WEBHOOK_SECRET.get_secret_value()
            if self._settings.STRIPE_WEBHOOK_SECRET
            else None
        )
        if not secret:
            raise ProviderNotConfigured(
                "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)"
            )
        if not signature_header:
            raise InvalidSignature("the Stripe-Signature header is missing")
        try:
            stripe.WebhookSignature.verify_header(
                payload,
                signature_header,
                secret,
                tolerance=self._settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature(_signature_reason(str(exc))) from exc
        except UnicodeDecodeError as exc:
            raise InvalidSignature("the payload is not UTF-8") from exc
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise InvalidSignature("the signed payload is not JSON") from exc
        if not isinstance(event, dict):
            raise InvalidSignature("the signed payload is not a Stripe event")
        return event


def _signature_reason(message: str) -> str:
    """Stripe's message, shortened to what a sender can act on (and no echo of secrets)."""
    lowered = message.lower()
    if "tolerance" in lowered:
        return "the signature timestamp is outside the tolerance window"
    if "matching the expected signature" in lowered:
        return "no signature matches the payload"
    return "the header is malformed"


def _translate(exc: stripe.StripeError, operation: str, context: dict[str, Any]) -> Exception:
    status = exc.http_status
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        # Our key is wrong or lacks a permission: the operator must act, not the client.
        log.error("stripe.misconfigured", operation=operation, status=status, **context)
        return ProviderUnavailable()
    if (
        isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError)
        or status is None
        or status >= 500
    ):
        log.warning("stripe.unavailable", operation=operation, status=status, **context)
        return ProviderUnavailable()
    log.warning(
        "stripe.rejected",
        operation=operation,
        status=status,
        stripe_code=exc.code,
        request_id=exc.request_id,
        **context,
    )
    return ProviderRejected(exc.user_message or ProviderRejected.default_message)


def provider_for(name: str, settings: Settings) -> PaymentProvider:
    if name == ProviderName.stripe:
        return StripeProvider(settings)
    return ManualProvider()
