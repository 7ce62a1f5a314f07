"""Identity: organizations (tenants), users, sessions, one-time tokens, API keys, addresses."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import CITEXT, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class Role(StrEnum):
    super_admin = "super_admin"
    admin = "admin"
    sales = "sales"
    customer = "customer"
    distributor = "distributor"
    doctor = "doctor"
    pharmacist = "pharmacist"
    patient = "patient"


class OrganizationKind(StrEnum):
    hospital = "hospital"
    clinic = "clinic"
    pharmacy = "pharmacy"
    supplier = "supplier"


class OrganizationStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    deleted = "deleted"


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(one_of("kind", OrganizationKind), name="kind"),
        CheckConstraint(one_of("status", OrganizationStatus), name="status"),
        CheckConstraint(
            "platform_fee_percent IS NULL OR platform_fee_percent BETWEEN 0 AND 100",
            name="platform_fee_percent_range",
        ),
    )

    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(CITEXT, unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=OrganizationStatus.active.value)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    deleted_at: Mapped[datetime | None]
    # The platform's share of this care organization's consultation fees, in percent;
    # None: PLATFORM_FEE_PERCENT. Set by super admins only.
    platform_fee_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(one_of("role", Role), name="role"),
        # Staff belong to one organization; super admins to none.
        CheckConstraint(
            "role NOT IN ('admin', 'sales', 'pharmacist') OR organization_id IS NOT NULL",
            name="staff_have_organization",
        ),
        Index("ix_users_organization_role", "organization_id", "role"),
    )

    email: Mapped[str] = mapped_column(CITEXT, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(255))
    company_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Self-registered doctors wait for an admin's approval before acting as doctors.
    is_approved: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]


class LoginFailure(Base):
    """Failed logins, counted where throttling them cannot lock an owner out.

    `subject` is a keyed digest of the normalised email (`*`: any email) and `ip` the
    client address (`*`: any address). (email, IP) and (`*`, IP) rows count failures in
    a window and throttle until `blocked_until`; the (email, `*`) row only remembers
    when the owner was last alerted. Unknown emails get rows exactly like known ones,
    so the throttle tells nothing about which accounts exist.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_last_seen_at", "last_seen_at"),)

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    blocked_until: Mapped[datetime | None]
    alerted_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class PasswordHistory(IdMixin, Base):
    __tablename__ = "password_history"
    __table_args__ = (Index("ix_password_history_user_created", "user_id", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class AuthSession(IdMixin, Base):
    """One login: the family of refresh tokens descended from it, revoked as a whole."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user", "user_id", "revoked_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    last_used_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(50))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    uses_cookies: Mapped[bool] = mapped_column(Boolean, default=False)


class RefreshToken(IdMixin, Base):
    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OneTimeToken(IdMixin, Base):
    """Email verification and reset links, and OTP codes: stored hashed, single use, expiring."""

    __tablename__ = "one_time_tokens"
    __table_args__ = (Index("ix_one_time_tokens_user_purpose", "user_id", "purpose"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(50))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ApiKey(IdMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="role"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Address(IdMixin, TimestampMixin, Base):
    __tablename__ = "addresses"
    __table_args__ = (
        CheckConstraint("address_type IN ('shipping', 'billing')", name="address_type"),
        # One default address per user and type.
        Index(
            "uq_addresses_default_per_type",
            "user_id",
            "address_type",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    address_type: Mapped[str] = mapped_column(String(20))
    street_address: Mapped[str] = mapped_column(String(500))
    city: Mapped[str] = mapped_column(String(255))
    state_province: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str] = mapped_column(String(50))
    country: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
