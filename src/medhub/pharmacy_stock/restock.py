"""Restocking from a supplier: the pharmacy places a MedPharm order through the orders
domain (its buyer is the pharmacy's user), remembered as a reorder; when the
supplier's staff mark that order delivered, its lines arrive as new batches, once.

The delivery handler is registered with the orders lifecycle (`on_delivered`, in
app.py) and runs in the transaction that moves the order to `delivered`.

What a delivered line becomes: a batch numbered `<order number>-<line>` (lines in the
order's item order, from 1), received in full at the line's unit price and the
order's currency. Its expiry date is NULL: neither the order (its lines have no lot or
expiry, shipped or not) nor the catalog product carries a lot's expiry, so the staff
read it off the packs and record it (`PUT /pharmacy/inventory/batches/{id}`,
`managing.set_batch_expiry`); until then the batch is taken after every dated one. A
batch number the pharmacy already holds for that product (typed in by hand earlier) is
added to instead, keeping its expiry.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit import idempotency
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.models.orders import Order, OrderItem
from medhub.models.pharmacy_stock import PharmacyMovementKind, PharmacyReorder
from medhub.orders import placing
from medhub.pharmacy_stock import ledger
from medhub.pharmacy_stock.repository import StockRepository
from medhub.pharmacy_stock.schemas import ReorderCreate, ReorderPlaced
from medhub.pharmacy_stock.service import stock_keeper_organization

IDEMPOTENCY_ENDPOINT = "pharmacy_stock.reorder"


@dataclass(frozen=True)
class PlacedReorder:
    status_code: int
    data: dict[str, Any]
    replayed: bool


async def place_reorder(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    data: ReorderCreate,
    *,
    idempotency_key: str | None,
) -> PlacedReorder:
    """POST /pharmacy/inventory/reorder, honouring `Idempotency-Key` as POST /orders does.

    The order is the orders domain's own (`placing.create_order`): its validation,
    pricing, reservation of the supplier's stock, numbering and confirmation email,
    and its check that the shipping address is the caller's.
    """
    organization_id = await stock_keeper_organization(session, principal)
    buyer_id = principal.require_user_id()
    slot: idempotency.IdempotencySlot | None = None
    if idempotency_key is not None:
        claimed = await idempotency.claim(
            session,
            owner=str(buyer_id),
            endpoint=IDEMPOTENCY_ENDPOINT,
            key=idempotency_key,
            fingerprint=idempotency.request_hash(data.model_dump_json().encode()),
        )
        if isinstance(claimed, idempotency.Replay):
            return PlacedReorder(claimed.status_code, claimed.body, replayed=True)
        slot = claimed
    if len(data.items) > settings.ORDER_MAX_ITEMS:
        raise ValidationFailed(
            "Too many lines in one order",
            details=[ErrorDetail(field="items", message=f"at most {settings.ORDER_MAX_ITEMS}")],
        )
    order = await placing.create_order(
        session,
        principal,
        settings,
        [
            placing.RequestedLine(item.product_id, item.quantity, f"items[{index}]")
            for index, item in enumerate(data.items)
        ],
        shipping_address_id=data.shipping_address_id,
        billing_address_id=None,
        notes=data.notes,
    )
    await StockRepository(session).add_reorder(
        PharmacyReorder(order_id=order.id, organization_id=organization_id, ordered_by=buyer_id)
    )
    audit.record(
        session,
        "pharmacy_reorder_placed",
        actor=principal,
        entity_type="order",
        entity_id=order.id,
        organization_id=organization_id,
        metadata={"order_number": order.order_number, "lines": len(data.items)},
    )
    payload = ReorderPlaced(order_id=order.id, order_number=order.order_number).model_dump(
        mode="json"
    )
    if slot is not None:
        await idempotency.complete(session, slot, 201, payload)
    return PlacedReorder(201, payload, replayed=False)


@contextlib.asynccontextmanager
async def _acting_for(session: AsyncSession, organization_id: uuid.UUID) -> AsyncIterator[None]:
    """Row-level security's context narrowed to one pharmacy for the block, then put back.

    The delivery is made by the supplier's staff, whose context cannot see the
    pharmacy's stock. `set_system_context` would open every tenant's rows for the rest
    of their transaction (the order's audit row, notification and email included);
    instead, only once `claim_delivered_reorder()` (SECURITY DEFINER) has proven that
    this order is a delivered reorder of this pharmacy, the block runs as that
    pharmacy alone (no user, no role: no supplier-staff or personal policy applies),
    and the caller's own context is restored after it.
    """
    repository = StockRepository(session)
    caller = await repository.tenant_settings()
    await repository.set_tenant_settings(
        {"user_id": "", "org_id": str(organization_id), "role": "", "system": ""}
    )
    yield
    # Only on success: after an error the transaction is rolled back, settings included.
    await repository.set_tenant_settings(caller)


async def stock_delivered_order(
    session: AsyncSession,
    order: Order,
    items: Sequence[OrderItem],
    actor: Principal | None,
) -> None:
    """The orders lifecycle's `on_delivered` hook: a reorder's lines arrive in the
    pharmacy's stock. Exactly once: the reorder row's conditional update claims the
    delivery, so a second call (a replayed hook) finds nothing to do."""
    repository = StockRepository(session)
    organization_id = await repository.claim_delivered_reorder(order.id)
    if organization_id is None:
        return
    # A line whose product was deleted from the catalog since has nothing to stock.
    lines = [
        _DeliveredLine(number, item.product_id, item)
        for number, item in enumerate(items, start=1)
        if item.product_id is not None
    ]
    async with _acting_for(session, organization_id):
        for line in ledger.by_product(lines, lambda line: line.product_id):
            await _stock_line(session, organization_id, order, line)
        audit.record(
            session,
            "pharmacy_reorder_stocked",
            actor=actor,
            entity_type="order",
            entity_id=order.id,
            organization_id=organization_id,
            metadata={"order_number": order.order_number, "lines": len(lines)},
        )


@dataclass(frozen=True)
class _DeliveredLine:
    number: int
    product_id: uuid.UUID
    item: OrderItem


async def _stock_line(
    session: AsyncSession,
    organization_id: uuid.UUID,
    order: Order,
    line: _DeliveredLine,
) -> None:
    repository = StockRepository(session)
    stock = await repository.lock_or_create_stock(organization_id, line.product_id)
    batch_number = f"{order.order_number}-{line.number}"
    change = ledger.Change(
        kind=PharmacyMovementKind.restocked,
        actor_id=None,
        reason=f"Delivered order {order.order_number}",
        order_id=order.id,
    )
    batch = await repository.batch(organization_id, line.product_id, batch_number)
    if batch is None:
        await ledger.add_batch(
            session,
            stock,
            ledger.NewBatch(
                batch_number=batch_number,
                expiry_date=None,
                quantity=line.item.quantity,
                unit_cost=line.item.unit_price,
                currency=order.currency,
                source_order_id=order.id,
            ),
            change,
        )
    else:
        await ledger.change_batch(session, stock, batch, line.item.quantity, change)
    await ledger.after_change(session, stock)
