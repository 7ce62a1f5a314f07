"""The pharmacy's staff at work on their stock: receiving a delivery into a batch,
correcting a batch by a counted difference (or writing it off), recording or
correcting a batch's expiry date, and setting a product's reorder point. Each change
is audited."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.catalog import service as catalog
from medhub.catalog.exceptions import ProductNotFound
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.models.pharmacy_stock import PharmacyBatch, PharmacyMovementKind, PharmacyStock
from medhub.pharmacy_stock import ledger
from medhub.pharmacy_stock.exceptions import (
    BatchExpired,
    BatchExpiryMismatch,
    BatchNotFound,
    BatchUsedUp,
)
from medhub.pharmacy_stock.repository import StockRepository
from medhub.pharmacy_stock.schemas import (
    BatchExpirySet,
    BatchExpiryUpdate,
    InventoryItem,
    ReorderPointUpdate,
    StockAdjust,
    StockChange,
    StockReceive,
)
from medhub.pharmacy_stock.service import stock_keeper_organization


async def _catalog_product_exists(session: AsyncSession, product_id: uuid.UUID) -> bool:
    # Withdrawn products count: the packs on the shelf are real whatever the catalog says.
    return product_id in await catalog.products_by_ids(session, [product_id])


async def _item(session: AsyncSession, stock: PharmacyStock) -> InventoryItem:
    item = await ledger.inventory_item(session, stock.organization_id, stock.product_id)
    if item is None:
        # The row is locked by this very transaction: it cannot have gone.
        raise ProductNotFound()
    return item


async def receive(session: AsyncSession, principal: Principal, data: StockReceive) -> StockChange:
    """POST /pharmacy/inventory/receive: a new batch, or more of a batch already held
    (with the same expiry date: one lot has one)."""
    organization_id = await stock_keeper_organization(session, principal)
    if not await _catalog_product_exists(session, data.product_id):
        raise ValidationFailed(
            "Unknown product",
            details=[ErrorDetail(field="product_id", message="no such product in the catalog")],
        )
    if ledger.is_expired(data.expiry_date, ledger.today()):
        raise BatchExpired(
            f"Batch {data.batch_number} is already expired and cannot be received",
            details=[ErrorDetail(field="expiry_date", message="must be after today")],
        )
    repository = StockRepository(session)
    stock = await repository.lock_or_create_stock(organization_id, data.product_id)
    change = ledger.Change(
        kind=PharmacyMovementKind.received, actor_id=principal.actor_id, reason="Received"
    )
    batch = await repository.batch(organization_id, data.product_id, data.batch_number)
    if batch is None:
        batch, movement = await ledger.add_batch(
            session,
            stock,
            ledger.NewBatch(
                batch_number=data.batch_number,
                expiry_date=data.expiry_date,
                quantity=data.quantity,
                unit_cost=data.unit_cost,
                currency=data.currency,
            ),
            change,
        )
    else:
        if batch.expiry_date != data.expiry_date:
            on_record = batch.expiry_date.isoformat() if batch.expiry_date else "no expiry"
            raise BatchExpiryMismatch(
                f"Batch {data.batch_number} is on record with expiry {on_record}",
                details=[ErrorDetail(field="expiry_date", message=f"on record: {on_record}")],
            )
        movement = await ledger.change_batch(session, stock, batch, data.quantity, change)
    await ledger.after_change(session, stock)
    _audit(
        session,
        principal,
        "pharmacy_stock_received",
        stock=stock,
        batch=batch,
        quantity=data.quantity,
    )
    return StockChange(
        movement=ledger.movement_view(movement, batch.batch_number),
        item=await _item(session, stock),
    )


async def adjust(session: AsyncSession, principal: Principal, data: StockAdjust) -> StockChange:
    """POST /pharmacy/inventory/adjust: a counted correction or a write-off of one batch,
    never below zero."""
    organization_id = await stock_keeper_organization(session, principal)
    repository = StockRepository(session)
    stock = await repository.lock_stock(organization_id, data.product_id)
    batch = (
        await repository.batch(organization_id, data.product_id, data.batch_number)
        if stock is not None
        else None
    )
    if stock is None or batch is None:
        raise BatchNotFound(
            f"Batch {data.batch_number} is not in your stock of this product",
            details=[ErrorDetail(field="batch_number", message="not in your stock")],
        )
    change = ledger.Change(
        kind=PharmacyMovementKind.adjusted, actor_id=principal.actor_id, reason=data.reason
    )
    movement = await ledger.change_batch(session, stock, batch, data.quantity, change)
    await ledger.after_change(session, stock)
    _audit(
        session,
        principal,
        "pharmacy_stock_adjusted",
        stock=stock,
        batch=batch,
        quantity=data.quantity,
        reason=data.reason,
    )
    return StockChange(
        movement=ledger.movement_view(movement, batch.batch_number),
        item=await _item(session, stock),
    )


async def set_batch_expiry(
    session: AsyncSession, principal: Principal, batch_id: uuid.UUID, data: BatchExpiryUpdate
) -> BatchExpirySet:
    """PUT /pharmacy/inventory/batches/{batch_id}: the expiry date read off the packs, for
    a batch that has none yet (a delivered reorder's lines arrive without one: the
    order does not carry it), or a correction of a recorded one, with a reason.

    Recorded as an audit row with the old and new dates, not as a movement: a movement
    is a change of units (never zero, with the on-hand after it), and an expiry date
    is an attribute of the lot, audited like the reorder point. A date in the past is
    accepted: the packs are on the shelf already, and recording the truth is what stops
    them being dispensed (the batch is expired at once, and the low-stock rule no
    longer counts it). First-expiry-first-out and the expired-batch refusal read the
    batch's date when they take, so they follow from the next take on.
    """
    organization_id = await stock_keeper_organization(session, principal)
    repository = StockRepository(session)
    found = await repository.batch_by_id(organization_id, batch_id)
    if found is None:
        raise BatchNotFound(
            "This batch is not in your stock",
            details=[ErrorDetail(field="batch_id", message="not in your stock")],
        )
    # The lock order of every change: the product's stock row, then its batch.
    stock = await repository.lock_stock(organization_id, found.product_id)
    batch = await repository.batch_by_id(organization_id, batch_id)
    if stock is None or batch is None:
        # Both rows are only ever deleted with their organization.
        raise BatchNotFound()
    previous = batch.expiry_date
    if previous == data.expiry_date:
        # Setting what is set changes nothing, and leaves no audit row.
        return await _expiry_set(session, stock, batch, previous)
    if previous is not None and data.reason is None:
        raise ValidationFailed(
            f"Batch {batch.batch_number} is on record with expiry {previous.isoformat()}:"
            " say why it changes",
            details=[ErrorDetail(field="reason", message="required to change a recorded date")],
        )
    if batch.remaining_quantity == 0:
        raise BatchUsedUp(
            f"Batch {batch.batch_number} has no units left: its expiry date is no longer kept"
        )
    await repository.set_batch_expiry(batch.id, data.expiry_date)
    batch.expiry_date = data.expiry_date
    await ledger.after_change(session, stock)
    metadata: dict[str, object] = {
        "batch_id": str(batch.id),
        "batch_number": batch.batch_number,
        "from": previous.isoformat() if previous is not None else None,
        "to": data.expiry_date.isoformat(),
    }
    if data.reason is not None:
        metadata["reason"] = data.reason
    audit.record(
        session,
        "pharmacy_batch_expiry_set",
        actor=principal,
        entity_type="product",
        entity_id=stock.product_id,
        organization_id=organization_id,
        metadata=metadata,
    )
    return await _expiry_set(session, stock, batch, previous)


async def _expiry_set(
    session: AsyncSession, stock: PharmacyStock, batch: PharmacyBatch, previous: date | None
) -> BatchExpirySet:
    return BatchExpirySet(
        batch=ledger.batch_view(batch, ledger.today()),
        previous_expiry_date=previous,
        item=await _item(session, stock),
    )


async def set_reorder_point(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, data: ReorderPointUpdate
) -> InventoryItem:
    """PUT /pharmacy/inventory/{product_id}: the level at which the staff are alerted
    (and may be set before the first delivery, for a product the catalog has)."""
    organization_id = await stock_keeper_organization(session, principal)
    if not await _catalog_product_exists(session, product_id):
        raise ProductNotFound()
    repository = StockRepository(session)
    stock = await repository.lock_or_create_stock(organization_id, product_id)
    previous = stock.reorder_point
    if previous == data.reorder_point:
        # Setting what is set changes nothing, and leaves no audit row.
        return await _item(session, stock)
    await repository.set_reorder_point(stock.id, data.reorder_point)
    stock.reorder_point = data.reorder_point
    await ledger.after_change(session, stock)
    audit.record(
        session,
        "pharmacy_reorder_point_set",
        actor=principal,
        entity_type="product",
        entity_id=product_id,
        organization_id=organization_id,
        metadata={"from": previous, "to": data.reorder_point},
    )
    return await _item(session, stock)


def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    *,
    stock: PharmacyStock,
    batch: PharmacyBatch,
    quantity: int,
    reason: str | None = None,
) -> None:
    details: dict[str, object] = {
        "batch_number": batch.batch_number,
        "quantity": quantity,
        "on_hand": stock.on_hand,
    }
    if reason is not None:
        details["reason"] = reason
    audit.record(
        session,
        action,
        actor=principal,
        entity_type="product",
        entity_id=stock.product_id,
        organization_id=stock.organization_id,
        metadata=details,
    )
