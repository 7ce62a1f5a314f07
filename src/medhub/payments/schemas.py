from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from medhub.documents.schemas import DOWNLOAD_URL
from medhub.kit.money import Money, MoneyIn
from medhub.models.orders import Invoice, Payment
from medhub.orders.schemas import OrderRead


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PaymentRead(Schema):
    id: uuid.UUID
    order_id: uuid.UUID
    provider: str = Field(description="manual (bank transfer) or stripe")
    status: str = Field(description="pending, succeeded, failed or refunded")
    amount: Money
    currency: str
    provider_reference: str | None = Field(
        description="The bank-transfer reference (manual) or the PaymentIntent id (stripe)"
    )
    failure_reason: str | None
    refund_reference: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentRead:
        return cls.model_validate(payment)


class BankTransfer(BaseModel):
    reference: str = Field(description="Quote this reference with the transfer")
    amount: Money
    currency: str
    instructions: str


class PaymentStarted(BaseModel):
    payment: PaymentRead
    client_secret: str | None = Field(
        default=None, description="Stripe: confirm the PaymentIntent with this in the browser"
    )
    bank_transfer: BankTransfer | None = Field(
        default=None, description="Manual provider: what to transfer, quoting which reference"
    )


class MarkPaid(Input):
    reference: str = Field(
        min_length=1, max_length=255, description="The bank's reference of the incoming transfer"
    )
    amount: MoneyIn = Field(description="The amount received: must equal the order's total")


class RefundCreate(Input):
    reason: str = Field(min_length=1, max_length=500)
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Manual provider: the bank reference of the refund transfer."
        " Stripe assigns its own refund id; leave this out.",
    )


class InvoiceRead(BaseModel):
    id: uuid.UUID
    invoice_number: str
    order_id: uuid.UUID
    order_number: str
    amount: Money
    currency: str
    issued_at: datetime
    document_id: uuid.UUID | None
    download_url: str | None = Field(description="The PDF, through the documents endpoint")

    @classmethod
    def of(cls, invoice: Invoice, order_number: str) -> InvoiceRead:
        return cls(
            id=invoice.id,
            invoice_number=invoice.invoice_number,
            order_id=invoice.order_id,
            order_number=order_number,
            amount=invoice.amount,
            currency=invoice.currency,
            issued_at=invoice.issued_at,
            document_id=invoice.document_id,
            download_url=(
                DOWNLOAD_URL.format(id=invoice.document_id) if invoice.document_id else None
            ),
        )


class PaymentRecorded(BaseModel):
    """The outcome of recording a payment or a refund."""

    payment: PaymentRead
    order: OrderRead
    invoice: InvoiceRead | None = None


class WebhookReceived(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="This event id was already processed: nothing changed")
    outcome: str = Field(
        description="applied; refunded (money for an order that could not take it was given"
        " back); ignored (an event type or payment we do not act on); or duplicate"
    )
