from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medhub.kit.money import Money
from medhub.models.orders import OrderStatus


@dataclass(frozen=True)
class OrderFilters:
    status: str | None = None
    payment_status: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    user_id: uuid.UUID | None = None
    search: str | None = None


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, str_strip_whitespace=True)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrderItemCreate(Input):
    product_id: uuid.UUID
    quantity: int = Field(ge=1, le=1_000_000)


class OrderCreate(Input):
    items: list[OrderItemCreate] = Field(min_length=1)
    shipping_address_id: uuid.UUID
    # Defaults to your default billing address, else the shipping address.
    billing_address_id: uuid.UUID | None = None
    notes: str | None = Field(default=None, max_length=2000)


class OrderItemRead(Schema):
    id: uuid.UUID
    product_id: uuid.UUID | None
    product_name: str
    manufacturer_code: str
    category: str
    quantity: int
    unit_price: Money
    subtotal: Money


class OrderRead(Schema):
    id: uuid.UUID
    order_number: str
    user_id: uuid.UUID | None
    supplier_id: uuid.UUID
    status: str
    payment_status: str
    payment_provider: str
    pricing_tier: str
    total_amount: Money
    currency: str
    shipping_address_id: uuid.UUID | None
    billing_address_id: uuid.UUID | None
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any]
    notes: str | None
    tracking_number: str | None
    carrier: str | None
    cancel_reason: str | None
    expires_at: datetime | None
    confirmed_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime
    items: list[OrderItemRead]


class OrderSummary(Schema):
    id: uuid.UUID
    order_number: str
    user_id: uuid.UUID | None
    supplier_id: uuid.UUID
    status: str
    payment_status: str
    total_amount: Money
    currency: str
    item_count: int
    tracking_number: str | None
    created_at: datetime
    updated_at: datetime


StaffStatus = Literal["confirmed", "processing", "shipped", "delivered", "cancelled"]


class OrderStatusUpdate(Input):
    status: StaffStatus
    tracking_number: str | None = Field(default=None, min_length=3, max_length=100)
    carrier: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=1000, description="Shown to the buyer")


class OrderCancel(Input):
    reason: str | None = Field(default=None, max_length=255)


ORDER_STATUSES = tuple(s.value for s in OrderStatus)


class BulkLineError(Schema):
    line: int
    manufacturer_code: str | None
    message: str
