from __future__ import annotations

from medhub.kit.errors import (
    AppError,
    AuthenticationFailed,
    ErrorDetail,
    PermissionDenied,
    ValidationFailed,
)


class InvalidCredentials(AuthenticationFailed):
    """A refused login: wrong password, unknown email or throttled, all one answer.

    It undoes the request's writes like any error; login counts and audits the
    failure in a transaction of its own."""

    default_message = "Invalid email or password"


class WrongCurrentPassword(AuthenticationFailed):
    default_message = "The current password is wrong"
    # The failed attempt is audited.
    persist_changes = True


class AccountDisabled(PermissionDenied):
    default_message = "This account has been deactivated"
    persist_changes = True


class InvalidRefreshToken(AuthenticationFailed):
    default_message = "Invalid or expired refresh token; please log in again"
    # Reuse of a spent token revokes its whole session; that must stick.
    persist_changes = True


class InvalidOneTimeToken(ValidationFailed):
    default_message = "The link or code is invalid or has expired"
    # Wrong OTP attempts are counted.
    persist_changes = True


class OtpRequired(AppError):
    code = "OTP_REQUIRED"
    status_code = 403
    default_message = "This action needs a one-time code"

    def __init__(self, purpose: str) -> None:
        super().__init__(
            f"Request a code with POST /api/v1/auth/otp/request (purpose {purpose!r}), verify it "
            "with POST /api/v1/auth/otp/verify, and send the returned otp_token as X-OTP-Token",
            details=[ErrorDetail(field="X-OTP-Token", message="missing, invalid or expired")],
        )
