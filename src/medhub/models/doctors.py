"""Doctors: one profile per `doctor` user, their weekly availability rules and dated
exceptions (DESIGN.md, "Clinical model"), and the public views of them.

A profile carries the doctor's organization (a hospital or clinic: the tenant) and is
under row-level security like every tenant table; the rules and exceptions follow
their profile. Clock times are stored as minutes since local midnight (0..1440), in
the profile's IANA time zone, so that an end of 24:00 can be said.

The public directory reads none of these tables directly: it reads the views at the
end of this module (migration 0011), which hold only the public columns of the
doctors a patient may find.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, TimestampMixin

MINUTES_PER_DAY = 24 * 60


class DoctorProfile(TimestampMixin, Base):
    __tablename__ = "doctor_profiles"
    __table_args__ = (
        CheckConstraint("consultation_fee >= 0", name="fee_not_negative"),
        CheckConstraint("years_of_experience BETWEEN 0 AND 80", name="experience_range"),
        CheckConstraint(
            "rating_average IS NULL OR rating_average BETWEEN 0 AND 5", name="rating_range"
        ),
        CheckConstraint("rating_count >= 0", name="rating_count_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
    )

    # The doctor's account: one profile per doctor, and the doctor's id everywhere.
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The doctor's hospital or clinic (None for a self-registered doctor who has none yet).
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    specialty: Mapped[str] = mapped_column(CITEXT, index=True)
    license_number: Mapped[str] = mapped_column(String(100))
    qualifications: Mapped[list[str]] = mapped_column(
        ARRAY(String(200)), default=list, server_default="{}"
    )
    years_of_experience: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    bio: Mapped[str | None] = mapped_column(Text)
    # ISO 639-1 codes, lower case.
    languages: Mapped[list[str]] = mapped_column(
        ARRAY(String(2)), default=list, server_default="{}"
    )
    consultation_fee: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3))
    offers_video: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Shown in the public directory (once approved, in an active organization).
    is_listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Kept by the reviews (a later issue); read-only through the API.
    rating_average: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # IANA name (Europe/Berlin): the zone the availability's clock times are in.
    timezone: Mapped[str] = mapped_column(String(64))


class AvailabilityRule(IdMixin, Base):
    """Every `weekday` (ISO, 1 = Monday), slots of `slot_minutes` from start to end."""

    __tablename__ = "doctor_availability_rules"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday_iso"),
        CheckConstraint(
            f"0 <= start_minute AND start_minute < end_minute AND end_minute <= {MINUTES_PER_DAY}",
            name="window",
        ),
        CheckConstraint("slot_minutes BETWEEN 5 AND 240", name="slot_minutes_range"),
        Index("ix_doctor_availability_rules_doctor_weekday", "doctor_id", "weekday"),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_profiles.user_id", ondelete="CASCADE")
    )
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)
    slot_minutes: Mapped[int] = mapped_column(SmallInteger)


class AvailabilityException(IdMixin, Base):
    """One date that differs from the weekly rules: a day off (`available` false), or
    the hours worked that day instead of the rules (`available` true)."""

    __tablename__ = "doctor_availability_exceptions"
    __table_args__ = (
        CheckConstraint(
            "(NOT available AND start_minute IS NULL AND end_minute IS NULL"
            " AND slot_minutes IS NULL)"
            " OR (available AND 0 <= start_minute AND start_minute < end_minute"
            f" AND end_minute <= {MINUTES_PER_DAY} AND slot_minutes BETWEEN 5 AND 240)",
            name="window",
        ),
        Index("uq_doctor_availability_exceptions_doctor_day", "doctor_id", "day", unique=True),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_profiles.user_id", ondelete="CASCADE")
    )
    day: Mapped[date] = mapped_column(Date)
    available: Mapped[bool] = mapped_column(Boolean)
    start_minute: Mapped[int | None] = mapped_column(SmallInteger)
    end_minute: Mapped[int | None] = mapped_column(SmallInteger)
    slot_minutes: Mapped[int | None] = mapped_column(SmallInteger)


# The public views (migration 0011), read-only. Their own MetaData: they are not
# tables, and Alembic's autogenerate (which compares `Base.metadata`) must not
# propose creating them.
VIEWS = MetaData()

public_doctors = Table(
    "public_doctors",
    VIEWS,
    Column("id", Uuid, primary_key=True),
    Column("full_name", String(255)),
    Column("organization_id", Uuid),
    Column("organization_name", String(255)),
    Column("specialty", CITEXT),
    Column("qualifications", ARRAY(String(200))),
    Column("years_of_experience", SmallInteger),
    Column("bio", Text),
    Column("languages", ARRAY(String(2))),
    Column("consultation_fee", Numeric(10, 2)),
    Column("currency", String(3)),
    Column("offers_video", Boolean),
    Column("rating_average", Numeric(3, 2)),
    Column("rating_count", Integer),
    Column("timezone", String(64)),
)

public_availability_rules = Table(
    "public_doctor_availability_rules",
    VIEWS,
    Column("doctor_id", Uuid),
    Column("weekday", SmallInteger),
    Column("start_minute", SmallInteger),
    Column("end_minute", SmallInteger),
    Column("slot_minutes", SmallInteger),
)

public_availability_exceptions = Table(
    "public_doctor_availability_exceptions",
    VIEWS,
    Column("doctor_id", Uuid),
    Column("day", Date),
    Column("available", Boolean),
    Column("start_minute", SmallInteger),
    Column("end_minute", SmallInteger),
    Column("slot_minutes", SmallInteger),
)

# When listed doctors are busy (active appointments, migration 0014): doctor and
# period only, for the public free slots.
public_doctor_busy = Table(
    "public_doctor_busy",
    VIEWS,
    Column("doctor_id", Uuid),
    Column("starts_at", DateTime(timezone=True)),
    Column("ends_at", DateTime(timezone=True)),
)
