"""The errors of the prescriptions domain.

What a QR code or a typed reference number can be wrong about comes first: the scan
and lookup routes answer these before any query is made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from medhub.kit.errors import (
    Conflict,
    ErrorDetail,
    InvalidStateTransition,
    NotFound,
    RateLimitExceeded,
    ValidationFailed,
)

# Why a token was refused, for logs and audit rows; the client sees one message for all,
# so a forger learns nothing about which check stopped them.
InvalidTokenReason = Literal[
    "malformed", "unsupported_algorithm", "unknown_key", "bad_signature", "bad_claims"
]


class InvalidPrescriptionToken(ValidationFailed):
    """Not a token MedHub signed: malformed, altered, forged, or signed by a key that is
    neither the current one nor a listed previous one."""

    code = "INVALID_PRESCRIPTION_TOKEN"
    default_message = "This is not a valid MedHub prescription QR code"

    def __init__(self, reason: InvalidTokenReason, message: str | None = None) -> None:
        super().__init__(message)
        self.reason: InvalidTokenReason = reason


class ExpiredPrescriptionToken(ValidationFailed):
    """A token MedHub did sign, whose validity has ended. Not a subclass of
    `InvalidPrescriptionToken`: an expired prescription can still be shown (as no longer
    valid; `verify(token, allow_expired=True)` returns its claims), a forged one cannot."""

    code = "PRESCRIPTION_TOKEN_EXPIRED"
    default_message = "This prescription QR code has expired"

    def __init__(self, expired_at: datetime) -> None:
        super().__init__(f"This prescription QR code expired on {expired_at:%Y-%m-%d %H:%M} UTC")
        self.expired_at = expired_at


class InvalidReferenceNumber(ValidationFailed):
    """Text that is not a prescription reference number, or one with a typo (its check
    character does not match)."""

    code = "INVALID_REFERENCE_NUMBER"
    default_message = "This is not a valid prescription reference number"

    def __init__(self, message: str, *, field: str = "reference_number") -> None:
        super().__init__(message, details=[ErrorDetail(field=field, message=message)])


# The prescription's own life


class PrescriptionNotFound(NotFound):
    default_message = "Prescription not found"


class PatientChartNotFound(NotFound):
    default_message = "Patient not found"


class ConsultationNotOfPatient(ValidationFailed):
    default_message = "The consultation is not one of this patient's"

    def __init__(self) -> None:
        super().__init__(
            details=[
                ErrorDetail(field="consultation_id", message="not a consultation of this chart")
            ]
        )


class PrescriptionClosed(InvalidStateTransition):
    """Cancelled, rejected, expired or fully dispensed: nothing more happens to it."""

    default_message = "This prescription is closed"


class AlreadyDispensed(InvalidStateTransition):
    default_message = "Part of this prescription has been dispensed: it can no longer be cancelled"


class NotValidated(InvalidStateTransition):
    default_message = (
        "Validate the prescription first (POST /api/v1/pharmacy/validate/{id}): your pharmacy"
        " has not validated it"
    )


class DispenseExceedsRemaining(Conflict):
    code = "QUANTITY_EXCEEDS_REMAINING"
    default_message = "More than remains to be dispensed"


class ReferenceLookupThrottled(RateLimitExceeded):
    default_message = "Too many reference numbers that match nothing: try again later"
