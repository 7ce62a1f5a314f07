from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
)

from medhub.kit.dates import Day, TimeZoneName
from medhub.kit.money import Money, MoneyIn

# ISO 639-1 (two-letter language codes; the withdrawn `bh` excluded).
_ISO_639_1_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy
    da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
    hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky
    la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny
    oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss
    st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo
    za zh zu
"""
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())


START_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
END_PATTERN = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"
DEFAULT_SLOT_MINUTES = 30
MAX_RANGE_DAYS = 31


def minutes(clock: str) -> int:
    """'09:30' → 570; '24:00' → 1440."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def clock(minute: int) -> str:
    """570 → '09:30'."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _language_codes(value: object) -> object:
    if not isinstance(value, list):
        return value
    codes: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{item!r} is not a language code: send strings, e.g. en, de, fr")
        code = item.strip().lower()
        if code not in ISO_639_1:
            raise ValueError(f"{item!r} is not an ISO 639-1 language code (e.g. en, de, fr)")
        if code not in codes:
            codes.append(code)
    return codes


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Rating = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
StartClock = Annotated[str, Field(pattern=START_PATTERN, description="HH:MM, local time")]
EndClock = Annotated[
    str, Field(pattern=END_PATTERN, description="HH:MM, local time (24:00: midnight)")
]
SlotMinutes = Annotated[int, Field(ge=5, le=240, description="Length of one slot in minutes")]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Profiles


class DoctorProfileWrite(Input):
    """The whole profile (PUT replaces it). Ratings come from reviews, never from here."""

    specialty: str = Field(min_length=2, max_length=100, examples=["Cardiology"])
    license_number: str = Field(min_length=1, max_length=100)
    qualifications: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20
    )
    years_of_experience: int = Field(default=0, ge=0, le=80)
    bio: str | None = Field(default=None, max_length=5000)
    languages: Annotated[
        list[str],
        BeforeValidator(_language_codes),
        Field(max_length=20, description="ISO 639-1 codes", examples=[["en", "de"]]),
    ] = Field(default_factory=list)
    consultation_fee: MoneyIn
    currency: Annotated[str, BeforeValidator(_upper), Field(pattern=r"^[A-Z]{3}$")] = Field(
        description="ISO 4217 code", examples=["EUR"]
    )
    offers_video: bool = False
    is_listed: bool = Field(default=True, description="Shown in the public directory")
    timezone: TimeZoneName


class DoctorProfileRead(Schema):
    """The doctor's own view of their profile (and their organization admin's)."""

    id: uuid.UUID
    organization_id: uuid.UUID | None
    specialty: str
    license_number: str
    qualifications: list[str]
    years_of_experience: int
    bio: str | None
    languages: list[str]
    consultation_fee: Money
    currency: str
    offers_video: bool
    is_listed: bool
    rating_average: Rating | None
    rating_count: int
    timezone: str
    is_approved: bool
    in_directory: bool = Field(
        description="Whether the public directory shows the doctor now: listed, approved, "
        "and in an active hospital or clinic"
    )
    created_at: datetime
    updated_at: datetime


class PublicDoctor(Schema):
    """A doctor as anyone may see them: never email, phone or licence number."""

    id: uuid.UUID
    full_name: str
    organization_id: uuid.UUID
    organization_name: str
    specialty: str
    qualifications: list[str]
    years_of_experience: int
    bio: str | None
    languages: list[str]
    consultation_fee: Money
    currency: str
    offers_video: bool
    rating_average: Rating | None
    rating_count: int
    timezone: str


DoctorSort = Literal["rating", "fee", "experience", "name"]
SortOrder = Literal["asc", "desc"]


@dataclass(frozen=True)
class DirectoryFilters:
    specialty: str | None = None
    search: str | None = None
    language: str | None = None
    video: bool | None = None
    max_fee: Decimal | None = None
    available_on: date | None = None
    sort: DoctorSort = "name"
    descending: bool = False


# Availability


class RuleWrite(Input):
    weekday: int = Field(ge=1, le=7, description="ISO weekday: 1 = Monday ... 7 = Sunday")
    start: StartClock
    end: EndClock
    slot_minutes: SlotMinutes

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: str, info: ValidationInfo) -> str:
        start = info.data.get("start")
        if start is not None and minutes(value) <= minutes(start):
            raise ValueError("must be later than start")
        return value

    @field_validator("slot_minutes")
    @classmethod
    def _fits(cls, value: int, info: ValidationInfo) -> int:
        start, end = info.data.get("start"), info.data.get("end")
        if start is not None and end is not None and minutes(end) - minutes(start) < value:
            raise ValueError("longer than the time from start to end")
        return value


def _required_when_available(value: Any, info: ValidationInfo) -> Any:
    available = info.data.get("available")
    if available is True and value is None and info.field_name != "slot_minutes":
        raise ValueError("required when available is true")
    if available is False and value is not None:
        raise ValueError("must be left out when available is false (the whole day is off)")
    return value


class ExceptionWrite(Input):
    """A date off (`available: false`), or the hours worked that date instead of the
    weekly rules (`available: true` with `start` and `end`; `slot_minutes` defaults to
    that weekday's rule's, else the first rule's, else 30)."""

    date: Day
    available: bool
    start: StartClock | None = Field(default=None, validate_default=True)
    end: EndClock | None = Field(default=None, validate_default=True)
    slot_minutes: SlotMinutes | None = Field(default=None, validate_default=True)

    @field_validator("start")
    @classmethod
    def _start(cls, value: str | None, info: ValidationInfo) -> str | None:
        result: str | None = _required_when_available(value, info)
        return result

    @field_validator("end")
    @classmethod
    def _end(cls, value: str | None, info: ValidationInfo) -> str | None:
        _required_when_available(value, info)
        start = info.data.get("start")
        if value is not None and start is not None and minutes(value) <= minutes(start):
            raise ValueError("must be later than start")
        return value

    @field_validator("slot_minutes")
    @classmethod
    def _slot(cls, value: int | None, info: ValidationInfo) -> int | None:
        _required_when_available(value, info)
        start, end = info.data.get("start"), info.data.get("end")
        if value is not None and start and end and minutes(end) - minutes(start) < value:
            raise ValueError("longer than the time from start to end")
        return value


class AvailabilityWrite(Input):
    """The whole availability: PUT replaces every rule and exception at once."""

    timezone: TimeZoneName
    rules: list[RuleWrite] = Field(max_length=100)
    exceptions: list[ExceptionWrite] = Field(default_factory=list, max_length=400)

    @field_validator("rules")
    @classmethod
    def _no_overlaps(cls, rules: list[RuleWrite]) -> list[RuleWrite]:
        ordered = sorted(enumerate(rules), key=lambda r: (r[1].weekday, minutes(r[1].start)))
        for (i, earlier), (j, later) in itertools.pairwise(ordered):
            if earlier.weekday == later.weekday and minutes(later.start) < minutes(earlier.end):
                first, second = sorted((i, j))
                raise ValueError(f"rules {first} and {second} overlap on weekday {later.weekday}")
        return rules

    @field_validator("exceptions")
    @classmethod
    def _unique_dates(cls, exceptions: list[ExceptionWrite]) -> list[ExceptionWrite]:
        seen: set[date] = set()
        for exception in exceptions:
            if exception.date in seen:
                raise ValueError(f"{exception.date.isoformat()} appears more than once")
            seen.add(exception.date)
        return exceptions


class RuleRead(BaseModel):
    weekday: int
    start: str
    end: str
    slot_minutes: int


class ExceptionRead(BaseModel):
    date: dt.date
    available: bool
    start: str | None
    end: str | None
    slot_minutes: int | None


class AvailabilityRead(BaseModel):
    doctor_id: uuid.UUID
    timezone: str
    rules: list[RuleRead]
    exceptions: list[ExceptionRead]


# Slots


class SlotRead(BaseModel):
    starts_at: datetime = Field(description="UTC")
    ends_at: datetime = Field(description="UTC")
    local_start: datetime = Field(
        description="The start in the doctor's zone, with its offset",
        examples=["2026-03-29T09:00:00+02:00"],
    )


class SlotsRead(BaseModel):
    """The free slots of `from`..`to` (dates in the doctor's zone, inclusive)."""

    model_config = ConfigDict(populate_by_name=True)

    doctor_id: uuid.UUID
    timezone: str = Field(description="The doctor's IANA time zone")
    from_: date = Field(alias="from")
    to: date
    slots: list[SlotRead]
