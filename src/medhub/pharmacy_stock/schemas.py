from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medhub.kit.dates import Day
from medhub.kit.money import Money, MoneyIn
from medhub.models.pharmacy_stock import PharmacyMovementKind

InventorySort = Literal["name", "on_hand", "next_expiry", "updated_at"]
SortOrder = Literal["asc", "desc"]

BatchNumber = Annotated[
    str, Field(min_length=1, max_length=100, description="The lot number on the pack")
]


@dataclass(frozen=True)
class InventoryFilters:
    search: str | None = None
    low_stock: bool | None = None
    expiring_within_days: int | None = None
    sort: InventorySort = "name"
    descending: bool = False


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StockReceive(Input):
    product_id: uuid.UUID
    batch_number: BatchNumber
    # Required, but null for a product that has no expiry date.
    expiry_date: Day | None = Field(description="YYYY-MM-DD; null only if the product has none")
    quantity: int = Field(ge=1, le=1_000_000)
    unit_cost: MoneyIn | None = None
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class StockAdjust(Input):
    product_id: uuid.UUID
    batch_number: BatchNumber
    quantity: int = Field(
        ge=-1_000_000, le=1_000_000, description="Signed: negative removes, positive adds"
    )
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value


class BatchExpiryUpdate(Input):
    # Not nullable: taking a batch's date away would make expired packs dispensable.
    expiry_date: Day = Field(description="YYYY-MM-DD, as printed on the packs of this lot")
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Why a recorded date is changed (required then; not for a first date)",
    )


class ReorderPointUpdate(Input):
    reorder_point: int = Field(ge=0, le=1_000_000)


class ReorderLine(Input):
    product_id: uuid.UUID
    quantity: int = Field(ge=1, le=1_000_000)


class ReorderCreate(Input):
    items: list[ReorderLine] = Field(min_length=1)
    shipping_address_id: uuid.UUID
    notes: str | None = Field(default=None, max_length=2000)


class ReorderPlaced(Schema):
    order_id: uuid.UUID
    order_number: str


class BatchRead(Schema):
    id: uuid.UUID
    batch_number: str
    expiry_date: date | None
    expired: bool
    received_quantity: int
    remaining_quantity: int
    unit_cost: Money | None
    currency: str
    received_at: datetime
    source_order_id: uuid.UUID | None


class InventoryItem(Schema):
    product_id: uuid.UUID
    product_name: str
    manufacturer_code: str
    dosage: str
    packaging: str
    # Every batch's remaining units, expired ones included until written off.
    on_hand: int
    # What can still be dispensed today.
    available: int
    # On the shelf but past their expiry date: to write off (`on_hand - available`).
    expired_quantity: int
    reorder_point: int
    # `available` at or below the reorder point: expired units do not count.
    low_stock: bool
    next_expiry: date | None
    batches: list[BatchRead]
    updated_at: datetime


class MovementRead(Schema):
    id: uuid.UUID
    product_id: uuid.UUID
    batch_number: str
    kind: PharmacyMovementKind
    quantity: int
    quantity_after: int
    reason: str | None
    actor_id: uuid.UUID | None
    dispensation_id: uuid.UUID | None
    order_id: uuid.UUID | None
    created_at: datetime


class StockChange(Schema):
    movement: MovementRead
    item: InventoryItem


class BatchExpirySet(Schema):
    batch: BatchRead
    # What the batch's expiry was before (null: none was known).
    previous_expiry_date: date | None
    item: InventoryItem
