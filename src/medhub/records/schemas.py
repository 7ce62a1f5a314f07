from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medhub.consultations.schemas import VitalsRead
from medhub.kit.dates import Day
from medhub.kit.schemas import not_null
from medhub.models.consultations import ConsultationStatus, ConsultationType, RecordKind

MAX_DATA_CHARS = 10_000
# The calendar runs furthest ahead at UTC+14: a date that is today anywhere on earth
# is not in the future, wherever the clinician is.
_AHEAD_OF_UTC = timedelta(hours=14)


def latest_day() -> date:
    return (datetime.now(UTC) + _AHEAD_OF_UTC).date()


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RecordRead(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    patient_id: uuid.UUID
    consultation_id: uuid.UUID | None
    author_id: uuid.UUID | None
    kind: RecordKind
    recorded_on: date
    title: str
    content: str | None
    data: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class RecordFile(BaseModel):
    """A file attached to the record (`POST /upload/medical` with its `record_id`)."""

    id: uuid.UUID
    document_type: str
    file_name: str
    file_size: int
    mime_type: str
    created_at: datetime
    download_url: str


class RecordDetail(RecordRead):
    files: list[RecordFile]


class _RecordFields(Input):
    @field_validator("recorded_on", check_fields=False)
    @classmethod
    def _not_in_the_future(cls, value: date | None) -> date | None:
        if value is not None and value > latest_day():
            raise ValueError("must not be in the future")
        return value

    @field_validator("data", check_fields=False)
    @classmethod
    def _small_data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":"))) > MAX_DATA_CHARS:
            raise ValueError(f"must be at most {MAX_DATA_CHARS} characters as JSON")
        return value


class RecordCreate(_RecordFields):
    kind: RecordKind
    recorded_on: Day = Field(description="The day it happened (not the day it was typed in)")
    title: str = Field(min_length=1, max_length=200, examples=["Penicillin allergy"])
    content: str | None = Field(default=None, min_length=1, max_length=20000)
    data: dict[str, Any] | None = Field(
        default=None, description="Structured extras of the kind: a lab value and unit, a lot..."
    )
    consultation_id: uuid.UUID | None = Field(
        default=None, description="The consultation it came from (one of the same chart)"
    )


class RecordUpdate(_RecordFields):
    """The fields sent change; `content`, `data` and `consultation_id` sent as null are
    cleared."""

    kind: RecordKind | None = None
    recorded_on: Day | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    content: str | None = Field(default=None, min_length=1, max_length=20000)
    data: dict[str, Any] | None = None
    consultation_id: uuid.UUID | None = None

    _present = not_null("kind", "recorded_on", "title")


@dataclass(frozen=True)
class RecordFilters:
    kind: str | None = None
    # recorded_on within [first, last], both inclusive.
    first: date | None = None
    last: date | None = None


# The patient's medical history (`GET /patients/medical-history`)


class HistoryChart(BaseModel):
    """One organization's chart of the patient, and what it records about them."""

    patient_id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    mrn: str
    blood_type: str | None
    allergies: list[str]
    chronic_conditions: list[str]


class HistoryConsultation(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str | None
    doctor_id: uuid.UUID
    doctor_name: str | None
    appointment_id: uuid.UUID | None
    type: ConsultationType
    status: ConsultationStatus
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    chief_complaint: str | None
    diagnosis: str | None
    icd10_codes: list[str]
    notes: str | None = Field(description="The doctor's clinical notes: the patient's own data")
    vitals: VitalsRead | None
    follow_up_on: date | None
    follow_up_notes: str | None


class HistoryRecord(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str | None
    consultation_id: uuid.UUID | None
    author_name: str | None
    kind: RecordKind
    recorded_on: date
    title: str
    content: str | None
    data: dict[str, Any] | None


class MedicalHistory(BaseModel):
    """Everything clinical MedHub holds about the caller, across organizations."""

    charts: list[HistoryChart] = Field(
        description="The organizations holding a chart linked to your account"
    )
    allergies: list[str] = Field(
        description="From your profile and every chart, each once (compared ignoring case)"
    )
    chronic_conditions: list[str] = Field(description="From every chart, each once")
    consultations: list[HistoryConsultation] = Field(
        description="Newest first; with `from`/`to`, those scheduled on those days (UTC)"
    )
    records: list[HistoryRecord] = Field(
        description="Newest first; with `from`/`to`, those dated on those days"
    )
