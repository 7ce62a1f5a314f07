"""What can go wrong with a payment, as errors a client (or Stripe) can branch on."""

from __future__ import annotations

from medhub.kit.errors import (
    Conflict,
    ErrorDetail,
    InvalidStateTransition,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)


class InvoiceNotFound(NotFound):
    default_message = "This order has no invoice yet: one is issued when it is paid"


class PaymentStateConflict(InvalidStateTransition):
    default_message = "The order's payment cannot make this change in its current state"


class ReferenceTaken(Conflict):
    default_message = "This bank reference is already recorded for another payment"


class WrongProvider(Conflict):
    code = "WRONG_PAYMENT_PROVIDER"
    default_message = "This order is paid through another payment provider"


class InvalidSignature(ValidationFailed):
    """A webhook whose `Stripe-Signature` does not prove it came from Stripe, recently."""

    code = "INVALID_SIGNATURE"
    default_message = "The webhook signature could not be verified"

    def __init__(self, reason: str) -> None:
        super().__init__(details=[ErrorDetail(field="Stripe-Signature", message=reason)])


class InvalidField(ValidationFailed):
    """A 400 about one field of the request, with the field named in `details`."""

    def __init__(self, field: str, message: str, summary: str | None = None) -> None:
        super().__init__(summary or message, details=[ErrorDetail(field=field, message=message)])


class ProviderNotConfigured(ServiceUnavailable):
    code = "PAYMENT_PROVIDER_NOT_CONFIGURED"
    default_message = "This payment provider is not configured on the server"


class ProviderUnavailable(ServiceUnavailable):
    """The provider could not be reached or failed: nothing was recorded, retry later."""

    code = "PAYMENT_PROVIDER_UNAVAILABLE"
    default_message = "The payment provider is unavailable; try again shortly"


class ProviderRejected(Conflict):
    """The provider understood the request and refused it (an amount below its minimum,
    a charge already refunded): retrying the same request will not help."""

    code = "PAYMENT_PROVIDER_REJECTED"
    default_message = "The payment provider refused the request"
