from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from medhub.kit.dates import Day
from medhub.kit.money import Money, MoneyIn
from medhub.kit.schemas import not_null
from medhub.models.catalog import CertificationType

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, str_strip_whitespace=True)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Categories


class CategoryRead(Schema):
    slug: str
    name: str
    description: str | None
    is_active: bool


class CategoryCreate(Input):
    slug: str = Field(min_length=2, max_length=100, pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)


class CategoryUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    is_active: bool | None = None

    _present = not_null("name", "is_active")


# Certifications


class CertificationRead(Schema):
    id: uuid.UUID
    product_id: uuid.UUID
    type: str = Field(validation_alias="certification_type")
    certificate_number: str | None
    issue_date: date
    expiry_date: date
    certificate_url: str | None
    is_expired: bool = False


class CertificationCreate(Input):
    type: CertificationType
    certificate_number: str | None = Field(default=None, max_length=255)
    issue_date: Day
    expiry_date: Day
    certificate_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")

    # A field validator, not a model one: the error then names `expiry_date`.
    @field_validator("expiry_date")
    @classmethod
    def _issued_before_expiry(cls, value: date, info: ValidationInfo) -> date:
        issued = info.data.get("issue_date")
        if issued is not None and issued >= value:
            raise ValueError("must be after issue_date")
        return value


class CertificationUpdate(Input):
    type: CertificationType | None = None
    certificate_number: str | None = Field(default=None, max_length=255)
    issue_date: Day | None = None
    expiry_date: Day | None = None
    certificate_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")

    _present = not_null("type", "issue_date", "expiry_date")


# Products


@dataclass(frozen=True)
class ProductFilters:
    """The list's filters, from the query string to the repository's search."""

    category: str | None = None
    search: str | None = None
    supplier_id: uuid.UUID | None = None
    in_stock: bool | None = None
    min_price: Any = None
    max_price: Any = None
    # None: active only. A supplier id: also that supplier's inactive products.
    inactive_of: uuid.UUID | None = None
    all_inactive: bool = False
    sort: str = "name"
    descending: bool = False


class ProductRead(Schema):
    """A product as the caller may see it: prices and stock can be hidden from
    anonymous visitors (settings), and supplier-internal figures are shown to the
    supplier's staff only (null for everyone else)."""

    id: uuid.UUID
    supplier_id: uuid.UUID
    name: str
    category: str
    description: str
    dosage: str
    packaging: str
    indication: str
    manufacturer_code: str
    price: Money | None
    list_price: Money | None
    currency: str
    stock_quantity: int | None
    available_quantity: int | None
    in_stock: bool | None
    min_order_quantity: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
    # The supplier's staff only:
    reserved_quantity: int | None = None
    distributor_price: Money | None = None
    low_stock_threshold: int | None = None


class DocumentSummary(Schema):
    id: uuid.UUID
    document_type: str
    file_name: str
    file_size: int
    mime_type: str
    created_at: datetime
    download_url: str


class ProductDetail(ProductRead):
    certifications: list[CertificationRead]
    documents: list[DocumentSummary]


class ProductCreate(Input):
    name: str = Field(min_length=1, max_length=255)
    category: str = Field(min_length=2, max_length=100)
    description: str = Field(min_length=1, max_length=10_000)
    dosage: str = Field(min_length=1, max_length=100)
    packaging: str = Field(min_length=1, max_length=255)
    indication: str = Field(min_length=1, max_length=5_000)
    manufacturer_code: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._/-]+$")
    price: MoneyIn | None = None
    distributor_price: MoneyIn | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    stock_quantity: int = Field(default=0, ge=0, le=100_000_000)
    min_order_quantity: int = Field(default=1, ge=1, le=1_000_000)
    low_stock_threshold: int = Field(default=0, ge=0, le=100_000_000)
    is_active: bool = True
    # Super admins say which supplier; a supplier's admin always creates for their own.
    supplier_id: uuid.UUID | None = None


class ProductUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    category: str | None = Field(default=None, min_length=2, max_length=100)
    description: str | None = Field(default=None, min_length=1, max_length=10_000)
    dosage: str | None = Field(default=None, min_length=1, max_length=100)
    packaging: str | None = Field(default=None, min_length=1, max_length=255)
    indication: str | None = Field(default=None, min_length=1, max_length=5_000)
    manufacturer_code: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._/-]+$"
    )
    price: MoneyIn | None = None
    distributor_price: MoneyIn | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    min_order_quantity: int | None = Field(default=None, ge=1, le=1_000_000)
    low_stock_threshold: int | None = Field(default=None, ge=0, le=100_000_000)
    is_active: bool | None = None

    # Stock changes go through stock adjustments (logged), never a plain update.
    _present = not_null(
        "name",
        "category",
        "description",
        "dosage",
        "packaging",
        "indication",
        "manufacturer_code",
        "currency",
        "min_order_quantity",
        "low_stock_threshold",
        "is_active",
    )


ProductSort = Literal["name", "price", "created_at", "relevance"]
SortOrder = Literal["asc", "desc"]


# Stock


class StockAdjustmentCreate(Input):
    quantity: int = Field(ge=-100_000_000, le=100_000_000, description="Signed change of stock")
    reason: str = Field(min_length=3, max_length=500)

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0")
        return value


class StockMovementRead(Schema):
    id: uuid.UUID
    product_id: uuid.UUID
    kind: str
    quantity: int
    stock_after: int
    reserved_after: int
    available_after: int
    reason: str | None
    order_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    created_at: datetime


class StockLevel(Schema):
    product_id: uuid.UUID
    stock_quantity: int
    reserved_quantity: int
    available_quantity: int
    low_stock_threshold: int
