"""The one error type every domain raises, and the codes a client can branch on."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum
from typing import Any, ClassVar

from pydantic import BaseModel

# Python's repr of an enum member, `<Role.admin: 'admin'>`: what `{role!r}` or
# pydantic's message for a `Literal[Role.admin, ...]` field prints.
_ENUM_REPR = re.compile(
    r"<(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*: ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?[\d.]+)>"
)


def shown(value: object) -> str:
    """A value quoted for an error message: an enum member by its value (`'admin'`),
    never by its Python repr (`<Role.admin: 'admin'>`), which means nothing to a client."""
    if isinstance(value, Enum):
        value = value.value
    return repr(value)


def without_enum_reprs(text: str) -> str:
    """`text` with every enum repr replaced by the quoted value (`'admin'`): for messages
    written by code we do not own (pydantic's), and as a net under our own."""
    return _ENUM_REPR.sub(r"\1", text)


class ErrorDetail(BaseModel):
    field: str | None = None
    message: str


class AppError(Exception):
    """A failure the client caused or must know about, rendered in the error envelope.

    Domains subclass it (`OutOfStock(AppError)`) and set `code`/`status_code`
    as class attributes; the message and details are per instance.
    """

    code: ClassVar[str] = "INTERNAL_ERROR"
    status_code: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal server error"
    # Most errors undo the request's writes. A few must keep them while still
    # failing the request: a reused refresh token revokes its session, a wrong OTP
    # is counted.
    persist_changes: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[ErrorDetail | dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = [
            d if isinstance(d, ErrorDetail) else ErrorDetail.model_validate(d)
            for d in (details or [])
        ]
        self.headers = headers
        super().__init__(self.message)


class ValidationFailed(AppError):
    code = "VALIDATION_ERROR"
    status_code = 400
    default_message = "Invalid input data"


class AuthenticationFailed(AppError):
    code = "AUTHENTICATION_ERROR"
    status_code = 401
    default_message = "Authentication required"


class PermissionDenied(AppError):
    code = "AUTHORIZATION_ERROR"
    status_code = 403
    default_message = "You do not have permission to perform this action"


class NotFound(AppError):
    code = "NOT_FOUND"
    status_code = 404
    default_message = "Resource not found"


class MethodNotAllowed(AppError):
    code = "METHOD_NOT_ALLOWED"
    status_code = 405
    default_message = "Method not allowed"


class Conflict(AppError):
    code = "CONFLICT"
    status_code = 409
    default_message = "The request conflicts with the current state of the resource"


class InvalidStateTransition(Conflict):
    code = "INVALID_STATE_TRANSITION"
    default_message = "This change is not allowed in the resource's current state"


class PayloadTooLarge(AppError):
    code = "PAYLOAD_TOO_LARGE"
    status_code = 413
    default_message = "Request body is too large"


class UnsupportedMediaType(AppError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status_code = 415
    default_message = "Unsupported media type"


class RateLimitExceeded(AppError):
    code = "RATE_LIMIT_EXCEEDED"
    status_code = 429
    default_message = "Too many requests"


class ServiceUnavailable(AppError):
    code = "SERVICE_UNAVAILABLE"
    status_code = 503
    default_message = "Service temporarily unavailable"


# Status codes that Starlette/FastAPI raise themselves, mapped to our codes.
HTTP_STATUS_CODES: dict[int, str] = {
    400: ValidationFailed.code,
    401: AuthenticationFailed.code,
    403: PermissionDenied.code,
    404: NotFound.code,
    405: MethodNotAllowed.code,
    409: Conflict.code,
    413: PayloadTooLarge.code,
    415: UnsupportedMediaType.code,
    422: ValidationFailed.code,
    429: RateLimitExceeded.code,
    503: ServiceUnavailable.code,
}
