"""Consultations (MedConnect "medical visits", eCureTrip "consultations": the
encounter) and medical records (dated entries of a patient's history), DESIGN.md
"Clinical model". Both are clinical content: encrypted at rest, read only by doctors
of the organization and by the patient themself, every read audited.

A consultation belongs to the organization of its chart; at most one per appointment.
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
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medhub.field_crypto import EncryptedJSON, EncryptedText
from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class ConsultationStatus(StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"


class ConsultationType(StrEnum):
    in_person = "in_person"
    video = "video"


class RecordKind(StrEnum):
    diagnosis = "diagnosis"
    allergy = "allergy"
    lab_result = "lab_result"
    imaging = "imaging"
    procedure = "procedure"
    immunization = "immunization"
    note = "note"


class Consultation(IdMixin, TimestampMixin, Base):
    __tablename__ = "consultations"
    __table_args__ = (
        CheckConstraint(one_of("status", ConsultationStatus), name="status_known"),
        CheckConstraint(one_of("type", ConsultationType), name="type_known"),
        # One consultation per appointment.
        Index(
            "uq_consultations_appointment",
            "appointment_id",
            unique=True,
            postgresql_where=text("appointment_id IS NOT NULL"),
        ),
        Index("ix_consultations_organization_created_at", "organization_id", "created_at"),
        Index("ix_consultations_patient_created_at", "patient_id", "created_at"),
        Index("ix_consultations_doctor_created_at", "doctor_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_profiles.user_id", ondelete="RESTRICT")
    )
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT")
    )
    type: Mapped[str] = mapped_column(String(20), default=ConsultationType.in_person.value)
    status: Mapped[str] = mapped_column(String(20), default=ConsultationStatus.scheduled.value)
    # When it is planned to start (the appointment's start, or now for an ad hoc one).
    scheduled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    chief_complaint: Mapped[str | None] = mapped_column(
        EncryptedText("consultations.chief_complaint")
    )
    diagnosis: Mapped[str | None] = mapped_column(EncryptedText("consultations.diagnosis"))
    # ICD-10 codes ("J06.9"): clinical content too, so encrypted with the rest.
    icd10_codes: Mapped[list[str] | None] = mapped_column(
        EncryptedJSON("consultations.icd10_codes")
    )
    notes: Mapped[str | None] = mapped_column(EncryptedText("consultations.notes"))
    # {"blood_pressure": "120/80", "heart_rate": 72, "temperature_c": 36.8, ...}
    vitals: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("consultations.vitals"))
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    follow_up_notes: Mapped[str | None] = mapped_column(
        EncryptedText("consultations.follow_up_notes")
    )
    # An unguessable room name for a video consultation (the provider builds the URL).
    video_room: Mapped[str | None] = mapped_column(String(100))
    cancelled_reason: Mapped[str | None] = mapped_column(String(500))


class MedicalRecord(IdMixin, TimestampMixin, Base):
    __tablename__ = "medical_records"
    __table_args__ = (
        CheckConstraint(one_of("kind", RecordKind), name="kind_known"),
        Index("ix_medical_records_patient_recorded_on", "patient_id", "recorded_on"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    consultation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consultations.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    # The day the finding/event happened (not when it was typed in).
    recorded_on: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(EncryptedText("medical_records.title"))
    content: Mapped[str | None] = mapped_column(EncryptedText("medical_records.content"))
    # Structured extras per kind (a lab value and unit, a vaccine lot...).
    data: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("medical_records.data"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
