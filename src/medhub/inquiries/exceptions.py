"""What can go wrong with an inquiry: the errors a client can tell apart."""

from __future__ import annotations

from medhub.kit.errors import (
    Conflict,
    ErrorDetail,
    InvalidStateTransition,
    NotFound,
    ValidationFailed,
)


class InquiryNotFound(NotFound):
    default_message = "Inquiry not found"


class InvalidField(ValidationFailed):
    """A 400 about one field of the request, with the field named in `details`."""

    def __init__(self, field: str, message: str, summary: str | None = None) -> None:
        super().__init__(summary or message, details=[ErrorDetail(field=field, message=message)])


class InvalidInquiryTransition(InvalidStateTransition):
    def __init__(self, current: str, requested: str, allowed: list[str]) -> None:
        choices = ", ".join(allowed) if allowed else "none (the inquiry is closed)"
        super().__init__(
            f"An inquiry cannot go from {current} to {requested}",
            details=[
                ErrorDetail(field="status", message=f"from {current}, allowed: {choices}"),
            ],
        )


class InquiryClosed(InvalidStateTransition):
    default_message = "This inquiry is closed"


class InquiryAlreadyConverted(Conflict):
    default_message = "This inquiry is already linked to an order"
