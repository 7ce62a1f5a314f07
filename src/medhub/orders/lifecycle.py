"""The order lifecycle: pending → confirmed → processing → shipped → delivered, and
cancelled from pending or confirmed (by the buyer, the supplier's staff, or the
expiry of an unpaid order). Payment status changes come from the payments domain.

Each change: the stock consequence (processing turns the reservation into a stock
decrement; cancellation releases it), an activity-log row, and a notification
with the seed's email to the buyer.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.catalog import stock
from medhub.kit.errors import ErrorDetail, PermissionDenied, ValidationFailed
from medhub.models.orders import Order, OrderItem, OrderStatus, PaymentStatus
from medhub.notifications import service as notifications
from medhub.orders.exceptions import OrderStateConflict
from medhub.orders.repository import OrderRepository
from medhub.orders.schemas import OrderRead, OrderStatusUpdate
from medhub.orders.service import get_order, is_buyer, is_supplier_staff, now, order_view

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.pending: frozenset({OrderStatus.confirmed, OrderStatus.cancelled}),
    OrderStatus.confirmed: frozenset({OrderStatus.processing, OrderStatus.cancelled}),
    OrderStatus.processing: frozenset({OrderStatus.shipped}),
    OrderStatus.shipped: frozenset({OrderStatus.delivered}),
    OrderStatus.delivered: frozenset(),
    OrderStatus.cancelled: frozenset(),
}

PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.pending: frozenset({PaymentStatus.paid, PaymentStatus.failed}),
    PaymentStatus.failed: frozenset({PaymentStatus.paid, PaymentStatus.failed}),
    PaymentStatus.paid: frozenset({PaymentStatus.refunded}),
    PaymentStatus.refunded: frozenset(),
}

STATUS_TIMESTAMPS = {
    OrderStatus.confirmed: "confirmed_at",
    OrderStatus.shipped: "shipped_at",
    OrderStatus.delivered: "delivered_at",
    OrderStatus.cancelled: "cancelled_at",
}

DEFAULT_NOTES = {
    OrderStatus.confirmed: "Your order has been confirmed by the supplier.",
    OrderStatus.processing: "Your order is being prepared for shipment.",
    OrderStatus.cancelled: "Your order has been cancelled.",
}


# What else happens, in the same transaction, when an order is delivered: the pharmacy
# stock domain stocks a pharmacy's reorder. That domain places its orders through this
# one, so this package may not import it; it registers here instead, by name
# (registering again replaces), when the application is put together (app.py).
DeliveredHook = Callable[
    [AsyncSession, Order, Sequence[OrderItem], Principal | None], Awaitable[object]
]
_DELIVERED_HOOKS: dict[str, DeliveredHook] = {}


def on_delivered(name: str, hook: DeliveredHook) -> None:
    """Run `hook(session, order, items, actor)` whenever an order becomes delivered."""
    _DELIVERED_HOOKS[name] = hook


def _check_transition(order: Order, target: OrderStatus) -> None:
    current = OrderStatus(order.status)
    allowed = TRANSITIONS[current]
    if target not in allowed:
        choices = ", ".join(sorted(s.value for s in allowed)) or "none (final state)"
        raise OrderStateConflict(
            f"An order that is {current.value} cannot become {target.value}",
            details=[ErrorDetail(field="status", message=f"allowed next: {choices}")],
        )


def _lines(items: Sequence[OrderItem]) -> list[stock.StockLine]:
    return [
        stock.StockLine(item.product_id, item.quantity)
        for item in items
        if item.product_id is not None
    ]


def _email_for(order: Order, old: OrderStatus, note: str | None) -> tuple[str, dict[str, Any]]:
    base = {"order_number": order.order_number, "order_id": str(order.id)}
    if order.status == OrderStatus.shipped:
        return "shipping_notification", {
            **base,
            "carrier": order.carrier or "",
            "tracking_number": order.tracking_number or "",
            "tracking_available": bool(order.tracking_number),
        }
    if order.status == OrderStatus.delivered and order.delivered_at is not None:
        return "delivery_confirmation", {
            **base,
            "delivered_at": order.delivered_at.strftime("%d %B %Y, %H:%M UTC"),
        }
    return "order_status_update", {
        **base,
        "old_status": old.value,
        "new_status": order.status,
        "note": note or DEFAULT_NOTES.get(OrderStatus(order.status), ""),
    }


async def _apply(
    session: AsyncSession,
    order: Order,
    target: OrderStatus,
    *,
    actor: Principal | None,
    actor_id: uuid.UUID | None,
    note: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> list[OrderItem]:
    old = OrderStatus(order.status)
    _check_transition(order, target)
    items = list(await OrderRepository(session).items_of(order.id))
    if target == OrderStatus.processing:
        await stock.fulfil(session, _lines(items), order_id=order.id, actor_id=actor_id)
    elif target == OrderStatus.cancelled:
        await stock.release(
            session,
            _lines(items),
            order_id=order.id,
            actor_id=actor_id,
            reason=reason or "Order cancelled",
        )
        order.cancel_reason = reason
        order.expires_at = None
    order.status = target.value
    moment = at or now()
    if target in STATUS_TIMESTAMPS:
        setattr(order, STATUS_TIMESTAMPS[target], moment)
    if target == OrderStatus.confirmed:
        # A confirmed order is the supplier's commitment: it no longer lapses unpaid.
        order.expires_at = None
    await session.flush()
    await session.refresh(order, ["updated_at"])
    if target == OrderStatus.delivered:
        for hook in list(_DELIVERED_HOOKS.values()):
            await hook(session, order, items, actor)
    audit.record(
        session,
        f"order_{target.value}",
        actor=actor,
        user_id=actor_id if actor is None else None,
        entity_type="order",
        entity_id=order.id,
        organization_id=order.supplier_id,
        metadata={
            "order_number": order.order_number,
            "from": old.value,
            "to": target.value,
            **({"reason": reason} if reason else {}),
            **({"tracking_number": order.tracking_number} if order.tracking_number else {}),
        },
    )
    if order.user_id is not None:
        await notifications.notify(
            session,
            order.user_id,
            "order",
            f"Order {order.order_number} is {target.value}",
            note or reason or DEFAULT_NOTES.get(target, f"Your order is now {target.value}."),
            {"link": f"/orders/{order.id}", "order_id": str(order.id), "status": target.value},
            email=_email_for(order, old, note or reason),
        )
    return items


async def change_status(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID, data: OrderStatusUpdate
) -> OrderRead:
    """PUT /orders/{id}/status, by the supplier's staff."""
    order = await get_order(session, principal, order_id, for_update=True)
    if not is_supplier_staff(principal, order):
        raise PermissionDenied("Only the supplier's staff change an order's status")
    target = OrderStatus(data.status)
    _check_transition(order, target)
    if target == OrderStatus.shipped:
        if not data.tracking_number:
            raise ValidationFailed(
                "A shipped order needs its tracking number",
                details=[ErrorDetail(field="tracking_number", message="required when shipping")],
            )
        order.tracking_number = data.tracking_number
        order.carrier = data.carrier
    if target == OrderStatus.cancelled and order.payment_status == PaymentStatus.paid:
        raise OrderStateConflict(
            "This order is paid: refund the payment before cancelling it",
            details=[ErrorDetail(field="status", message="refund first")],
        )
    items = await _apply(
        session,
        order,
        target,
        actor=principal,
        actor_id=principal.actor_id,
        note=data.note,
        reason=data.note if target == OrderStatus.cancelled else None,
    )
    return order_view(order, items)


async def cancel_by_buyer(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID, reason: str | None
) -> OrderRead:
    """PUT /orders/{id}/cancel: the buyer withdraws an order not yet in preparation."""
    order = await get_order(session, principal, order_id, for_update=True)
    if not is_buyer(principal, order) and not is_supplier_staff(principal, order):
        raise PermissionDenied("Only the buyer cancels an order here")
    _check_transition(order, OrderStatus.cancelled)
    if order.payment_status == PaymentStatus.paid:
        raise OrderStateConflict(
            "This order is paid: ask the supplier to cancel and refund it",
            details=[
                ErrorDetail(field="status", message="paid orders are cancelled by the supplier")
            ],
        )
    items = await _apply(
        session,
        order,
        OrderStatus.cancelled,
        actor=principal,
        actor_id=principal.actor_id,
        reason=reason or "Cancelled by the buyer",
    )
    return order_view(order, items)


async def expire_unpaid(session: AsyncSession, *, limit: int = 200) -> int:
    """Cancel pending orders whose payment did not arrive in time; their stock goes
    back on sale. Rows locked by a request (a payment landing now) are skipped and
    looked at again on the next run."""
    moment = now()
    orders = await OrderRepository(session).expired_unpaid(moment, limit)
    for order in orders:
        await _apply(
            session,
            order,
            OrderStatus.cancelled,
            actor=None,
            actor_id=None,
            reason="Payment was not received in time",
            at=moment,
        )
    return len(orders)


async def set_payment_status(
    session: AsyncSession,
    order: Order,
    status: PaymentStatus,
    *,
    actor: Principal | None,
) -> None:
    """Record the outcome of a payment on its order (called by the payments domain,
    with the order row locked)."""
    current = PaymentStatus(order.payment_status)
    if status not in PAYMENT_TRANSITIONS[current]:
        raise OrderStateConflict(
            f"A payment that is {current.value} cannot become {status.value}",
            details=[ErrorDetail(field="payment_status", message=f"currently {current.value}")],
        )
    if status == PaymentStatus.paid and order.status == OrderStatus.cancelled:
        raise OrderStateConflict(
            "This order was cancelled; the payment must be refunded, not recorded",
            details=[ErrorDetail(field="status", message="cancelled")],
        )
    order.payment_status = status.value
    if status == PaymentStatus.paid:
        order.paid_at = now()
        order.expires_at = None
    await session.flush()
    await session.refresh(order, ["updated_at"])
    audit.record(
        session,
        f"order_payment_{status.value}",
        actor=actor,
        entity_type="order",
        entity_id=order.id,
        organization_id=order.supplier_id,
        metadata={"order_number": order.order_number, "from": current.value, "to": status.value},
    )
    if order.user_id is not None:
        await notifications.notify(
            session,
            order.user_id,
            "order",
            f"Payment {status.value} for order {order.order_number}",
            f"The payment of {order.total_amount} {order.currency} for order"
            f" {order.order_number} is {status.value}.",
            {
                "link": f"/orders/{order.id}",
                "order_id": str(order.id),
                "payment_status": status.value,
            },
        )
