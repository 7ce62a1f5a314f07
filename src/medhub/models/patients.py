"""Patient charts: one person's record within one care organization (DESIGN.md,
"Clinical model"), the invitations that let a person claim their chart, and the
patient's own profile (one per `patient` account, no organization).

Sensitive fields are stored encrypted (kit/field_crypto.py); the two that staff look
a patient up by exactly (phone, national id) also carry a blind index. Names, date of
birth and the MRN stay in the clear: they are what a front desk searches by.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from medhub.field_crypto import EncryptedJSON, EncryptedText
from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class BloodType(StrEnum):
    a_pos = "A+"
    a_neg = "A-"
    b_pos = "B+"
    b_neg = "B-"
    ab_pos = "AB+"
    ab_neg = "AB-"
    o_pos = "O+"
    o_neg = "O-"


class Patient(IdMixin, TimestampMixin, Base):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("organization_id", "mrn", name="uq_patients_organization_mrn"),
        CheckConstraint(one_of("sex", Sex), name="sex_known"),
        CheckConstraint(
            f"blood_type IS NULL OR {one_of('blood_type', BloodType)}", name="blood_type_known"
        ),
        # One chart per person and organization: a linked account has one record there.
        Index(
            "uq_patients_organization_user",
            "organization_id",
            "user_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL AND deleted_at IS NULL"),
        ),
        Index("ix_patients_organization_phone_index", "organization_id", "phone_index"),
        Index("ix_patients_organization_national_id_index", "organization_id", "national_id_index"),
        # Name search (prefix or part, any case) within one organization.
        Index(
            "ix_patients_last_name_trgm",
            "last_name",
            postgresql_using="gin",
            postgresql_ops={"last_name": "gin_trgm_ops"},
        ),
        Index(
            "ix_patients_first_name_trgm",
            "first_name",
            postgresql_using="gin",
            postgresql_ops={"first_name": "gin_trgm_ops"},
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    # Medical record number: per organization, from `patient_mrn_counters`.
    mrn: Mapped[str] = mapped_column(String(20))
    # The person's `patient` account, once linked (verified email or claimed invitation).
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10), default=Sex.unknown.value)
    # Contact address for the chart (and the key for linking to an account).
    email: Mapped[str | None] = mapped_column(CITEXT)
    blood_type: Mapped[str | None] = mapped_column(String(3))

    phone: Mapped[str | None] = mapped_column(EncryptedText("patients.phone"))
    phone_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    national_id: Mapped[str | None] = mapped_column(EncryptedText("patients.national_id"))
    national_id_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    insurance_number: Mapped[str | None] = mapped_column(EncryptedText("patients.insurance_number"))
    # {"line1", "line2", "city", "postal_code", "country"}
    address: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("patients.address"))
    # {"name", "relationship", "phone"}
    emergency_contact: Mapped[dict[str, Any] | None] = mapped_column(
        EncryptedJSON("patients.emergency_contact")
    )
    allergies: Mapped[list[str] | None] = mapped_column(EncryptedJSON("patients.allergies"))
    chronic_conditions: Mapped[list[str] | None] = mapped_column(
        EncryptedJSON("patients.chronic_conditions")
    )

    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class PatientMrnCounter(Base):
    """The last MRN number an organization issued (a row lock makes numbers unique)."""

    __tablename__ = "patient_mrn_counters"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    last_value: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PatientInvitation(IdMixin, Base):
    """An emailed link that lets the person with a chart's email claim it for their
    account. Only the token's digest is stored."""

    __tablename__ = "patient_invitations"

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(CITEXT)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class PatientProfile(TimestampMixin, Base):
    """A `patient` account's own data, used by booking (eCureTrip) and Pillio."""

    __tablename__ = "patient_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(10))
    # IANA zone: reminders and appointment times are shown in it.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    phone: Mapped[str | None] = mapped_column(EncryptedText("patient_profiles.phone"))
    emergency_contact: Mapped[dict[str, Any] | None] = mapped_column(
        EncryptedJSON("patient_profiles.emergency_contact")
    )
    allergies: Mapped[list[str] | None] = mapped_column(EncryptedJSON("patient_profiles.allergies"))
