"""Requests and responses of the billing routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from medhub.appointments.schemas import AppointmentRead, PaymentInstructions
from medhub.kit.dates import DayRange
from medhub.kit.money import Money, MoneyIn
from medhub.models.billing import (
    AppointmentDispute,
    AppointmentPayment,
    DisputeResolution,
    LedgerAccount,
    LedgerEntry,
)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AppointmentPaymentRead(BaseModel):
    id: uuid.UUID
    appointment_id: uuid.UUID
    provider: str
    status: str = Field(description="pending, captured, failed or cancelled")
    amount: Money
    currency: str
    provider_reference: str | None
    expires_at: datetime | None
    captured_at: datetime | None
    refunded_amount: Money
    refund_reference: str | None
    released_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, payment: AppointmentPayment) -> AppointmentPaymentRead:
        return cls(
            id=payment.id,
            appointment_id=payment.appointment_id,
            provider=payment.provider,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            provider_reference=payment.provider_reference,
            expires_at=payment.expires_at,
            captured_at=payment.captured_at,
            refunded_amount=payment.refunded_amount,
            refund_reference=payment.refund_reference,
            released_at=payment.released_at,
            created_at=payment.created_at,
        )


class AppointmentPaymentStarted(BaseModel):
    appointment: AppointmentRead
    payment: PaymentInstructions


class MarkAppointmentPaid(Input):
    reference: str = Field(
        min_length=1, max_length=255, description="The bank's reference of the incoming transfer"
    )
    amount: MoneyIn = Field(description="The amount received: must equal the appointment's fee")


class AppointmentPaymentRecorded(BaseModel):
    appointment: AppointmentRead
    payment: AppointmentPaymentRead


class DisputeCreate(Input):
    reason: str = Field(min_length=1, max_length=2000)


class DisputeResolve(Input):
    resolution: DisputeResolution
    amount: MoneyIn | None = Field(
        default=None,
        description="partial_refund only: what is given back (above 0, below what is held)",
    )

    @model_validator(mode="after")
    def _amount_for_partial(self) -> DisputeResolve:
        if self.resolution == DisputeResolution.partial_refund and self.amount is None:
            raise ValueError("amount is required for a partial_refund")
        if self.resolution != DisputeResolution.partial_refund and self.amount is not None:
            raise ValueError("amount is only sent with a partial_refund")
        return self


class DisputeRead(BaseModel):
    id: uuid.UUID
    appointment_id: uuid.UUID
    status: str = Field(description="open or resolved")
    reason: str
    resolution: str | None
    refund_amount: Money | None
    opened_by: uuid.UUID | None
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, dispute: AppointmentDispute) -> DisputeRead:
        return cls(
            id=dispute.id,
            appointment_id=dispute.appointment_id,
            status=dispute.status,
            reason=dispute.reason,
            resolution=dispute.resolution,
            refund_amount=dispute.refund_amount,
            opened_by=dispute.opened_by,
            resolved_by=dispute.resolved_by,
            resolved_at=dispute.resolved_at,
            created_at=dispute.created_at,
        )


class DisputeOutcome(BaseModel):
    dispute: DisputeRead
    appointment: AppointmentRead


class LedgerEntryRead(BaseModel):
    id: uuid.UUID
    group_id: uuid.UUID
    organization_id: uuid.UUID
    appointment_id: uuid.UUID | None
    doctor_id: uuid.UUID | None
    account: str
    amount: Money = Field(description="Signed: negative legs move money out of the account")
    currency: str
    kind: str = Field(description="capture, release or refund")
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntry) -> LedgerEntryRead:
        return cls(
            id=entry.id,
            group_id=entry.group_id,
            organization_id=entry.organization_id,
            appointment_id=entry.appointment_id,
            doctor_id=entry.doctor_id,
            account=entry.account,
            amount=entry.amount,
            currency=entry.currency,
            kind=entry.kind,
            created_at=entry.created_at,
        )


class AccountBalance(BaseModel):
    account: str
    currency: str
    balance: Money


class LedgerBalances(BaseModel):
    """The balance of each account (and currency) over the whole filter, not the page:
    beside the page's entries, as a list's totals are (one array of items per page)."""

    accounts: list[AccountBalance]


@dataclass(frozen=True)
class LedgerFilters:
    days: DayRange
    account: LedgerAccount | None = None
    appointment_id: uuid.UUID | None = None


class Earnings(BaseModel):
    currency: str
    held: Money = Field(description="In escrow for the doctor's consultations")
    releasable: Money = Field(description="Released to the doctor and not yet paid out")
    released: Money = Field(description="Released to the doctor in the period")
    paid_out: Money = Field(description="Paid out to the doctor in the period")


class EarningsRead(BaseModel):
    period_from: str | None
    period_to: str | None
    earnings: list[Earnings]


@dataclass(frozen=True)
class Leg:
    """One line of a money movement about to be posted."""

    account: LedgerAccount
    amount: Decimal


Resolution = Literal["release", "refund", "partial_refund"]
