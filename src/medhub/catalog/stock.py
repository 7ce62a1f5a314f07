"""Stock: reservations for orders, releases, fulfilment, manual adjustments, and the
log of every change. Other domains (orders) call these inside their transaction.

Every change is one conditional UPDATE on the product row (see
`StockRepository.change`) followed by a movement row: the figures can never go
negative or oversold, whatever the concurrency, and the log always matches.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.catalog.exceptions import InsufficientStock, StockBelowReserved
from medhub.catalog.lookup import get_managed_product
from medhub.catalog.repository import StockRepository
from medhub.catalog.schemas import StockLevel, StockMovementRead
from medhub.catalog.tasks import alert_low_stock
from medhub.kit.errors import ErrorDetail
from medhub.kit.jobs import defer
from medhub.kit.pagination import PageParams
from medhub.models.catalog import Product, StockMovement, StockMovementKind


@dataclass(frozen=True)
class StockLine:
    product_id: uuid.UUID
    quantity: int
    label: str = ""  # how the caller names the line in errors (e.g. "items[2]")


def movement_view(movement: StockMovement) -> StockMovementRead:
    return StockMovementRead(
        id=movement.id,
        product_id=movement.product_id,
        kind=movement.kind,
        quantity=movement.quantity,
        stock_after=movement.stock_after,
        reserved_after=movement.reserved_after,
        available_after=movement.stock_after - movement.reserved_after,
        reason=movement.reason,
        order_id=movement.order_id,
        actor_id=movement.actor_id,
        created_at=movement.created_at,
    )


async def _after_change(
    session: AsyncSession, repository: StockRepository, product_id: uuid.UUID
) -> None:
    if await repository.track_low_stock(product_id):
        await defer(session, alert_low_stock, product_id=str(product_id))


def _sorted(lines: Sequence[StockLine]) -> list[StockLine]:
    # One lock order for every transaction: two orders for the same products can
    # never deadlock waiting on each other's rows.
    return sorted(lines, key=lambda line: line.product_id.bytes)


async def reserve(
    session: AsyncSession,
    lines: Sequence[StockLine],
    *,
    order_id: uuid.UUID,
    actor_id: uuid.UUID | None,
) -> None:
    """Hold stock for an order; all lines or none (InsufficientStock lists every
    line that cannot be served, and the caller's transaction rolls back)."""
    repository = StockRepository(session)
    movements: list[StockMovement] = []
    short: list[ErrorDetail] = []
    for line in _sorted(lines):
        figures = await repository.change(
            line.product_id, reserved_delta=line.quantity, require_available=line.quantity
        )
        if figures is None:
            short.append(
                ErrorDetail(
                    field=line.label or str(line.product_id),
                    message=f"only {await _available(session, line.product_id)} available",
                )
            )
            continue
        stock_after, reserved_after = figures
        movements.append(
            StockMovement(
                product_id=line.product_id,
                kind=StockMovementKind.reservation,
                quantity=line.quantity,
                stock_after=stock_after,
                reserved_after=reserved_after,
                order_id=order_id,
                actor_id=actor_id,
                reason="Reserved for order",
            )
        )
    if short:
        short.sort(key=lambda detail: detail.field or "")
        raise InsufficientStock(details=short)
    await repository.add_all(movements)
    for line in lines:
        await _after_change(session, repository, line.product_id)


async def _available(session: AsyncSession, product_id: uuid.UUID) -> int:
    product = await session.get(Product, product_id, populate_existing=True)
    if product is None or not product.is_active:
        return 0
    return max(product.available_quantity, 0)


async def release(
    session: AsyncSession,
    lines: Sequence[StockLine],
    *,
    order_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    reason: str,
) -> None:
    """Give an order's reservation back (cancellation, expiry)."""
    await _apply(
        session,
        lines,
        StockMovementKind.release,
        order_id=order_id,
        actor_id=actor_id,
        reason=reason,
    )


async def fulfil(
    session: AsyncSession,
    lines: Sequence[StockLine],
    *,
    order_id: uuid.UUID,
    actor_id: uuid.UUID | None,
) -> None:
    """The goods leave the warehouse: on-hand and reserved both drop; available is unchanged."""
    await _apply(
        session,
        lines,
        StockMovementKind.fulfilment,
        order_id=order_id,
        actor_id=actor_id,
        reason="Fulfilled order",
    )


async def _apply(
    session: AsyncSession,
    lines: Sequence[StockLine],
    kind: StockMovementKind,
    *,
    order_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    reason: str,
) -> None:
    repository = StockRepository(session)
    movements: list[StockMovement] = []
    for line in _sorted(lines):
        if kind == StockMovementKind.release:
            figures = await repository.change(line.product_id, reserved_delta=-line.quantity)
            change = -line.quantity
        else:
            figures = await repository.change(
                line.product_id, stock_delta=-line.quantity, reserved_delta=-line.quantity
            )
            change = -line.quantity
        if figures is None:
            # The product row is gone (hard-deleted by an operator): nothing to give back.
            continue
        movements.append(
            StockMovement(
                product_id=line.product_id,
                kind=kind,
                quantity=change,
                stock_after=figures[0],
                reserved_after=figures[1],
                order_id=order_id,
                actor_id=actor_id,
                reason=reason,
            )
        )
    await repository.add_all(movements)
    for line in lines:
        await _after_change(session, repository, line.product_id)


async def adjust(
    session: AsyncSession,
    principal: Principal,
    product: Product,
    quantity: int,
    *,
    reason: str,
) -> StockMovement:
    """A counted correction, a delivery in, a write-off: signed change of on-hand stock."""
    repository = StockRepository(session)
    figures = await repository.change(product.id, stock_delta=quantity)
    if figures is None:
        raise StockBelowReserved(
            details=[
                ErrorDetail(
                    field="quantity",
                    message=(
                        f"on hand {product.stock_quantity}, reserved"
                        f" {product.reserved_quantity}: at most"
                        f" {product.stock_quantity - product.reserved_quantity} can be removed"
                    ),
                )
            ]
        )
    movement = await repository.add(
        StockMovement(
            product_id=product.id,
            kind=StockMovementKind.adjustment,
            quantity=quantity,
            stock_after=figures[0],
            reserved_after=figures[1],
            reason=reason,
            actor_id=principal.actor_id,
        )
    )
    await session.refresh(movement, ["created_at"])
    await _after_change(session, repository, product.id)
    audit.record(
        session,
        "stock_adjusted",
        actor=principal,
        entity_type="product",
        entity_id=product.id,
        organization_id=product.supplier_id,
        metadata={"quantity": quantity, "reason": reason, "stock_after": figures[0]},
    )
    return movement


async def adjust_stock(
    session: AsyncSession,
    principal: Principal,
    product_id: uuid.UUID,
    quantity: int,
    reason: str,
) -> tuple[StockMovementRead, StockLevel]:
    product = await get_managed_product(session, principal, product_id, for_update=True)
    movement = await adjust(session, principal, product, quantity, reason=reason)
    return movement_view(movement), StockLevel(
        product_id=product.id,
        stock_quantity=movement.stock_after,
        reserved_quantity=movement.reserved_after,
        available_quantity=movement.stock_after - movement.reserved_after,
        low_stock_threshold=product.low_stock_threshold,
    )


async def list_movements(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, params: PageParams
) -> tuple[list[StockMovementRead], int]:
    product = await get_managed_product(session, principal, product_id)
    repository = StockRepository(session)
    items, total = await repository.paginate(repository.movements_statement(product.id), params)
    return [movement_view(m) for m in items], total


async def track_low_stock(session: AsyncSession, product: Product) -> None:
    """Re-evaluate the low-stock flag after a threshold change."""
    await _after_change(session, StockRepository(session), product.id)
