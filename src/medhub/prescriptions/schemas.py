"""What the prescription routes take and give (MedConnect's shapes in snake_case)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from medhub.kit.dates import Day
from medhub.kit.money import Money, MoneyIn
from medhub.kit.pagination import Pagination
from medhub.models.prescriptions import MedicineForm, PrescriptionStatus

MAX_ITEMS = 20
SortOrder = Literal["asc", "desc"]
# The organization's list: by when it was written (`issued_at`), when it expires, or
# its number.
PrescriptionSort = Literal["created_at", "expires_at", "number"]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Frequency(Input):
    """How often: a number of times a day or an interval in hours (one or neither),
    and the words the patient reads ("twice daily, after meals"). A plain string, the
    seed's `"frequency": "Twice daily"`, is those words alone (`{"text": ...}`)."""

    times_per_day: int | None = Field(default=None, ge=1, le=24)
    every_hours: int | None = Field(default=None, ge=1, le=168)
    text: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _free_text(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Documented as what it accepts: the object, or the words alone.
        described = handler(core_schema)
        words = {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": 'The words alone, as the seed sends them: {"text": ...}',
            "examples": ["Twice daily"],
        }
        return {"anyOf": [handler.resolve_ref_schema(described), words]}

    @model_validator(mode="after")
    def _one_structure(self) -> Frequency:
        if self.times_per_day is not None and self.every_hours is not None:
            raise ValueError("give times_per_day or every_hours, not both")
        if self.times_per_day is None and self.every_hours is None and self.text is None:
            raise ValueError("give times_per_day, every_hours or text")
        return self


class ItemCreate(Input):
    medicine_name: str = Field(min_length=1, max_length=200)
    # A catalog product, when the medicine is one: pharmacies dispense it from stock.
    product_id: uuid.UUID | None = None
    # The seed calls it "dosage".
    strength: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        validation_alias=AliasChoices("strength", "dosage"),
        examples=["500 mg"],
    )
    form: MedicineForm | None = None
    frequency: Frequency
    duration_days: int | None = Field(default=None, ge=1, le=365)
    quantity: int = Field(ge=1, le=10_000)
    refills: int = Field(default=0, ge=0, le=12)
    instructions: str | None = Field(default=None, min_length=1, max_length=500)


class PrescriptionCreate(Input):
    patient_id: uuid.UUID
    consultation_id: uuid.UUID | None = None
    diagnosis: str | None = Field(default=None, min_length=1, max_length=500)
    notes: str | None = Field(default=None, min_length=1, max_length=2000)
    items: list[ItemCreate] = Field(min_length=1, max_length=MAX_ITEMS)
    # Days the prescription may be dispensed; PRESCRIPTION_VALID_DAYS when absent.
    valid_days: int | None = Field(default=None, ge=1, le=365)


class CancelRequest(Input):
    reason: str = Field(min_length=3, max_length=500)


@dataclass(frozen=True)
class PrescriptionFilters:
    status: str | None = None
    patient_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    descending: bool = True
    sort: PrescriptionSort = "created_at"


@dataclass(frozen=True)
class HistoryFilters:
    # What the totals' amount is counted in (rows of every currency are listed).
    currency: str
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# Views


class FrequencyRead(BaseModel):
    times_per_day: int | None
    every_hours: int | None
    text: str | None


class ItemRead(BaseModel):
    id: uuid.UUID
    medicine_name: str
    product_id: uuid.UUID | None
    strength: str | None
    # The seed's name for the strength.
    dosage: str | None
    form: str | None
    frequency: FrequencyRead
    duration_days: int | None
    quantity: int
    refills: int
    # quantity x (1 + refills): what may be dispensed in all.
    allowed_quantity: int
    dispensed_quantity: int
    remaining_quantity: int
    instructions: str | None


class QrCodeState(BaseModel):
    """The seed's `qrCode` block: the token's hash and how it has been used."""

    qr_hash: str
    is_used: bool
    scan_count: int
    last_scanned_at: datetime | None
    expires_at: datetime


class QrCodeRead(QrCodeState):
    """`GET /qr-codes/{id}`: the QR as images, and what it encodes."""

    prescription_id: uuid.UUID
    prescription_number: str
    reference_number: str
    qr_token: str
    verification_url: str
    # data:image/png;base64,... (ready for an <img src>), and inline SVG markup.
    image_png: str
    image_svg: str


class DispensationLineRead(BaseModel):
    prescription_item_id: uuid.UUID
    product_id: uuid.UUID | None
    quantity: int
    batch_number: str | None
    expiry_date: date | None
    # In the dispensation's `currency`.
    unit_price: Money | None


class DispensationRead(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    pharmacy_name: str | None
    outcome: str
    reason: str | None
    total_amount: Money
    # Of its amounts; null for a rejection (no money changed hands).
    currency: str | None
    created_at: datetime
    items: list[DispensationLineRead]


class PrescriptionRead(BaseModel):
    """A prescription as its doctors and its patient read it."""

    id: uuid.UUID
    prescription_number: str
    reference_number: str
    status: PrescriptionStatus
    organization_id: uuid.UUID
    organization_name: str | None
    patient_id: uuid.UUID
    patient_name: str
    doctor_id: uuid.UUID
    doctor_name: str | None
    consultation_id: uuid.UUID | None
    diagnosis: str | None
    notes: str | None
    items: list[ItemRead]
    issued_at: datetime
    expires_at: datetime
    qr_token: str
    verification_url: str
    qr_code: QrCodeState
    cancelled_at: datetime | None
    cancelled_reason: str | None
    rejected_at: datetime | None
    rejected_reason: str | None
    dispensed_at: datetime | None
    dispensations: list[DispensationRead]
    created_at: datetime
    updated_at: datetime


class PrescriptionSummary(BaseModel):
    """A prescription as an organization's admins see it in the list: who, when, what
    state, never what was prescribed or why."""

    id: uuid.UUID
    prescription_number: str
    status: PrescriptionStatus
    organization_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    doctor_id: uuid.UUID
    doctor_name: str | None
    organization_name: str
    item_count: int
    issued_at: datetime
    expires_at: datetime
    # What was prescribed and why: null for the organization's admins.
    diagnosis: str | None
    items: list[ItemRead] | None


class PatientPrescriptionSummary(PrescriptionSummary):
    """A row of the patient's own list, with QR access: what the pharmacy is shown (the
    reference number, and the QR code's content, as in the detail), without fetching each
    prescription. The image is `GET /qr-codes/{id}`'s (or drawn from `verification_url`)."""

    reference_number: str
    qr_token: str
    # What the QR code encodes: `<PUBLIC_BASE_URL>/rx/<qr_token>`.
    verification_url: str


class PatientPrescriptionsPage(BaseModel):
    """One page of the patient's `prescriptions`, and its `pagination`. Declared here:
    `kit.pagination.page_model` names a page after its key, and the organization's
    list already is `PrescriptionsPage`."""

    prescriptions: list[PatientPrescriptionSummary]
    pagination: Pagination


# The pharmacy's side


class ScanRequest(Input):
    # What the scanner read: the verification URL the QR encodes, or the bare token.
    qr_data: str = Field(min_length=1, max_length=4096)


class LookupRequest(Input):
    reference_number: str = Field(min_length=1, max_length=64, examples=["7K3M-9QA2-F4TV"])


class RejectRequest(Input):
    reason: str = Field(min_length=3, max_length=500)


class DispenseLine(Input):
    item_id: uuid.UUID
    quantity: int = Field(ge=1, le=10_000)
    # A catalog item is taken from the pharmacy's stock: from this batch, or first
    # expiry first out when none is named. Other items record what was handed out.
    batch_number: str | None = Field(default=None, min_length=1, max_length=64)
    expiry_date: Day | None = None
    # What the pharmacy charges a unit, in the request's `currency`.
    unit_price: MoneyIn | None = None


class DispenseRequest(Input):
    items: list[DispenseLine] = Field(min_length=1, max_length=MAX_ITEMS)
    # Of the unit prices (ISO 4217); the platform's DEFAULT_CURRENCY when absent.
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", examples=["USD"])


class PharmacyPrescription(BaseModel):
    """A prescription as a pharmacy that was shown it reads it (the seed's scan answer)."""

    id: uuid.UUID
    prescription_number: str
    patient_name: str
    doctor_name: str
    organization_name: str
    diagnosis: str | None
    status: PrescriptionStatus
    issued_at: datetime
    expires_at: datetime
    items: list[ItemRead]
    qr_code: QrCodeState
    validated_by_you: bool
    dispensations: list[DispensationRead]


class ScanResult(BaseModel):
    prescription: PharmacyPrescription
    is_valid: bool
    can_dispense: bool
    # Why it is not valid or cannot be dispensed, in words (null when it can).
    reason: str | None


class DispenseResult(BaseModel):
    dispensation: DispensationRead
    prescription: PharmacyPrescription
    # Things the pharmacist should know (a batch expiring before the treatment ends).
    warnings: list[str]


class HistoryEntry(BaseModel):
    id: uuid.UUID
    prescription_id: uuid.UUID
    prescription_number: str
    patient_name: str
    doctor_name: str
    organization_name: str
    outcome: str
    reason: str | None
    pharmacist_id: uuid.UUID | None
    total_amount: Money
    # Of its amounts; null for a rejection.
    currency: str | None
    created_at: datetime
    items: list[DispensationLineRead]


class HistoryTotals(BaseModel):
    count: int
    dispensed: int
    rejected: int
    # What the matching dispensations in `currency` came to: currencies are never summed
    # together (the `currency` parameter chooses; default DEFAULT_CURRENCY).
    amount: Money
    currency: str


class EmailQueued(BaseModel):
    prescription_id: uuid.UUID
    queued: bool
