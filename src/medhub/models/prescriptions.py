"""Digital prescriptions (MedConnect) and their dispensing (DESIGN.md, "Clinical
model": Prescription, Dispensation).

A prescription belongs to the prescriber's organization (its tenant) and to one
chart of that organization. Pharmacies are other tenants: a pharmacy reaches a
prescription only after presenting its signed QR token or its reference number,
which leaves a `prescription_pharmacy_access` row; row-level security (migration
0019) lets a pharmacy see exactly the prescriptions it holds such a row for.

Quantities are whole units (tablets, packs, bottles): what a pharmacy hands over.
An item may be dispensed up to `quantity x (1 + refills)` in total, in as many
dispensations as it takes; `dispensed_quantity` is raised only by a conditional
UPDATE and a CHECK holds it at that bound, so two pharmacies can never hand out
the same units.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medhub.field_crypto import EncryptedText
from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class PrescriptionStatus(StrEnum):
    issued = "issued"
    # First scanned or looked up by a pharmacy (the seed's example shows this status).
    scanned = "scanned"
    validated = "validated"
    partially_dispensed = "partially_dispensed"
    dispensed = "dispensed"
    rejected = "rejected"
    cancelled = "cancelled"
    expired = "expired"


# What a pharmacy may still hand out from: anything else is closed.
DISPENSABLE_STATUSES = frozenset(
    {
        PrescriptionStatus.issued,
        PrescriptionStatus.scanned,
        PrescriptionStatus.validated,
        PrescriptionStatus.partially_dispensed,
    }
)


class MedicineForm(StrEnum):
    tablet = "tablet"
    capsule = "capsule"
    liquid = "liquid"
    injection = "injection"
    inhaler = "inhaler"
    drops = "drops"
    cream = "cream"
    patch = "patch"
    suppository = "suppository"
    powder = "powder"
    other = "other"


class AccessVia(StrEnum):
    qr = "qr"
    reference = "reference"


class DispensationOutcome(StrEnum):
    dispensed = "dispensed"
    rejected = "rejected"


class Prescription(IdMixin, TimestampMixin, Base):
    __tablename__ = "prescriptions"
    __table_args__ = (
        CheckConstraint(one_of("status", PrescriptionStatus), name="status_known"),
        CheckConstraint("expires_at > issued_at", name="expires_after_issue"),
        CheckConstraint("scan_count >= 0", name="scan_count_not_negative"),
        Index("ix_prescriptions_organization_issued_at", "organization_id", "issued_at"),
        Index("ix_prescriptions_patient_issued_at", "patient_id", "issued_at"),
        Index("ix_prescriptions_doctor_issued_at", "doctor_id", "issued_at"),
        # The expiry sweep reads only the open ones.
        Index(
            "ix_prescriptions_open_expires_at",
            "expires_at",
            postgresql_where=text(
                "status IN ('issued', 'scanned', 'validated', 'partially_dispensed')"
            ),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_profiles.user_id", ondelete="RESTRICT")
    )
    consultation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consultations.id", ondelete="SET NULL"), index=True
    )
    # The names as they stood at issue, as a paper prescription prints them: the
    # pharmacy sees them without reading the chart, the user or the organization.
    patient_name: Mapped[str] = mapped_column(String(200))
    prescriber_name: Mapped[str] = mapped_column(String(200))
    organization_name: Mapped[str] = mapped_column(String(200))
    # RX-YYYYMMDD-NNNN: the day of issue (UTC) and that day's counter
    # (`PrescriptionNumberDay`), four digits at least.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    # The reference number a pharmacy may type instead of scanning: shown to the
    # prescriber and the patient (encrypted at rest), found by its blind index.
    reference_number: Mapped[str] = mapped_column(EncryptedText("prescriptions.reference_number"))
    reference_index: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    # The signed QR token (a bearer credential to the prescription, so encrypted at
    # rest) and its SHA-256, the seed's `qr_hash`: a scan must present this token.
    qr_token: Mapped[str] = mapped_column(EncryptedText("prescriptions.qr_token"))
    qr_hash: Mapped[str] = mapped_column(String(64), unique=True)
    diagnosis: Mapped[str | None] = mapped_column(EncryptedText("prescriptions.diagnosis"))
    notes: Mapped[str | None] = mapped_column(EncryptedText("prescriptions.notes"))
    status: Mapped[str] = mapped_column(String(24), default=PrescriptionStatus.issued.value)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scan_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_scanned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_scanned_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    dispensed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_reason: Mapped[str | None] = mapped_column(String(500))
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    rejected_reason: Mapped[str | None] = mapped_column(String(500))


class PrescriptionNumberDay(Base):
    """The last prescription number handed out on a day: NNNN of `RX-YYYYMMDD-NNNN`.

    The day is the UTC day of issue, the same for every organization wherever it is
    (one platform-wide series a day, as the seed's numbers have no organization in
    them). Each prescription takes the next number of its day with one
    `INSERT ... ON CONFLICT (day) DO UPDATE ... RETURNING`, in autocommit before its
    own transaction (prescriptions.repository.take_number): the row lock serialises
    the takers only for that statement, so two prescriptions never get the same
    number and none waits for another's COMMIT. As with a sequence, a request that
    fails after taking its number leaves a gap, never a duplicate. NNNN has four digits
    at least and simply grows past 9999 on a day that issues more
    (`RX-20261204-10000`): numbers stay unique, and sort by counter within a day.
    """

    __tablename__ = "prescription_number_days"
    __table_args__ = (CheckConstraint("last > 0", name="last_positive"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class PrescriptionItem(IdMixin, Base):
    __tablename__ = "prescription_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("refills >= 0", name="refills_not_negative"),
        CheckConstraint(
            "dispensed_quantity >= 0 AND dispensed_quantity <= quantity * (1 + refills)",
            name="dispensed_within_allowed",
        ),
        CheckConstraint(
            "times_per_day IS NULL OR every_hours IS NULL", name="one_frequency_structure"
        ),
        CheckConstraint(f"form IS NULL OR {one_of('form', MedicineForm)}", name="form_known"),
        Index("ix_prescription_items_prescription_position", "prescription_id", "position"),
    )

    prescription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    # What is prescribed is clinical content (a medicine names a condition).
    medicine_name: Mapped[str] = mapped_column(EncryptedText("prescription_items.medicine_name"))
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    strength: Mapped[str | None] = mapped_column(String(100))
    form: Mapped[str | None] = mapped_column(String(20))
    # Structured (one of the two) plus the words the patient reads.
    times_per_day: Mapped[int | None] = mapped_column(SmallInteger)
    every_hours: Mapped[int | None] = mapped_column(SmallInteger)
    frequency_text: Mapped[str | None] = mapped_column(String(200))
    duration_days: Mapped[int | None] = mapped_column(SmallInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    refills: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    instructions: Mapped[str | None] = mapped_column(
        EncryptedText("prescription_items.instructions")
    )
    dispensed_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PrescriptionAccess(Base):
    """A pharmacy that presented the prescription's QR token or reference number: what
    lets it see the prescription, validate and dispense it (and nothing else)."""

    __tablename__ = "prescription_pharmacy_access"
    __table_args__ = (
        PrimaryKeyConstraint("prescription_id", "organization_id"),
        CheckConstraint(one_of("first_via", AccessVia), name="first_via_known"),
        Index("ix_prescription_pharmacy_access_organization", "organization_id"),
    )

    prescription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="CASCADE")
    )
    # The pharmacy.
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    # The prescription's organization, repeated here so that row-level security can
    # show the prescriber who holds access without a policy reading prescriptions
    # (whose own policy reads this table: the two would recurse).
    prescriber_organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    first_via: Mapped[str] = mapped_column(String(12))
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    scan_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    validated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class Dispensation(IdMixin, Base):
    """One pharmacy's act on a prescription: a dispensing (with its lines) or a
    rejection (with its reason). The pharmacy's history is these rows."""

    __tablename__ = "dispensations"
    __table_args__ = (
        CheckConstraint(one_of("outcome", DispensationOutcome), name="outcome_known"),
        CheckConstraint("outcome <> 'rejected' OR reason IS NOT NULL", name="rejection_has_reason"),
        Index("ix_dispensations_organization_created_at", "organization_id", "created_at"),
        Index("ix_dispensations_prescription", "prescription_id"),
    )

    prescription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="RESTRICT")
    )
    # The pharmacy.
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    # As it stood then: the prescriber and the patient cannot read another tenant.
    pharmacy_name: Mapped[str] = mapped_column(String(200))
    pharmacist_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    outcome: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(500))
    total_amount: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), default=Decimal("0"), server_default="0"
    )
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)


class DispensationItem(IdMixin, Base):
    __tablename__ = "dispensation_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price IS NULL OR unit_price >= 0", name="unit_price_not_negative"),
        Index("ix_dispensation_items_dispensation", "dispensation_id"),
    )

    dispensation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dispensations.id", ondelete="CASCADE")
    )
    prescription_item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescription_items.id", ondelete="RESTRICT"), index=True
    )
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL")
    )
    quantity: Mapped[int] = mapped_column(Integer)
    batch_number: Mapped[str | None] = mapped_column(String(64))
    expiry_date: Mapped[date | None] = mapped_column(Date)
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
