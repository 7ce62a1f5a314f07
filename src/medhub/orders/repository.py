"""Order queries. Row-level security already limits orders to their buyer and the
supplier's staff; these statements say the same explicitly (defence in depth, and
the query plans use the matching indexes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select

from medhub.authz.permissions import SUPPLIER_STAFF_ROLES
from medhub.authz.principal import Principal
from medhub.kit.repository import Repository
from medhub.models.orders import Order, OrderItem, OrderStatus, PaymentStatus
from medhub.orders.schemas import OrderFilters


def visible_to(principal: Principal) -> Any:
    """The SQL condition for the orders `principal` may see."""
    if principal.is_super_admin:
        return True
    conditions = []
    if principal.user_id is not None:
        conditions.append(Order.user_id == principal.user_id)
    if principal.organization_id is not None and principal.role in SUPPLIER_STAFF_ROLES:
        conditions.append(Order.supplier_id == principal.organization_id)
    return or_(*conditions) if conditions else False


class OrderRepository(Repository[Order]):
    model = Order

    async def get_visible(
        self, principal: Principal, order_id: uuid.UUID, *, for_update: bool = False
    ) -> Order | None:
        statement = select(Order).where(Order.id == order_id, visible_to(principal))
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_for_update(self, order_id: uuid.UUID) -> Order | None:
        statement = select(Order).where(Order.id == order_id).with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def items_of(self, order_id: uuid.UUID) -> Sequence[OrderItem]:
        statement = select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id)
        return (await self.session.execute(statement)).scalars().all()

    def list_statement(self, principal: Principal, filters: OrderFilters) -> Select[Order]:
        statement = select(Order).where(visible_to(principal))
        if filters.status:
            statement = statement.where(Order.status == filters.status)
        if filters.payment_status:
            statement = statement.where(Order.payment_status == filters.payment_status)
        if filters.date_from:
            statement = statement.where(Order.created_at >= filters.date_from)
        if filters.date_to:
            statement = statement.where(Order.created_at < filters.date_to)
        if filters.user_id:
            statement = statement.where(Order.user_id == filters.user_id)
        if filters.search:
            statement = statement.where(Order.order_number.ilike(f"%{filters.search}%"))
        return statement.order_by(Order.created_at.desc(), Order.id.desc())

    async def item_counts(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not order_ids:
            return {}
        statement = (
            select(OrderItem.order_id, func.count())
            .where(OrderItem.order_id.in_(order_ids))
            .group_by(OrderItem.order_id)
        )
        return {row[0]: int(row[1]) for row in (await self.session.execute(statement)).all()}

    async def expired_unpaid(self, now: datetime, limit: int) -> Sequence[Order]:
        statement = (
            select(Order)
            .where(
                Order.status == OrderStatus.pending,
                Order.payment_status == PaymentStatus.pending,
                Order.expires_at < now,
            )
            .order_by(Order.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(statement)).scalars().all()
