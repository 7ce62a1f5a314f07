from __future__ import annotations

from datetime import datetime

from medhub.kit.errors import (
    AppError,
    AuthenticationFailed,
    ErrorDetail,
    PermissionDenied,
    ValidationFailed,
)


class InvalidCredentials(AuthenticationFailed):
    default_message = "Invalid email or password"
    # The failed attempt counts towards the lockout and is audited.
    persist_changes = True


class AccountLocked(AppError):
    code = "ACCOUNT_LOCKED"
    status_code = 423
    default_message = "Too many failed logins: the account is temporarily locked"
    persist_changes = True

    def __init__(self, until: datetime) -> None:
        stamp = until.isoformat().replace("+00:00", "Z")
        super().__init__(
            f"Too many failed logins: the account is locked until {stamp}",
            details=[ErrorDetail(field="locked_until", message=stamp)],
        )
        self.until = until


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
