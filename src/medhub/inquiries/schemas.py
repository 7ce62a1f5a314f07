from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from medhub.models.inquiries import InquiryMessageKind, InquiryPriority, InquiryStatus
from medhub.users.schemas import PHONE_PATTERN

SUBJECT_MAX_LENGTH = 500
MESSAGE_MAX_LENGTH = 10_000


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InquiryCreate(Body):
    """The seed's inquiry body, plus the product it is about and a priority."""

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Required when not signed in; defaults to your account's name",
    )
    email: EmailStr | None = Field(
        default=None,
        max_length=255,
        description="Required when not signed in; defaults to your account's email",
    )
    company: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    subject: str = Field(min_length=1, max_length=SUBJECT_MAX_LENGTH)
    message: str = Field(min_length=1, max_length=MESSAGE_MAX_LENGTH)
    product_id: uuid.UUID | None = Field(
        default=None,
        description="An active product: the inquiry goes to its supplier "
        "(without one, to the default supplier)",
    )
    priority: InquiryPriority = Field(
        default=InquiryPriority.normal,
        description="low, normal or high; `urgent` is for supplier staff triaging on "
        "a customer's behalf",
    )


class InquirySubmitted(BaseModel):
    inquiry_id: uuid.UUID
    reference_number: str


class StatusUpdate(Body):
    status: InquiryStatus = Field(
        description="pending → in_progress → resolved → closed; resolved → in_progress reopens"
    )
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=MESSAGE_MAX_LENGTH,
        description="Kept as an internal note (never shown to the requester)",
    )


class Assignment(Body):
    assigned_to: uuid.UUID = Field(description="An active admin or sales user of the supplier")


class MessageCreate(Body):
    body: str = Field(min_length=1, max_length=MESSAGE_MAX_LENGTH)
    kind: InquiryMessageKind = Field(
        default=InquiryMessageKind.response,
        description="`response` is emailed to the requester; `note` is internal (staff only). "
        "Requesters always add responses",
    )


class Conversion(Body):
    order_id: uuid.UUID = Field(description="An order of the same supplier (and requester)")


class InquiryMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    author_id: uuid.UUID | None
    kind: str
    body: str
    created_at: datetime
    from_requester: bool = Field(description="Written by the inquiry's requester, not staff")


class InquirySummary(BaseModel):
    """An inquiry as listed (without its message text)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    reference_number: str
    supplier_id: uuid.UUID
    user_id: uuid.UUID | None
    product_id: uuid.UUID | None
    name: str
    email: str
    company: str | None
    phone: str | None
    subject: str
    status: str
    priority: str
    assigned_to: uuid.UUID | None
    order_id: uuid.UUID | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class InquiryRead(InquirySummary):
    message: str


class InquiryDetail(InquiryRead):
    messages: list[InquiryMessageRead] = Field(
        description="Oldest first; internal notes only for the supplier's staff"
    )
