"""Appointments (MedFlow and eCureTrip: one resource). The tenant is the doctor's
organization; the patient is a chart of that organization.

No double booking is a property of the table, not of the code: two exclusion
constraints refuse overlapping active appointments of one doctor, or of one chart,
whatever the application does (DESIGN.md, "Data rules").
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class AppointmentStatus(StrEnum):
    requested = "requested"
    confirmed = "confirmed"
    checked_in = "checked_in"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"


# The statuses that hold their time: every other one has let it go.
ACTIVE_STATUSES = (
    AppointmentStatus.requested,
    AppointmentStatus.confirmed,
    AppointmentStatus.checked_in,
    AppointmentStatus.in_progress,
    AppointmentStatus.completed,
)
_ACTIVE_SQL = "status IN (" + ", ".join(repr(s.value) for s in ACTIVE_STATUSES) + ")"


class AppointmentType(StrEnum):
    in_person = "in_person"
    video = "video"


class AppointmentPaymentStatus(StrEnum):
    """Kept by the payments issue; an appointment starts `unpaid` (or `not_required`
    when its fee is zero)."""

    not_required = "not_required"
    unpaid = "unpaid"
    pending = "pending"
    held = "held"
    paid = "paid"
    refunded = "refunded"


class Appointment(IdMixin, TimestampMixin, Base):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="period"),
        CheckConstraint(one_of("status", AppointmentStatus), name="status_known"),
        CheckConstraint(one_of("type", AppointmentType), name="type_known"),
        CheckConstraint(
            one_of("payment_status", AppointmentPaymentStatus), name="payment_status_known"
        ),
        CheckConstraint("fee >= 0", name="fee_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        ExcludeConstraint(
            ("doctor_id", "="),
            (text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            name="ex_appointments_doctor_overlap",
            using="gist",
            where=text(_ACTIVE_SQL),
        ),
        ExcludeConstraint(
            ("patient_id", "="),
            (text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            name="ex_appointments_patient_overlap",
            using="gist",
            where=text(_ACTIVE_SQL),
        ),
        Index("ix_appointments_organization_starts_at", "organization_id", "starts_at"),
        Index("ix_appointments_doctor_starts_at", "doctor_id", "starts_at"),
        Index("ix_appointments_patient_starts_at", "patient_id", "starts_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_profiles.user_id", ondelete="RESTRICT")
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The doctor's zone when booked: emails and calendars show the time in it.
    timezone: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=AppointmentStatus.requested.value)
    reason: Mapped[str | None] = mapped_column(Text)
    fee: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3))
    payment_status: Mapped[str] = mapped_column(
        String(20), default=AppointmentPaymentStatus.unpaid.value
    )
    # What was given back of the fee (billing keeps it in step with the ledger).
    refund_amount: Mapped[Decimal] = mapped_column(
        Numeric(10, 2), default=Decimal("0"), server_default=text("0")
    )
    booked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # An unguessable room name for video appointments (the provider builds the URL).
    video_room: Mapped[str | None] = mapped_column(String(100))

    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    # Cancelled by the patient inside APPOINTMENT_CANCEL_CUTOFF_HOURS of the start.
    cancelled_late: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )

    # Set by the reminder jobs when they send: each reminder goes out once.
    reminder_24h_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminder_1h_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
