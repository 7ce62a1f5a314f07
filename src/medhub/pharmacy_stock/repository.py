"""Pharmacy stock queries. Every statement names the organization explicitly; row-level
security (migration 0020) says the same again.

Changes are single UPDATEs with RETURNING, made while the product's stock row is
locked (`lock_stock`): the figures read back are the ones written, and the guards in
the WHERE clauses make a negative quantity impossible even if a caller forgot a lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.base import new_id
from medhub.models.catalog import Product
from medhub.models.pharmacy_stock import (
    PharmacyBatch,
    PharmacyReorder,
    PharmacyStock,
    PharmacyStockMovement,
)
from medhub.pharmacy_stock.schemas import InventoryFilters

# The tenant settings row-level security reads (kit/tenancy.py), as they are now.
_CURRENT_TENANT = text(
    "SELECT current_setting('app.user_id', true) AS user_id,"
    " current_setting('app.org_id', true) AS org_id,"
    " current_setting('app.role', true) AS role,"
    " current_setting('app.system', true) AS system"
)
_SET_TENANT = text(
    "SELECT set_config('app.user_id', :user_id, true), set_config('app.org_id', :org_id, true),"
    " set_config('app.role', :role, true), set_config('app.system', :system, true)"
)
_CLAIM_DELIVERED_REORDER = text("SELECT claim_delivered_reorder(:order_id)")


def usable_on(on: date) -> Any:
    """Batches that may still be handed out on `on`: a batch expires on its expiry date."""
    return or_(PharmacyBatch.expiry_date.is_(None), PharmacyBatch.expiry_date > on)


def usable_units(on: date) -> Any:
    """A stock row's units that may still be handed out on `on` (its unexpired batches'),
    as a scalar subquery correlated to `PharmacyStock`: what the low-stock rule counts."""
    return (
        select(func.coalesce(func.sum(PharmacyBatch.remaining_quantity), 0))
        .where(
            PharmacyBatch.organization_id == PharmacyStock.organization_id,
            PharmacyBatch.product_id == PharmacyStock.product_id,
            PharmacyBatch.remaining_quantity > 0,
            usable_on(on),
        )
        .correlate(PharmacyStock)
        .scalar_subquery()
    )


def is_low(on: date) -> Any:
    """At or below the reorder point in units that can still be dispensed: expired packs
    on the shelf do not keep a product off the low-stock list."""
    return usable_units(on) <= PharmacyStock.reorder_point


# The inventory list's rows: the stock row, the product's name, code, dosage and
# packaging, and the next expiry date among its batches with units left.
InventoryStatement = Select[PharmacyStock, str, str, str, str, date | None]
# A movement and its batch's number.
MovementStatement = Select[PharmacyStockMovement, str]


@dataclass(frozen=True)
class InventoryRow:
    stock: PharmacyStock
    product_name: str
    manufacturer_code: str
    dosage: str
    packaging: str
    next_expiry: date | None


class StockRepository(Repository[PharmacyStock]):
    model = PharmacyStock

    async def lock_stock(
        self, organization_id: uuid.UUID, product_id: uuid.UUID
    ) -> PharmacyStock | None:
        """The product's stock row, locked for this transaction, if the product is stocked.

        Every change of the product's batches takes this lock first, so changes of one
        product take turns and there is one lock order: stock row, then its batches.
        """
        statement = (
            select(PharmacyStock)
            .where(
                PharmacyStock.organization_id == organization_id,
                PharmacyStock.product_id == product_id,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def lock_or_create_stock(
        self, organization_id: uuid.UUID, product_id: uuid.UUID
    ) -> PharmacyStock:
        """`lock_stock`, creating the row first when the product is new to this stock (a
        concurrent creator's row is waited for and then locked, never duplicated)."""
        await self.session.execute(
            insert(PharmacyStock)
            .values(id=new_id(), organization_id=organization_id, product_id=product_id)
            .on_conflict_do_nothing(constraint="uq_pharmacy_stock_product")
        )
        stock = await self.lock_stock(organization_id, product_id)
        if stock is None:
            raise LookupError("a stock row was written that this context cannot read")
        return stock

    async def find_stock(
        self, organization_id: uuid.UUID, product_id: uuid.UUID
    ) -> PharmacyStock | None:
        statement = (
            select(PharmacyStock)
            .where(
                PharmacyStock.organization_id == organization_id,
                PharmacyStock.product_id == product_id,
            )
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def change_on_hand(self, stock_id: uuid.UUID, delta: int) -> int:
        statement = (
            update(PharmacyStock)
            .where(PharmacyStock.id == stock_id, PharmacyStock.on_hand + delta >= 0)
            .values(on_hand=PharmacyStock.on_hand + delta, updated_at=func.now())
            .returning(PharmacyStock.on_hand)
            .execution_options(synchronize_session=False)
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def set_reorder_point(self, stock_id: uuid.UUID, reorder_point: int) -> None:
        await self.session.execute(
            update(PharmacyStock)
            .where(PharmacyStock.id == stock_id)
            .values(reorder_point=reorder_point, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )

    async def track_low_stock(self, stock_id: uuid.UUID, on: date) -> bool:
        """Flip the low-stock marker when the usable units (`is_low`) crossed the reorder
        point; True when they just fell to it or below (the moment to alert, once per
        crossing)."""
        low = is_low(on)
        statement = (
            update(PharmacyStock)
            .where(PharmacyStock.id == stock_id, PharmacyStock.low_stock_alerted != low)
            .values(low_stock_alerted=low)
            .returning(PharmacyStock.low_stock_alerted)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is True

    async def stale_low_stock_markers(self, on: date) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        """(organization, product) of the stock rows whose low-stock marker no longer says
        what `is_low` says on `on`: batches that expired since the last change of the
        product (every change re-evaluates the marker at once). Across organizations:
        the caller runs in the system context."""
        statement = (
            select(PharmacyStock.organization_id, PharmacyStock.product_id)
            .where(PharmacyStock.low_stock_alerted != is_low(on))
            .order_by(PharmacyStock.product_id)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(statement)).all()]

    # Batches

    async def batch_by_id(
        self, organization_id: uuid.UUID, batch_id: uuid.UUID
    ) -> PharmacyBatch | None:
        statement = (
            select(PharmacyBatch)
            .where(PharmacyBatch.organization_id == organization_id, PharmacyBatch.id == batch_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def set_batch_expiry(self, batch_id: uuid.UUID, expiry_date: date) -> None:
        await self.session.execute(
            update(PharmacyBatch)
            .where(PharmacyBatch.id == batch_id)
            .values(expiry_date=expiry_date, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )

    async def batch(
        self,
        organization_id: uuid.UUID,
        product_id: uuid.UUID,
        batch_number: str,
    ) -> PharmacyBatch | None:
        statement = (
            select(PharmacyBatch)
            .where(
                PharmacyBatch.organization_id == organization_id,
                PharmacyBatch.product_id == product_id,
                PharmacyBatch.batch_number == batch_number,
            )
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def usable_batches(
        self, organization_id: uuid.UUID, product_id: uuid.UUID, on: date
    ) -> Sequence[PharmacyBatch]:
        """Batches with units left that have not expired on `on`, first to expire first
        (no expiry last; then oldest received)."""
        statement = (
            select(PharmacyBatch)
            .where(
                PharmacyBatch.organization_id == organization_id,
                PharmacyBatch.product_id == product_id,
                PharmacyBatch.remaining_quantity > 0,
                usable_on(on),
            )
            .order_by(
                PharmacyBatch.expiry_date.asc().nulls_last(),
                PharmacyBatch.received_at,
                PharmacyBatch.id,
            )
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def usable_quantity(
        self, organization_id: uuid.UUID, product_id: uuid.UUID, on: date
    ) -> int:
        statement = select(func.coalesce(func.sum(PharmacyBatch.remaining_quantity), 0)).where(
            PharmacyBatch.organization_id == organization_id,
            PharmacyBatch.product_id == product_id,
            usable_on(on),
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def change_batch(self, batch_id: uuid.UUID, delta: int, *, received: bool) -> int | None:
        """Add `delta` (signed) to a batch's remaining units, and to its received total
        for a delivery; None when that would go below zero."""
        values: dict[str, Any] = {
            "remaining_quantity": PharmacyBatch.remaining_quantity + delta,
            "updated_at": func.now(),
        }
        if received:
            values["received_quantity"] = PharmacyBatch.received_quantity + delta
        statement = (
            update(PharmacyBatch)
            .where(PharmacyBatch.id == batch_id, PharmacyBatch.remaining_quantity + delta >= 0)
            .values(**values)
            .returning(PharmacyBatch.remaining_quantity)
            .execution_options(synchronize_session=False)
        )
        remaining = (await self.session.execute(statement)).scalar_one_or_none()
        return int(remaining) if remaining is not None else None

    async def batches_of(
        self, organization_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[PharmacyBatch]]:
        """The batches with units left of these products, first to expire first."""
        found: dict[uuid.UUID, list[PharmacyBatch]] = {product_id: [] for product_id in product_ids}
        if not product_ids:
            return found
        statement = (
            select(PharmacyBatch)
            .where(
                PharmacyBatch.organization_id == organization_id,
                PharmacyBatch.product_id.in_(product_ids),
                PharmacyBatch.remaining_quantity > 0,
            )
            .order_by(
                PharmacyBatch.expiry_date.asc().nulls_last(),
                PharmacyBatch.received_at,
                PharmacyBatch.id,
            )
            .execution_options(populate_existing=True)
        )
        for batch in (await self.session.execute(statement)).scalars():
            found[batch.product_id].append(batch)
        return found

    async def _count(self, statement: Select[*tuple[Any, ...]]) -> int:
        counted = select(func.count()).select_from(statement.order_by(None).subquery())
        return int((await self.session.execute(counted)).scalar_one())

    # The inventory list

    def inventory_statement(
        self, organization_id: uuid.UUID, filters: InventoryFilters, today: date
    ) -> InventoryStatement:
        next_expiry = (
            select(func.min(PharmacyBatch.expiry_date))
            .where(
                PharmacyBatch.organization_id == PharmacyStock.organization_id,
                PharmacyBatch.product_id == PharmacyStock.product_id,
                PharmacyBatch.remaining_quantity > 0,
            )
            .correlate(PharmacyStock)
            .scalar_subquery()
            .label("next_expiry")
        )
        statement = (
            select(
                PharmacyStock,
                Product.name,
                Product.manufacturer_code,
                Product.dosage,
                Product.packaging,
                next_expiry,
            )
            .join(Product, Product.id == PharmacyStock.product_id)
            .where(PharmacyStock.organization_id == organization_id)
        )
        if filters.search:
            statement = statement.where(Product.name.icontains(filters.search, autoescape=True))
        if filters.low_stock is not None:
            low = is_low(today)
            statement = statement.where(low if filters.low_stock else ~low)
        if filters.expiring_within_days is not None:
            horizon = date.fromordinal(today.toordinal() + filters.expiring_within_days)
            statement = statement.where(
                select(PharmacyBatch.id)
                .where(
                    PharmacyBatch.organization_id == PharmacyStock.organization_id,
                    PharmacyBatch.product_id == PharmacyStock.product_id,
                    PharmacyBatch.remaining_quantity > 0,
                    PharmacyBatch.expiry_date <= horizon,
                )
                .correlate(PharmacyStock)
                .exists()
            )
        sort_column: Any = {
            "name": Product.name,
            "on_hand": PharmacyStock.on_hand,
            "next_expiry": next_expiry,
            "updated_at": PharmacyStock.updated_at,
        }[filters.sort]
        ordered = sort_column.desc() if filters.descending else sort_column.asc()
        tie = PharmacyStock.id.desc() if filters.descending else PharmacyStock.id.asc()
        return statement.order_by(ordered.nulls_last(), tie)

    async def inventory_page(
        self, statement: InventoryStatement, params: PageParams
    ) -> tuple[list[InventoryRow], int]:
        total = await self._count(statement)
        if total == 0:
            return [], 0
        page = (
            statement.limit(params.limit)
            .offset(params.offset)
            .execution_options(populate_existing=True)
        )
        rows = (await self.session.execute(page)).all()
        return [InventoryRow(*row) for row in rows], total

    async def inventory_row(
        self, organization_id: uuid.UUID, product_id: uuid.UUID, today: date
    ) -> InventoryRow | None:
        statement = self.inventory_statement(organization_id, InventoryFilters(), today).where(
            PharmacyStock.product_id == product_id
        )
        row = (
            await self.session.execute(statement.execution_options(populate_existing=True))
        ).first()
        return InventoryRow(*row) if row is not None else None

    # Movements

    def movements_statement(
        self, organization_id: uuid.UUID, product_id: uuid.UUID, kind: str | None
    ) -> MovementStatement:
        statement = (
            select(PharmacyStockMovement, PharmacyBatch.batch_number)
            .join(PharmacyBatch, PharmacyBatch.id == PharmacyStockMovement.batch_id)
            .where(
                PharmacyStockMovement.organization_id == organization_id,
                PharmacyStockMovement.product_id == product_id,
            )
        )
        if kind is not None:
            statement = statement.where(PharmacyStockMovement.kind == kind)
        return statement.order_by(
            PharmacyStockMovement.created_at.desc(), PharmacyStockMovement.id.desc()
        )

    async def movements_page(
        self, statement: MovementStatement, params: PageParams
    ) -> tuple[list[tuple[PharmacyStockMovement, str]], int]:
        total = await self._count(statement)
        if total == 0:
            return [], 0
        rows = (
            await self.session.execute(statement.limit(params.limit).offset(params.offset))
        ).all()
        return [(row[0], row[1]) for row in rows], total

    async def add_movement(self, movement: PharmacyStockMovement) -> PharmacyStockMovement:
        self.session.add(movement)
        await self.session.flush()
        await self.session.refresh(movement, ["created_at"])
        return movement

    async def add_batch(self, batch: PharmacyBatch) -> PharmacyBatch:
        self.session.add(batch)
        await self.session.flush()
        await self.session.refresh(batch, ["received_at", "created_at", "updated_at"])
        return batch

    # Reorders and the delivery step

    async def add_reorder(self, reorder: PharmacyReorder) -> PharmacyReorder:
        self.session.add(reorder)
        await self.session.flush()
        return reorder

    async def claim_delivered_reorder(self, order_id: uuid.UUID) -> uuid.UUID | None:
        """Mark a delivered order's reorder as received, once: the organization it
        restocks, or None when it is no reorder or was stocked already (the
        SECURITY DEFINER function of migration 0020 checks that it is delivered)."""
        result = await self.session.execute(_CLAIM_DELIVERED_REORDER, {"order_id": order_id})
        value = result.scalar_one_or_none()
        return uuid.UUID(str(value)) if value is not None else None

    async def tenant_settings(self) -> dict[str, str]:
        row = (await self.session.execute(_CURRENT_TENANT)).one()
        return {key: value or "" for key, value in row._mapping.items()}

    async def set_tenant_settings(self, settings: dict[str, str]) -> None:
        await self.session.execute(_SET_TENANT, settings)
