"""The one way a pharmacy's batches change, shared by every use case: lock the product's
stock row, change a batch and the on-hand total together, log the movement, and
alert the organization's staff when the units that can still be dispensed (expired
batches do not count) reach the reorder point. Batches also expire with no change at
all: `recheck_low_stock` (a periodic job) catches those crossings.

Lock order, everywhere: the product's stock row first (`StockRepository.lock_stock`),
then its batches. A transaction that changes several products locks their rows in
product-id order (`by_product`), so two such transactions never wait on each other in
a circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.catalog import service as catalog
from medhub.kit.db import Database
from medhub.kit.errors import ErrorDetail
from medhub.kit.tenancy import set_system_context
from medhub.models.identity import Role
from medhub.models.pharmacy_stock import (
    PharmacyBatch,
    PharmacyMovementKind,
    PharmacyStock,
    PharmacyStockMovement,
)
from medhub.notifications import service as notifications
from medhub.organizations import service as organizations
from medhub.pharmacy_stock.exceptions import InsufficientStock
from medhub.pharmacy_stock.repository import InventoryRow, StockRepository
from medhub.pharmacy_stock.schemas import BatchRead, InventoryItem, MovementRead

# Who hears that a product runs low.
ALERTED_ROLES = (Role.admin, Role.pharmacist)

T = TypeVar("T")


def today() -> date:
    return datetime.now(UTC).date()


def is_expired(expiry_date: date | None, on: date) -> bool:
    """A batch may be handed out up to the day before its expiry date, never on it."""
    return expiry_date is not None and expiry_date <= on


def by_product(lines: Iterable[T], product_id: Callable[[T], uuid.UUID]) -> list[T]:
    """`lines` in the one order their stock rows are locked in."""
    return sorted(lines, key=lambda line: product_id(line).bytes)


@dataclass(frozen=True)
class Change:
    """Who changes a batch, and why (the movement's columns besides the figures)."""

    kind: PharmacyMovementKind
    actor_id: uuid.UUID | None
    reason: str | None = None
    dispensation_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None


async def change_batch(
    session: AsyncSession,
    stock: PharmacyStock,
    batch: PharmacyBatch,
    quantity: int,
    change: Change,
) -> PharmacyStockMovement:
    """Add `quantity` (signed) to a batch and to its product's on-hand, with the movement.

    The caller holds the stock row's lock. `InsufficientStock` when the batch has fewer
    units than `-quantity` (nothing changed).
    """
    repository = StockRepository(session)
    received = change.kind in {PharmacyMovementKind.received, PharmacyMovementKind.restocked}
    remaining = await repository.change_batch(batch.id, quantity, received=received)
    if remaining is None:
        raise InsufficientStock(
            f"Batch {batch.batch_number} has {batch.remaining_quantity} left",
            details=[
                ErrorDetail(field="quantity", message=f"only {batch.remaining_quantity} left")
            ],
        )
    on_hand = await repository.change_on_hand(stock.id, quantity)
    stock.on_hand = on_hand
    return await repository.add_movement(
        PharmacyStockMovement(
            organization_id=stock.organization_id,
            product_id=stock.product_id,
            batch_id=batch.id,
            kind=change.kind.value,
            quantity=quantity,
            quantity_after=on_hand,
            reason=change.reason,
            actor_id=change.actor_id,
            dispensation_id=change.dispensation_id,
            order_id=change.order_id,
        )
    )


@dataclass(frozen=True)
class NewBatch:
    batch_number: str
    expiry_date: date | None
    quantity: int
    unit_cost: Decimal | None
    currency: str
    source_order_id: uuid.UUID | None = None


async def add_batch(
    session: AsyncSession, stock: PharmacyStock, new: NewBatch, change: Change
) -> tuple[PharmacyBatch, PharmacyStockMovement]:
    """A batch not in stock yet, received in full, with its movement (the stock row is
    locked by the caller, so no one else adds the same batch number meanwhile)."""
    repository = StockRepository(session)
    batch = await repository.add_batch(
        PharmacyBatch(
            organization_id=stock.organization_id,
            product_id=stock.product_id,
            batch_number=new.batch_number,
            expiry_date=new.expiry_date,
            received_quantity=new.quantity,
            remaining_quantity=new.quantity,
            unit_cost=new.unit_cost,
            currency=new.currency,
            source_order_id=new.source_order_id,
        )
    )
    on_hand = await repository.change_on_hand(stock.id, new.quantity)
    stock.on_hand = on_hand
    movement = await repository.add_movement(
        PharmacyStockMovement(
            organization_id=stock.organization_id,
            product_id=stock.product_id,
            batch_id=batch.id,
            kind=change.kind.value,
            quantity=new.quantity,
            quantity_after=on_hand,
            reason=change.reason,
            actor_id=change.actor_id,
            order_id=change.order_id,
        )
    )
    return batch, movement


async def after_change(session: AsyncSession, stock: PharmacyStock, on: date | None = None) -> None:
    """Once per crossing: when the usable units (unexpired batches') have just reached the
    reorder point (or gone below), the organization's admins and pharmacists are told;
    rising above re-arms. `on`: the day whose expiry counts (today by default).

    In the transaction of the change: a rolled-back take alerts no one, and of many
    concurrent takes only the one whose conditional update flips the marker alerts.
    """
    day = on or today()
    repository = StockRepository(session)
    if not await repository.track_low_stock(stock.id, day):
        return
    figures = await repository.find_stock(stock.organization_id, stock.product_id)
    if figures is None:
        return
    usable = await repository.usable_quantity(stock.organization_id, stock.product_id, day)
    expired = figures.on_hand - usable
    product = (await catalog.products_by_ids(session, [stock.product_id])).get(stock.product_id)
    name = product.name if product is not None else "A product"
    level = (
        f"{name} is down to {usable} on hand"
        if expired == 0
        else f"{name} is down to {usable} usable: {figures.on_hand} on hand, {expired} of"
        " them expired (to write off)"
    )
    staff = await organizations.staff_ids(session, stock.organization_id, ALERTED_ROLES)
    for user_id in staff:
        await notifications.notify(
            session,
            user_id,
            "stock",
            f"Low stock: {name}",
            f"{level}, at or below its reorder point of {figures.reorder_point}.",
            {
                "link": f"/pharmacy/inventory/{stock.product_id}",
                "product_id": str(stock.product_id),
                "on_hand": figures.on_hand,
                "available": usable,
                "expired_quantity": expired,
                "reorder_point": figures.reorder_point,
            },
        )


async def recheck_low_stock(database: Database, on: date | None = None) -> int:
    """The crossings no change made: batches that expired since their product last
    changed. Each stale marker is set right as a change would (`after_change`: the
    alert once per crossing), one product per transaction, locking its stock row first
    as every change does; a change that came first leaves nothing to do. How many
    markers were set right.

    Across every stock-keeping organization, so in the system context (as the catalog's
    periodic jobs run).
    """
    day = on or today()
    async with database.unit_of_work() as session:
        await set_system_context(session)
        stale = await StockRepository(session).stale_low_stock_markers(day)
    for organization_id, product_id in stale:
        async with database.unit_of_work() as session:
            await set_system_context(session)
            stock = await StockRepository(session).lock_stock(organization_id, product_id)
            if stock is not None:
                await after_change(session, stock, day)
    return len(stale)


def batch_view(batch: PharmacyBatch, on: date) -> BatchRead:
    return BatchRead(
        id=batch.id,
        batch_number=batch.batch_number,
        expiry_date=batch.expiry_date,
        expired=is_expired(batch.expiry_date, on),
        received_quantity=batch.received_quantity,
        remaining_quantity=batch.remaining_quantity,
        unit_cost=batch.unit_cost,
        currency=batch.currency,
        received_at=batch.received_at,
        source_order_id=batch.source_order_id,
    )


def movement_view(movement: PharmacyStockMovement, batch_number: str) -> MovementRead:
    return MovementRead(
        id=movement.id,
        product_id=movement.product_id,
        batch_number=batch_number,
        kind=PharmacyMovementKind(movement.kind),
        quantity=movement.quantity,
        quantity_after=movement.quantity_after,
        reason=movement.reason,
        actor_id=movement.actor_id,
        dispensation_id=movement.dispensation_id,
        order_id=movement.order_id,
        created_at=movement.created_at,
    )


async def inventory_items(
    session: AsyncSession, organization_id: uuid.UUID, rows: list[InventoryRow], on: date
) -> list[InventoryItem]:
    """Rows of the inventory list with their batches: two queries for the whole page."""
    repository = StockRepository(session)
    product_ids = [row.stock.product_id for row in rows]
    batches = await repository.batches_of(organization_id, product_ids)
    items: list[InventoryItem] = []
    for row in rows:
        held = batches[row.stock.product_id]
        expired = sum(b.remaining_quantity for b in held if is_expired(b.expiry_date, on))
        usable = sum(b.remaining_quantity for b in held) - expired
        items.append(
            InventoryItem(
                product_id=row.stock.product_id,
                product_name=row.product_name,
                manufacturer_code=row.manufacturer_code,
                dosage=row.dosage,
                packaging=row.packaging,
                on_hand=row.stock.on_hand,
                available=usable,
                expired_quantity=expired,
                reorder_point=row.stock.reorder_point,
                low_stock=usable <= row.stock.reorder_point,
                next_expiry=row.next_expiry,
                batches=[batch_view(batch, on) for batch in held],
                updated_at=row.stock.updated_at,
            )
        )
    return items


async def inventory_item(
    session: AsyncSession, organization_id: uuid.UUID, product_id: uuid.UUID
) -> InventoryItem | None:
    on = today()
    row = await StockRepository(session).inventory_row(organization_id, product_id, on)
    if row is None:
        return None
    [item] = await inventory_items(session, organization_id, [row], on)
    return item
