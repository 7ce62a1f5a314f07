from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from medhub.kit.schemas import not_null

PHONE_PATTERN = r"^\+?[0-9 ().\-]{6,30}$"


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, str_strip_whitespace=True)


# Output only: addresses were validated on the way in. Re-validating one per response
# (email_validator: IDNA, Unicode checks) cost more than the rest of the shaping.
StoredEmail = Annotated[str, Field(json_schema_extra={"format": "email"})]


class UserRead(Schema):
    id: uuid.UUID
    email: StoredEmail
    full_name: str
    company_name: str | None
    phone: str | None
    role: str
    organization_id: uuid.UUID | None
    is_verified: bool
    is_active: bool
    is_approved: bool
    created_at: datetime
    last_login: datetime | None


class ProfileUpdate(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str | None = Field(default=None, min_length=1, max_length=255)
    company_name: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)


class UserStats(Schema):
    addresses: int
    active_sessions: int
    activity_log_entries: int


AddressType = Literal["shipping", "billing"]


class AddressCreate(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    address_type: AddressType
    street_address: str = Field(min_length=1, max_length=500)
    city: str = Field(min_length=1, max_length=255)
    state_province: str | None = Field(default=None, max_length=255)
    postal_code: str = Field(min_length=1, max_length=50)
    country: str = Field(min_length=2, max_length=100)
    is_default: bool = False


class AddressUpdate(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    address_type: AddressType | None = None
    street_address: str | None = Field(default=None, min_length=1, max_length=500)
    city: str | None = Field(default=None, min_length=1, max_length=255)
    state_province: str | None = Field(default=None, max_length=255)
    postal_code: str | None = Field(default=None, min_length=1, max_length=50)
    country: str | None = Field(default=None, min_length=2, max_length=100)
    is_default: bool | None = None

    _present = not_null(
        "address_type", "street_address", "city", "postal_code", "country", "is_default"
    )


class AddressRead(Schema):
    id: uuid.UUID
    address_type: str
    street_address: str
    city: str
    state_province: str | None
    postal_code: str
    country: str
    is_default: bool
    created_at: datetime
    updated_at: datetime
