"""Request and response shapes of charts, claims and the patient's own profile."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
)

from medhub.field_crypto import normalise_identifier, normalise_phone
from medhub.kit.dates import Day, TimeZoneName
from medhub.kit.schemas import not_null
from medhub.models.patients import BloodType, Sex

# E.164 allows at most 15 digits; fewer than 6 is no reachable number anywhere.
PHONE_MIN_DIGITS = 6
PHONE_MAX_DIGITS = 15
_PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ()./-]+$")
# The latest calendar date anywhere on earth (UTC+14): a child born "today" in Kiribati
# is not in the future.
_EARLIEST_OFFSET = timedelta(hours=14)
MAX_LIST_ITEMS = 50

PatientSort = Literal["last_name", "first_name", "mrn", "date_of_birth", "created_at"]
SortOrder = Literal["asc", "desc"]


def _plausible_phone(value: str) -> str:
    if not _PHONE_CHARACTERS.fullmatch(value):
        raise ValueError("may hold digits, spaces, '+', '-', '.', '/' and parentheses only")
    digits = len(normalise_phone(value).lstrip("+"))
    if not PHONE_MIN_DIGITS <= digits <= PHONE_MAX_DIGITS:
        raise ValueError(
            f"must have {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits (international format)"
        )
    return value


def _has_letters_or_digits(value: str) -> str:
    if not normalise_identifier(value):
        raise ValueError("must contain letters or digits")
    return value


def _not_in_future(value: date) -> date:
    if value > (datetime.now(UTC) + _EARLIEST_OFFSET).date():
        raise ValueError("must not be in the future")
    return value


Phone = Annotated[
    str,
    Field(min_length=PHONE_MIN_DIGITS, max_length=32, examples=["+49 30 1234567"]),
    AfterValidator(_plausible_phone),
]
Identifier = Annotated[
    str, Field(min_length=1, max_length=64), AfterValidator(_has_letters_or_digits)
]
BirthDate = Annotated[Day, AfterValidator(_not_in_future)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
ListEntry = Annotated[str, Field(min_length=1, max_length=200)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def written(self) -> dict[str, Any]:
        """The fields the client sent, as column values; a nested object whole (an
        address keeps every key, null where not given), so stored shapes never vary."""
        values: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            values[name] = value.model_dump() if isinstance(value, BaseModel) else value
        return values


class Address(Input):
    line1: str | None = Field(default=None, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=100)


class EmergencyContact(Input):
    name: Name
    relationship: str | None = Field(default=None, max_length=50)
    phone: Phone | None = None


class _ChartFields(Input):
    email: EmailStr | None = Field(
        default=None,
        description="Contact address; a verified patient account with it is linked, "
        "else an invitation to claim the chart is sent to it",
    )
    phone: Phone | None = None
    national_id: Identifier | None = None
    insurance_number: Identifier | None = None
    address: Address | None = None
    emergency_contact: EmergencyContact | None = None
    blood_type: BloodType | None = None
    # Clinical: written by the organization's doctors only.
    allergies: list[ListEntry] | None = Field(default=None, max_length=MAX_LIST_ITEMS)
    chronic_conditions: list[ListEntry] | None = Field(default=None, max_length=MAX_LIST_ITEMS)


class PatientCreate(_ChartFields):
    first_name: Name
    last_name: Name
    date_of_birth: BirthDate
    sex: Sex = Sex.unknown


class PatientUpdate(_ChartFields):
    """Only the fields sent change; contact and id fields may be sent as null to clear
    them, the names, date of birth and sex may not."""

    first_name: Name | None = None
    last_name: Name | None = None
    date_of_birth: BirthDate | None = None
    sex: Sex | None = None

    _present = not_null("first_name", "last_name", "date_of_birth", "sex")


CLINICAL_FIELDS = frozenset({"allergies", "chronic_conditions"})


class PatientSummary(BaseModel):
    """One chart in a list: who it is and how to reach them."""

    id: uuid.UUID
    organization_id: uuid.UUID
    mrn: str
    first_name: str
    last_name: str
    date_of_birth: date
    sex: Sex
    email: str | None
    phone: str | None
    linked: bool = Field(description="The chart is linked to the person's patient account")
    created_at: datetime
    deleted_at: datetime | None


class PatientRead(PatientSummary):
    """The whole chart. `allergies` and `chronic_conditions` are clinical: they are
    present for the organization's doctors only."""

    user_id: uuid.UUID | None
    national_id: str | None
    insurance_number: str | None
    address: dict[str, Any] | None
    emergency_contact: dict[str, Any] | None
    blood_type: BloodType | None
    allergies: list[str] | None = None
    chronic_conditions: list[str] | None = None
    updated_at: datetime


@dataclass(frozen=True)
class PatientFilters:
    search: str | None = None
    phone: str | None = None
    national_id: str | None = None
    date_of_birth: date | None = None
    include_deleted: bool = False
    sort: PatientSort = "last_name"
    descending: bool = False


# Claims


class ClaimRequest(Input):
    token: str = Field(min_length=16, max_length=200)


class ChartLink(BaseModel):
    """A chart that holds the patient's data, as the patient sees it."""

    patient_id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    mrn: str


# The patient's own profile


class PatientProfileRead(BaseModel):
    date_of_birth: date | None
    sex: Sex | None
    timezone: str
    phone: str | None
    emergency_contact: dict[str, Any] | None
    allergies: list[str] | None
    charts: list[ChartLink] = Field(
        description="The organizations holding a chart linked to this account"
    )
    updated_at: datetime | None


class PatientProfileUpdate(Input):
    """Only the fields sent change; all but `timezone` may be sent as null to clear them."""

    date_of_birth: BirthDate | None = None
    sex: Sex | None = None
    timezone: TimeZoneName | None = None
    phone: Phone | None = None
    emergency_contact: EmergencyContact | None = None
    allergies: list[ListEntry] | None = Field(default=None, max_length=MAX_LIST_ITEMS)

    _present = not_null("timezone")
