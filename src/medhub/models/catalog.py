"""The pharma catalog: categories, products owned by supplier organizations, their
certifications, and the log of every stock change.

Stock figures: `stock_quantity` is on hand, `reserved_quantity` is held by open
orders, and available = on hand - reserved. The CHECK constraints make an
oversell impossible at the database, whatever the code above it does.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import CITEXT, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class CertificationType(StrEnum):
    FDA = "FDA"
    WHO_GMP = "WHO-GMP"
    ISO = "ISO"
    EMA = "EMA"


class StockMovementKind(StrEnum):
    adjustment = "adjustment"
    reservation = "reservation"
    release = "release"
    fulfilment = "fulfilment"


# Weighted document for full-text search: name first, then indication, then the rest.
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(indication, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C') || "
    "setweight(to_tsvector('simple', coalesce(manufacturer_code, '')), 'A')"
)


class ProductCategory(IdMixin, TimestampMixin, Base):
    __tablename__ = "product_categories"

    slug: Mapped[str] = mapped_column(CITEXT, unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock_quantity >= 0", name="stock_not_negative"),
        CheckConstraint("reserved_quantity >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved_quantity <= stock_quantity", name="no_oversell"),
        CheckConstraint("min_order_quantity >= 1", name="min_order_positive"),
        CheckConstraint("low_stock_threshold >= 0", name="threshold_not_negative"),
        CheckConstraint("price IS NULL OR price >= 0", name="price_not_negative"),
        CheckConstraint(
            "distributor_price IS NULL OR distributor_price >= 0",
            name="distributor_price_not_negative",
        ),
        Index("ix_products_active_category_name", "is_active", "category", "name"),
        Index("ix_products_active_created", "is_active", "created_at"),
        Index("ix_products_active_price", "is_active", "price"),
        # A category's page by price comes in index order (both directions, nulls last
        # as the API sorts them): no sort of the whole category per page.
        Index(
            "ix_products_browse_price_asc",
            "category",
            text("price ASC NULLS LAST"),
            text("id ASC"),
            postgresql_where=text("is_active"),
        ),
        Index(
            "ix_products_browse_price_desc",
            "category",
            text("price DESC NULLS LAST"),
            text("id DESC"),
            postgresql_where=text("is_active"),
        ),
        Index("ix_products_search", "search_vector", postgresql_using="gin"),
        Index(
            "ix_products_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    supplier_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    category: Mapped[str] = mapped_column(
        CITEXT, ForeignKey("product_categories.slug", onupdate="CASCADE", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    dosage: Mapped[str] = mapped_column(String(100))
    packaging: Mapped[str] = mapped_column(String(255))
    indication: Mapped[str] = mapped_column(Text)
    manufacturer_code: Mapped[str] = mapped_column(CITEXT, unique=True)
    price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    distributor_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    stock_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    min_order_quantity: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when available stock crossed below the threshold and the alert went out;
    # cleared when it is back at or above it. One alert per crossing.
    low_stock_alerted: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), deferred=True
    )

    @property
    def available_quantity(self) -> int:
        return self.stock_quantity - self.reserved_quantity


class ProductCertification(IdMixin, TimestampMixin, Base):
    __tablename__ = "product_certifications"
    __table_args__ = (
        CheckConstraint(one_of("certification_type", CertificationType), name="type"),
        CheckConstraint("issue_date < expiry_date", name="issued_before_expiry"),
        Index("ix_product_certifications_expiry", "expiry_date"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    certification_type: Mapped[str] = mapped_column(String(50), index=True)
    certificate_number: Mapped[str | None] = mapped_column(String(255))
    issue_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date] = mapped_column(Date)
    certificate_url: Mapped[str | None] = mapped_column(String(500))
    # The smallest "days before expiry" notice already sent (60, 30, 7), so the
    # daily task sends each notice once, and again after a renewal resets it.
    expiry_notice_days: Mapped[int | None] = mapped_column(Integer)


class StockMovement(IdMixin, Base):
    """One change of a product's stock: who, why, by how much, and the figures after."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint(one_of("kind", StockMovementKind), name="kind"),
        Index("ix_stock_movements_product_created", "product_id", "created_at"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    # Signed change of on-hand stock (adjustment, fulfilment) or of the reservation
    # (reservation, release).
    quantity: Mapped[int] = mapped_column(Integer)
    stock_after: Mapped[int] = mapped_column(Integer)
    reserved_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
