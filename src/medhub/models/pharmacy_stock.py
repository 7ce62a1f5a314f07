"""A pharmacy's own stock of catalog products (DESIGN.md, "Clinical model": Pharmacy
stock), kept in batches with expiry and taken first-expiry-first-out.

Any organization holding pharmacists (a pharmacy, a hospital, a clinic) has one
`pharmacy_stock` row per product it keeps: its reorder point, its on-hand total (the
sum of its batches' remaining quantities, changed in the same transaction as they
are) and whether the low-stock alert went out. Every change of a batch is a
movement. A reorder links a MedPharm order to the pharmacy that placed it, so that
the order's delivery stocks it exactly once (`received_at`).

All four tables are their organization's, under row-level security (migration 0020).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class PharmacyMovementKind(StrEnum):
    # A delivery counted in by the pharmacy's staff.
    received = "received"
    # A counted correction or a write-off (breakage, expiry), signed.
    adjusted = "adjusted"
    # Handed out against a prescription.
    dispensed = "dispensed"
    # A line of the pharmacy's reorder, delivered by the supplier.
    restocked = "restocked"


class PharmacyStock(IdMixin, TimestampMixin, Base):
    """One product as one organization keeps it. Every change of its batches locks this
    row first: that is the fixed lock order that serialises takes of one product."""

    __tablename__ = "pharmacy_stock"
    __table_args__ = (
        UniqueConstraint("organization_id", "product_id", name="uq_pharmacy_stock_product"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reorder_point >= 0", name="reorder_point_not_negative"),
        Index("ix_pharmacy_stock_product_id", "product_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    reorder_point: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The sum of the batches' remaining quantities, expired ones included until they
    # are written off.
    on_hand: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when on-hand fell to the reorder point or below and the alert went out;
    # cleared when it rises above it again. One alert per crossing.
    low_stock_alerted: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )


class PharmacyBatch(IdMixin, TimestampMixin, Base):
    """A lot of one product in one organization's stock."""

    __tablename__ = "pharmacy_batches"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "product_id", "batch_number", name="uq_pharmacy_batches_number"
        ),
        CheckConstraint("remaining_quantity >= 0", name="remaining_not_negative"),
        CheckConstraint("received_quantity > 0", name="received_positive"),
        CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        # First-expiry-first-out walks this index.
        Index(
            "ix_pharmacy_batches_fefo",
            "organization_id",
            "product_id",
            "expiry_date",
            postgresql_where=text("remaining_quantity > 0"),
        ),
        Index(
            "ix_pharmacy_batches_expiry",
            "organization_id",
            "expiry_date",
            postgresql_where=text("remaining_quantity > 0"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    batch_number: Mapped[str] = mapped_column(String(100))
    # NULL: no expiry known (a product that has none, or a delivered reorder line whose
    # lot expiry the order does not carry).
    expiry_date: Mapped[date | None] = mapped_column(Date)
    received_quantity: Mapped[int] = mapped_column(Integer)
    remaining_quantity: Mapped[int] = mapped_column(Integer)
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    source_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL")
    )


class PharmacyStockMovement(IdMixin, Base):
    """One change of one batch: who, why, by how much, and the product's on-hand after."""

    __tablename__ = "pharmacy_stock_movements"
    __table_args__ = (
        CheckConstraint(one_of("kind", PharmacyMovementKind), name="kind"),
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        Index(
            "ix_pharmacy_stock_movements_product_created",
            "organization_id",
            "product_id",
            "created_at",
        ),
        Index("ix_pharmacy_stock_movements_dispensation_id", "dispensation_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    batch_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pharmacy_batches.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    # Signed change of the batch's remaining quantity.
    quantity: Mapped[int] = mapped_column(Integer)
    # The product's on-hand total (all batches) after this change.
    quantity_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The dispensing domain's row; no foreign key, so that this table does not depend
    # on that domain's schema (and a take can be logged before its dispensation row).
    dispensation_id: Mapped[uuid.UUID | None]
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PharmacyReorder(IdMixin, Base):
    """A MedPharm order placed to restock a pharmacy; `received_at` is set, once, by the
    conditional update that stocks its delivery."""

    __tablename__ = "pharmacy_reorders"
    __table_args__ = (
        Index("ix_pharmacy_reorders_organization_created", "organization_id", "created_at"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    ordered_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    received_at: Mapped[datetime | None]
