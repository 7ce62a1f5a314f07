from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from medhub.kit.money import Money
from medhub.kit.schemas import not_null
from medhub.models.identity import OrganizationKind, Role
from medhub.users.schemas import PHONE_PATTERN

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"


@dataclass(frozen=True)
class TenantFilters:
    status: str | None = None
    kind: str | None = None
    search: str | None = None
    sort: str = "created_at"
    descending: bool = True


@dataclass(frozen=True)
class MemberFilters:
    organization_id: uuid.UUID | None = None
    role: str | None = None
    is_active: bool | None = None
    is_approved: bool | None = None
    search: str | None = None
    sort: str = "created_at"
    descending: bool = True


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TenantAdmin(Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=128)
    full_name: str = Field(min_length=1, max_length=255)


class TenantCreate(Body):
    name: str = Field(min_length=1, max_length=255)
    kind: OrganizationKind
    slug: str | None = Field(
        default=None,
        pattern=SLUG_PATTERN,
        description="Lowercase letters, digits and '-'; generated from the name when absent",
    )
    admin: TenantAdmin


class TenantUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    status: Literal["active", "suspended"] | None = Field(
        default=None,
        description="suspended: members can no longer log in and their tokens are refused",
    )
    settings: dict[str, Any] | None = Field(
        default=None, description="Replaces the organization's settings object"
    )
    platform_fee_percent: Decimal | None = Field(
        default=None,
        ge=0,
        le=100,
        decimal_places=2,
        description="The platform's share of this care organization's consultation fees"
        " (percent); null: the platform default, PLATFORM_FEE_PERCENT",
    )

    _present = not_null("name", "status", "settings")

    @model_validator(mode="after")
    def _something(self) -> TenantUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one of name, status, settings, platform_fee_percent")
        return self


class TenantRead(Schema):
    id: uuid.UUID
    name: str
    slug: str
    kind: str
    status: str
    settings: dict[str, Any]
    platform_fee_percent: Money | None = Field(
        default=None, description="Own platform fee (percent); null: PLATFORM_FEE_PERCENT"
    )
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class TenantDetail(TenantRead):
    member_count: int


class TenantCreated(TenantRead):
    admin_user_id: uuid.UUID


class MemberCreate(Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=128)
    full_name: str = Field(min_length=1, max_length=255)
    role: Role
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    organization_id: uuid.UUID | None = Field(
        default=None,
        description="Super admins only (required for them): the member's organization",
    )


class MemberUpdate(Body):
    role: Role | None = None
    is_active: bool | None = Field(
        default=None, description="false: the member's tokens are refused from the next request"
    )
    is_approved: bool | None = Field(default=None, description="Doctors only")
    full_name: str | None = Field(default=None, min_length=1, max_length=255)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN, description="null clears it")

    _present = not_null("role", "is_active", "is_approved", "full_name")

    @model_validator(mode="after")
    def _something(self) -> MemberUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one of role, is_active, is_approved, full_name, phone")
        return self
