from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from medhub.kit.dates import Day, Instant
from medhub.kit.schemas import not_null
from medhub.models.consultations import ConsultationStatus, ConsultationType

# ICD-10 (WHO and ICD-10-CM): a letter (not U, reserved), two characters, then an
# optional dot and up to four more: "J06.9", "E11.65", "S52.521A".
ICD10_PATTERN = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")
MAX_ICD10_CODES = 20

SortOrder = Literal["asc", "desc"]
ConsultationSort = Literal["scheduled_at", "created_at"]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _normalised_code(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _icd10(value: str) -> str:
    if not ICD10_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not an ICD-10 code (e.g. J06.9)")
    return value


Icd10Code = Annotated[
    str,
    BeforeValidator(_normalised_code),
    AfterValidator(_icd10),
    Field(description="An ICD-10 code, e.g. J06.9", examples=["J06.9"]),
]


def _unique(codes: list[str]) -> list[str]:
    return list(dict.fromkeys(codes))


class Vitals(Input):
    """Measured at the consultation; every field optional, each within what a living
    patient can show (a typo such as 720 for 72 is refused, not stored)."""

    heart_rate: int | None = Field(default=None, ge=20, le=250, description="Beats per minute")
    systolic: int | None = Field(default=None, ge=50, le=300, description="mmHg")
    diastolic: int | None = Field(default=None, ge=20, le=200, description="mmHg")
    temperature_c: float | None = Field(default=None, ge=30, le=45, description="°C")
    spo2: int | None = Field(default=None, ge=50, le=100, description="Oxygen saturation, %")
    respiratory_rate: int | None = Field(default=None, ge=5, le=60, description="Per minute")
    weight_kg: float | None = Field(default=None, gt=0, le=700)
    height_cm: float | None = Field(default=None, ge=20, le=300)

    @field_validator("diastolic")
    @classmethod
    def _below_systolic(cls, value: int | None, info: ValidationInfo) -> int | None:
        systolic = info.data.get("systolic")
        if value is not None and systolic is not None and value >= systolic:
            raise ValueError("must be lower than systolic")
        return value

    @model_validator(mode="after")
    def _pressure_in_pairs(self) -> Vitals:
        if (self.systolic is None) != (self.diastolic is None):
            raise ValueError("blood pressure takes both systolic and diastolic")
        return self


class VitalsRead(BaseModel):
    heart_rate: int | None = None
    systolic: int | None = None
    diastolic: int | None = None
    temperature_c: float | None = None
    spo2: int | None = None
    respiratory_rate: int | None = None
    weight_kg: float | None = None
    height_cm: float | None = None


class ConsultationRead(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    appointment_id: uuid.UUID | None
    type: ConsultationType
    status: ConsultationStatus
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    chief_complaint: str | None
    diagnosis: str | None
    icd10_codes: list[str]
    notes: str | None
    vitals: VitalsRead | None
    follow_up_on: date | None
    follow_up_notes: str | None
    cancelled_reason: str | None
    join_url: str | None = Field(
        description=(
            "Video consultations only: the room's address, shown to the doctor and the"
            " patient from 15 minutes before the start until the consultation ends"
        )
    )
    created_at: datetime
    updated_at: datetime


class ConsultationCreate(Input):
    """From an appointment (`appointment_id` alone: its consultation, made if missing),
    or ad hoc for a chart of the doctor's organization (`patient_id`, `type`...)."""

    appointment_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    type: ConsultationType | None = None
    chief_complaint: str | None = Field(default=None, min_length=1, max_length=2000)
    scheduled_at: Instant | None = Field(
        default=None, description="When it is due (ad hoc only; now when left out)"
    )


class ConsultationUpdate(Input):
    """The fields sent change; a field sent as null is cleared. `status` moves the
    consultation on (scheduled → in_progress → completed, or cancelled)."""

    chief_complaint: str | None = Field(default=None, min_length=1, max_length=2000)
    diagnosis: str | None = Field(default=None, min_length=1, max_length=5000)
    icd10_codes: Annotated[list[Icd10Code], AfterValidator(_unique)] | None = Field(
        default=None, max_length=MAX_ICD10_CODES
    )
    notes: str | None = Field(default=None, min_length=1, max_length=20000)
    vitals: Vitals | None = None
    follow_up_on: Day | None = None
    follow_up_notes: str | None = Field(default=None, min_length=1, max_length=5000)
    status: ConsultationStatus | None = None
    cancelled_reason: str | None = Field(default=None, min_length=1, max_length=500)

    _present = not_null("status")


# The fields that are clinical content (locked once the consultation is closed).
CLINICAL_FIELDS = frozenset(
    {
        "chief_complaint",
        "diagnosis",
        "icd10_codes",
        "notes",
        "vitals",
        "follow_up_on",
        "follow_up_notes",
    }
)


@dataclass(frozen=True)
class ConsultationFilters:
    patient_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    status: str | None = None
    # [since, until) on scheduled_at.
    since: datetime | None = None
    until: datetime | None = None
    sort: ConsultationSort = "scheduled_at"
    descending: bool = True


def vitals_for_storage(vitals: Vitals | None) -> dict[str, Any] | None:
    """Only the measured values: a missing one is left out, not stored as null."""
    if vitals is None:
        return None
    return vitals.model_dump(exclude_none=True) or None
