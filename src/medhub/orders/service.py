"""Orders as other domains and the read endpoints see them. Placing orders is in
`placing`, the lifecycle (status changes, cancellation, expiry) in `lifecycle`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.permissions import acts_for_supplier
from medhub.authz.principal import Principal
from medhub.kit.errors import NotFound
from medhub.kit.pagination import PageParams
from medhub.models.orders import Order, OrderItem
from medhub.orders.repository import OrderRepository
from medhub.orders.schemas import OrderFilters, OrderItemRead, OrderRead, OrderSummary


class OrderNotFound(NotFound):
    default_message = "Order not found"


def is_supplier_staff(principal: Principal, order: Order) -> bool:
    """The supplier's admins and sales staff (and super admins) act on its orders."""
    return acts_for_supplier(principal, order.supplier_id)


def is_buyer(principal: Principal, order: Order) -> bool:
    return principal.user_id is not None and order.user_id == principal.user_id


async def get_order(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID, *, for_update: bool = False
) -> Order:
    """An order the caller may see (its buyer, the supplier's staff), else 404: an
    order's existence is not confirmed to anyone else."""
    order = await OrderRepository(session).get_visible(principal, order_id, for_update=for_update)
    if order is None:
        raise OrderNotFound()
    return order


async def lock_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    """An order by id, row-locked, for flows that found it without a caller to scope
    by (a provider's webhook, in system context)."""
    return await OrderRepository(session).get_for_update(order_id)


def order_view(order: Order, items: Sequence[OrderItem]) -> OrderRead:
    return OrderRead.model_validate(
        {
            **{
                column: getattr(order, column)
                for column in OrderRead.model_fields
                if column != "items"
            },
            "items": [OrderItemRead.model_validate(item) for item in items],
        }
    )


async def order_detail(session: AsyncSession, order: Order) -> OrderRead:
    return order_view(order, await OrderRepository(session).items_of(order.id))


async def read_order(session: AsyncSession, principal: Principal, order_id: uuid.UUID) -> OrderRead:
    return await order_detail(session, await get_order(session, principal, order_id))


async def list_orders(
    session: AsyncSession, principal: Principal, filters: OrderFilters, params: PageParams
) -> tuple[list[OrderSummary], int]:
    repository = OrderRepository(session)
    orders, total = await repository.paginate(repository.list_statement(principal, filters), params)
    counts = await repository.item_counts([o.id for o in orders])
    return [
        OrderSummary(
            id=o.id,
            order_number=o.order_number,
            user_id=o.user_id,
            supplier_id=o.supplier_id,
            status=o.status,
            payment_status=o.payment_status,
            total_amount=o.total_amount,
            currency=o.currency,
            item_count=counts.get(o.id, 0),
            tracking_number=o.tracking_number,
            created_at=o.created_at,
            updated_at=o.updated_at,
        )
        for o in orders
    ], total


def now() -> datetime:
    return datetime.now(UTC)
