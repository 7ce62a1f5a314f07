"""What can go wrong with an appointment's money, as errors a client can branch on."""

from __future__ import annotations

from medhub.kit.errors import (
    Conflict,
    ErrorDetail,
    InvalidStateTransition,
    NotFound,
    ValidationFailed,
)


class PaymentStateConflict(InvalidStateTransition):
    code = "PAYMENT_STATE_CONFLICT"
    default_message = "The appointment's payment cannot make this change in its current state"


class AlreadyPaid(Conflict):
    code = "ALREADY_PAID"
    default_message = "This appointment's fee is already paid"


class ReferenceTaken(Conflict):
    default_message = "This bank reference is already recorded for another payment"


class WrongProvider(Conflict):
    code = "WRONG_PAYMENT_PROVIDER"
    default_message = "This payment is collected through another payment provider"


class DisputeNotAllowed(InvalidStateTransition):
    code = "DISPUTE_NOT_ALLOWED"
    default_message = "This appointment cannot be disputed now"


class DisputeNotFound(NotFound):
    default_message = "This appointment has no open dispute"


class AlreadyRefunded(Conflict):
    code = "ALREADY_REFUNDED"
    default_message = "This payment was already refunded: a payment is refunded once"


class InvalidField(ValidationFailed):
    """A 400 about one field of the request, with the field named in `details`."""

    def __init__(self, field: str, message: str, summary: str | None = None) -> None:
        super().__init__(summary or message, details=[ErrorDetail(field=field, message=message)])
