from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from medhub.kit.dates import Instant
from medhub.kit.money import Money
from medhub.models.appointments import AppointmentStatus, AppointmentType


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AppointmentCreate(Input):
    """A patient books for themself (`doctor_id`); staff book for a chart of their
    organization (`patient_id`, and `doctor_id` unless a doctor books for themself)."""

    doctor_id: uuid.UUID | None = Field(
        default=None, description="Required, except for a doctor booking for themself"
    )
    patient_id: uuid.UUID | None = Field(
        default=None, description="Staff: the chart the appointment is for (patients omit it)"
    )
    starts_at: Instant = Field(
        description="One of the doctor's free slots (GET /doctors/{id}/slots), ISO-8601",
        examples=["2027-01-11T08:00:00Z"],
    )
    type: AppointmentType = AppointmentType.in_person
    reason: str | None = Field(default=None, max_length=2000)


# Status moves by PUT; `cancelled` is also DELETE.
StatusMove = Literal["confirmed", "checked_in", "in_progress", "completed", "no_show", "cancelled"]


class AppointmentUpdate(Input):
    """Either a reschedule (`starts_at`) or a status move (`status`), not both."""

    starts_at: Instant | None = Field(
        default=None, description="Reschedule to this free slot of the same doctor"
    )
    status: StatusMove | None = None
    reason: str | None = Field(
        default=None, max_length=2000, description="Why, when cancelling (shown to the other side)"
    )


class AppointmentCancel(Input):
    reason: str | None = Field(default=None, max_length=2000)


class PaymentInstructions(BaseModel):
    """What the patient must pay for a booked consultation, and how (billing fills it)."""

    payment_id: uuid.UUID
    provider: str = Field(description="manual (bank transfer) or stripe")
    status: str = Field(description="pending, captured, failed or cancelled")
    amount: Money
    currency: str
    reference: str | None = Field(description="Quote this reference with the bank transfer")
    instructions: str | None = Field(default=None, description="Manual: what to transfer")
    client_secret: str | None = Field(
        default=None, description="Stripe: confirm the PaymentIntent with this in the browser"
    )
    expires_at: datetime | None = Field(
        description="Unpaid by then, the appointment is cancelled and its slot freed"
    )


class AppointmentRead(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str | None
    patient_id: uuid.UUID
    patient_name: str | None
    doctor_id: uuid.UUID
    doctor_name: str | None
    starts_at: datetime = Field(description="UTC")
    ends_at: datetime = Field(description="UTC")
    timezone: str = Field(description="The doctor's IANA zone, in which the time was booked")
    local_start: datetime = Field(description="The start in the doctor's zone, with its offset")
    duration_minutes: int
    type: str
    status: str
    reason: str | None
    fee: Money
    currency: str
    payment_status: str = Field(
        description="not_required, unpaid, pending (awaiting payment), held (in escrow),"
        " paid (released to the doctor) or refunded (in full)"
    )
    refund_amount: Money = Field(description="What was given back of the fee")
    payment: PaymentInstructions | None = Field(
        default=None, description="When booking (or paying) leaves a payment to make"
    )
    booked_by: uuid.UUID | None
    cancelled_at: datetime | None
    cancelled_by: uuid.UUID | None
    cancellation_reason: str | None
    cancelled_late: bool = Field(
        description="Cancelled by the patient inside APPOINTMENT_CANCEL_CUTOFF_HOURS of the start"
    )
    created_at: datetime
    updated_at: datetime


AppointmentSort = Literal["starts_at", "created_at"]


@dataclass(frozen=True)
class AppointmentFilters:
    status: AppointmentStatus | None = None
    type: AppointmentType | None = None
    doctor_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    since: datetime | None = None  # starts at or after
    before: datetime | None = None  # starts before
    sort: AppointmentSort = "starts_at"
    descending: bool = False
