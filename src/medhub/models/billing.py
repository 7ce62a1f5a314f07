"""Paying for care: consultation fees held in escrow, released to the doctor minus the
platform fee, refunded on cancellation, disputed by the patient (issue 16).

Money is never a stored counter: every movement is a group of `ledger_entries` that
sums to zero per currency (a deferred constraint trigger refuses a commit where one
does not), and every balance is a SUM over them. The payment row records what the
provider did (captured, refunded how much) and when the held money may be released.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class AppointmentPaymentState(StrEnum):
    pending = "pending"
    captured = "captured"
    failed = "failed"
    cancelled = "cancelled"


# A payment that is still collecting or holds money: at most one per appointment.
LIVE_PAYMENT_STATES = (AppointmentPaymentState.pending, AppointmentPaymentState.captured)
_LIVE_SQL = "status IN (" + ", ".join(repr(s.value) for s in LIVE_PAYMENT_STATES) + ")"


class LedgerAccount(StrEnum):
    patient_payments = "patient_payments"
    escrow = "escrow"
    doctor_payable = "doctor_payable"
    platform_revenue = "platform_revenue"
    refunds = "refunds"
    payouts = "payouts"


class LedgerKind(StrEnum):
    capture = "capture"
    release = "release"
    refund = "refund"


class DisputeStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class DisputeResolution(StrEnum):
    release = "release"
    refund = "refund"
    partial_refund = "partial_refund"


class AppointmentPayment(IdMixin, TimestampMixin, Base):
    __tablename__ = "appointment_payments"
    __table_args__ = (
        CheckConstraint(one_of("status", AppointmentPaymentState), name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        Index(
            "uq_appointment_payments_live",
            "appointment_id",
            unique=True,
            postgresql_where=text(_LIVE_SQL),
        ),
        Index(
            "uq_appointment_payments_reference",
            "provider",
            "provider_reference",
            unique=True,
            postgresql_where=text("provider_reference IS NOT NULL AND status = 'captured'"),
        ),
        # The release task's scan: captured, unreleased, due.
        Index(
            "ix_appointment_payments_release_due",
            "release_after",
            postgresql_where=text("status = 'captured' AND released_at IS NULL"),
        ),
        Index(
            "ix_appointment_payments_pending_expiry",
            "expires_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT"), index=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=AppointmentPaymentState.pending.value)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    provider_reference: Mapped[str | None] = mapped_column(String(255))
    # Unpaid by then: the timeout task cancels the appointment.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    refunded_amount: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), default=Decimal("0"), server_default=text("0")
    )
    refund_reference: Mapped[str | None] = mapped_column(String(255))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the visit is over (completed, no-show) or cancelled with money left to
    # release; the release task moves the held rest once this has passed.
    release_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LedgerEntry(IdMixin, Base):
    """One leg of a money movement. Append-only (triggers refuse UPDATE, DELETE and
    TRUNCATE; row-level security grants only SELECT and INSERT)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(one_of("account", LedgerAccount), name="account_known"),
        CheckConstraint(one_of("kind", LedgerKind), name="kind_known"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        Index("ix_ledger_entries_group_id", "group_id"),
        Index("ix_ledger_entries_organization_created", "organization_id", "created_at"),
        Index("ix_ledger_entries_appointment_id", "appointment_id"),
        Index("ix_ledger_entries_doctor_account", "doctor_id", "account"),
    )

    group_id: Mapped[uuid.UUID]
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT")
    )
    doctor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    account: Mapped[str] = mapped_column(String(30))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)


class AppointmentDispute(IdMixin, TimestampMixin, Base):
    """A patient's dispute of a completed visit: one per appointment; while open, the
    held money is not released."""

    __tablename__ = "appointment_disputes"
    __table_args__ = (
        CheckConstraint(one_of("status", DisputeStatus), name="status_known"),
        CheckConstraint(
            f"resolution IS NULL OR {one_of('resolution', DisputeResolution)}",
            name="resolution_known",
        ),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT"), unique=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointment_payments.id", ondelete="RESTRICT")
    )
    opened_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DisputeStatus.open.value)
    resolution: Mapped[str | None] = mapped_column(String(20))
    refund_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
