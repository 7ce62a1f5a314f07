from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from medhub.users.schemas import PHONE_PATTERN

SELF_SERVICE_ROLES = ("patient", "customer", "doctor")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterRequest(Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=128)
    full_name: str = Field(min_length=1, max_length=255)
    company_name: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    role: Literal["patient", "customer", "doctor"] = "customer"


class Registered(BaseModel):
    user_id: uuid.UUID = Field(
        description="The new account's id. When the address already had an account, "
        "nothing was created and this random id names no account (the answer must not "
        "tell which addresses are registered); log in for your account's id."
    )
    email: str


class LoginRequest(Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=128)
    use_cookies: bool = False


class LoginUser(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    role: str
    organization_id: uuid.UUID | None
    is_verified: bool


class TokenPair(BaseModel):
    access_token: str | None
    refresh_token: str | None
    token_type: str
    expires_in: int
    user: LoginUser


class RefreshRequest(Body):
    # In cookie mode the refresh token comes from its cookie instead.
    refresh_token: str | None = Field(default=None, min_length=20, max_length=200)


class SessionRead(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool


class TokenRequest(Body):
    token: str = Field(min_length=20, max_length=200)


class EmailRequest(Body):
    email: EmailStr


class ResendVerificationRequest(Body):
    email: EmailStr | None = None


class ResetPasswordRequest(Body):
    token: str | None = Field(default=None, min_length=20, max_length=200)
    email: EmailStr | None = None
    otp: str | None = Field(default=None, pattern=r"^\d{6}$")
    new_password: str = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_proof(self) -> ResetPasswordRequest:
        by_token = self.token is not None
        by_otp = self.email is not None and self.otp is not None
        if by_token == by_otp:
            raise ValueError("send either `token`, or `email` and `otp`")
        return self


class ChangePasswordRequest(Body):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class OtpPurpose(StrEnum):
    medical_history = "medical_history"
    sensitive_action = "sensitive_action"
    payment = "payment"


class OtpRequest(Body):
    purpose: OtpPurpose


class OtpVerifyRequest(Body):
    purpose: OtpPurpose
    code: str = Field(pattern=r"^\d{6}$")


class OtpSent(BaseModel):
    purpose: str
    expires_at: datetime


class OtpGrant(BaseModel):
    otp_token: str
    purpose: str
    expires_at: datetime
