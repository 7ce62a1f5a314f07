"""Placing an order: validate, price from the catalog, snapshot, reserve stock,
number it and send the buyer the confirmation email — all in the request's one
transaction. The order starts `pending`: the supplier's staff confirm it later.

If anything fails (an unknown product, a line below its minimum, stock taken by
a concurrent order) the transaction rolls back: no order, no reservation, no
email, no number reused (a sequence gap at most).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.catalog import service as catalog
from medhub.catalog import stock
from medhub.config import Settings
from medhub.kit import idempotency
from medhub.kit.errors import ErrorDetail, NotFound, ValidationFailed
from medhub.kit.money import to_cents
from medhub.kit.references import ReferenceSeries, next_reference
from medhub.models.catalog import Product
from medhub.models.identity import Address, User
from medhub.models.orders import Order, OrderItem
from medhub.notifications import service as notifications
from medhub.orders.repository import OrderRepository
from medhub.orders.schemas import OrderCreate, OrderRead
from medhub.orders.service import now, order_view
from medhub.users import service as users

# ORD-YYYY-NNNNNN, numbered by a sequence of migration 0005.
ORDER_NUMBERS = ReferenceSeries(prefix="ORD", sequence="order_number_seq")


@dataclass(frozen=True)
class RequestedLine:
    product_id: uuid.UUID
    quantity: int
    field: str  # where the line came from, for error details ("items[0]", "line 3")


@dataclass(frozen=True)
class PlacedOrder:
    status_code: int
    data: dict[str, Any]
    replayed: bool


def address_snapshot(address: Address, buyer: User) -> dict[str, Any]:
    # The buyer's name and company travel with the address: the supplier's staff
    # (invoices, shipping labels) cannot read the buyer's account.
    return {
        "full_name": buyer.full_name,
        "company": buyer.company_name,
        "address_type": address.address_type,
        "street_address": address.street_address,
        "city": address.city,
        "state_province": address.state_province,
        "postal_code": address.postal_code,
        "country": address.country,
    }


def address_lines(snapshot: dict[str, Any], full_name: str) -> list[str]:
    city = " ".join(
        part
        for part in (
            snapshot.get("city"),
            snapshot.get("state_province"),
            snapshot.get("postal_code"),
        )
        if part
    )
    lines = [full_name, snapshot.get("company"), snapshot["street_address"], city]
    return [line for line in [*lines, snapshot["country"]] if line]


async def _address(
    session: AsyncSession, principal: Principal, address_id: uuid.UUID, field: str
) -> Address:
    try:
        return await users.get_address(session, principal, address_id)
    except NotFound as error:
        raise ValidationFailed(
            "Unknown address",
            details=[ErrorDetail(field=field, message="not one of your addresses")],
        ) from error


async def place_order(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    data: OrderCreate,
    *,
    idempotency_key: str | None,
) -> PlacedOrder:
    """POST /orders, honouring `Idempotency-Key`."""
    slot: idempotency.IdempotencySlot | None = None
    if idempotency_key is not None:
        claimed = await idempotency.claim(
            session,
            owner=str(principal.require_user_id()),
            endpoint="orders.create",
            key=idempotency_key,
            fingerprint=idempotency.request_hash(data.model_dump_json().encode()),
        )
        if isinstance(claimed, idempotency.Replay):
            return PlacedOrder(claimed.status_code, claimed.body, replayed=True)
        slot = claimed
    if len(data.items) > settings.ORDER_MAX_ITEMS:
        raise ValidationFailed(
            "Too many lines in one order",
            details=[ErrorDetail(field="items", message=f"at most {settings.ORDER_MAX_ITEMS}")],
        )
    lines = [
        RequestedLine(item.product_id, item.quantity, f"items[{index}]")
        for index, item in enumerate(data.items)
    ]
    order = await create_order(
        session,
        principal,
        settings,
        lines,
        shipping_address_id=data.shipping_address_id,
        billing_address_id=data.billing_address_id,
        notes=data.notes,
    )
    payload = order.model_dump(mode="json")
    if slot is not None:
        await idempotency.complete(session, slot, 201, payload)
    return PlacedOrder(201, payload, replayed=False)


async def create_order(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    lines: Sequence[RequestedLine],
    *,
    shipping_address_id: uuid.UUID,
    billing_address_id: uuid.UUID | None,
    notes: str | None,
) -> OrderRead:
    """Validate every line (all problems reported at once), price, insert, reserve, announce."""
    buyer_id = principal.require_user_id()
    problems = _repeated_products(lines)
    shipping, billing = await _addresses(
        session, principal, shipping_address_id, billing_address_id
    )
    buyer = await users.get_user(session, buyer_id)
    products = await catalog.products_by_ids(session, [line.product_id for line in lines])
    priced = _price_lines(lines, products, principal)
    problems += priced.problems + _one_supplier_and_currency(products.values())
    if problems:
        raise ValidationFailed("The order cannot be placed as sent", details=problems)

    placed_at = now()
    order = Order(
        order_number=await next_reference(session, ORDER_NUMBERS),
        user_id=buyer_id,
        buyer_organization_id=principal.organization_id,
        supplier_id=next(iter(products.values())).supplier_id,
        total_amount=to_cents(priced.total),
        currency=next(iter(products.values())).currency,
        pricing_tier="distributor" if "distributor" in priced.tiers else "list",
        payment_provider=settings.PAYMENT_PROVIDER,
        shipping_address_id=shipping.id,
        billing_address_id=billing.id,
        shipping_address=address_snapshot(shipping, buyer),
        billing_address=address_snapshot(billing, buyer),
        notes=notes,
        expires_at=placed_at + timedelta(minutes=settings.ORDER_PAYMENT_TIMEOUT_MINUTES),
    )
    await OrderRepository(session).add(order)
    for item in priced.items:
        item.order_id = order.id
    session.add_all(priced.items)
    await session.flush()
    await stock.reserve(
        session,
        [stock.StockLine(line.product_id, line.quantity, line.field) for line in lines],
        order_id=order.id,
        actor_id=buyer_id,
    )
    await _record_and_confirm(
        session, principal, order=order, items=priced.items, buyer=buyer, placed_at=placed_at
    )
    await session.refresh(order, ["created_at", "updated_at"])
    return order_view(order, priced.items)


def _repeated_products(lines: Sequence[RequestedLine]) -> list[ErrorDetail]:
    problems: list[ErrorDetail] = []
    seen: dict[uuid.UUID, str] = {}
    for line in lines:
        if line.product_id in seen:
            problems.append(
                ErrorDetail(
                    field=line.field,
                    message=f"same product as {seen[line.product_id]}; merge the lines",
                )
            )
        seen.setdefault(line.product_id, line.field)
    return problems


async def _addresses(
    session: AsyncSession,
    principal: Principal,
    shipping_address_id: uuid.UUID,
    billing_address_id: uuid.UUID | None,
) -> tuple[Address, Address]:
    """The buyer's shipping and billing addresses (billing defaults to shipping)."""
    shipping = await _address(session, principal, shipping_address_id, "shipping_address_id")
    if billing_address_id is None:
        return shipping, shipping
    return shipping, await _address(session, principal, billing_address_id, "billing_address_id")


@dataclass
class _PricedLines:
    items: list[OrderItem]
    total: Decimal
    tiers: set[str]
    problems: list[ErrorDetail]


def _price_lines(
    lines: Sequence[RequestedLine], products: Mapping[uuid.UUID, Product], principal: Principal
) -> _PricedLines:
    """Order items priced from the catalog for this buyer, and what is wrong with any line."""
    priced = _PricedLines(items=[], total=Decimal("0.00"), tiers=set(), problems=[])
    for line in lines:
        product = products.get(line.product_id)
        if product is None or not product.is_active:
            priced.problems.append(
                ErrorDetail(
                    field=f"{line.field}.product_id", message="no such product in the catalog"
                )
            )
            continue
        if line.quantity < product.min_order_quantity:
            priced.problems.append(
                ErrorDetail(
                    field=f"{line.field}.quantity",
                    message=f"minimum order quantity for {product.name}"
                    f" is {product.min_order_quantity}",
                )
            )
        unit_price, tier = catalog.price_for(product, principal)
        if unit_price is None:
            priced.problems.append(
                ErrorDetail(
                    field=f"{line.field}.product_id",
                    message=f"{product.name} is priced on request: send an inquiry",
                )
            )
            continue
        priced.tiers.add(tier)
        subtotal = to_cents(unit_price * line.quantity)
        priced.total += subtotal
        priced.items.append(
            OrderItem(
                product_id=product.id,
                product_name=product.name,
                manufacturer_code=product.manufacturer_code,
                category=product.category,
                quantity=line.quantity,
                unit_price=unit_price,
                subtotal=subtotal,
            )
        )
    return priced


def _one_supplier_and_currency(products: Iterable[Product]) -> list[ErrorDetail]:
    # An order is one supplier's sale, paid in one currency (mixed carts are refused,
    # not split: the buyer chooses how to split them).
    found = list(products)
    problems: list[ErrorDetail] = []
    if len({product.supplier_id for product in found}) > 1:
        problems.append(
            ErrorDetail(field="items", message="all products of one order come from one supplier")
        )
    if len({product.currency for product in found}) > 1:
        problems.append(
            ErrorDetail(field="items", message="all products of one order share one currency")
        )
    return problems


async def _record_and_confirm(
    session: AsyncSession,
    principal: Principal,
    *,
    order: Order,
    items: Sequence[OrderItem],
    buyer: User,
    placed_at: datetime,
) -> None:
    """The activity-log row, and the buyer's notification with the confirmation email."""
    audit.record(
        session,
        "order_created",
        actor=principal,
        entity_type="order",
        entity_id=order.id,
        organization_id=order.supplier_id,
        metadata={
            "order_number": order.order_number,
            "total_amount": str(order.total_amount),
            "currency": order.currency,
            "items": len(items),
        },
    )
    await notifications.notify(
        session,
        buyer.id,
        "order",
        f"Order {order.order_number} received",
        f"We received your order of {len(items)} product(s),"
        f" total {order.total_amount} {order.currency}.",
        {"link": f"/orders/{order.id}", "order_id": str(order.id)},
        email=(
            "order_confirmation",
            {
                "order_number": order.order_number,
                "order_id": str(order.id),
                "placed_at": placed_at.strftime("%d %B %Y, %H:%M UTC"),
                "items": [
                    {
                        "name": f"{item.product_name}",
                        "quantity": item.quantity,
                        "unit_price": f"{item.unit_price:.2f}",
                        "subtotal": f"{item.subtotal:.2f}",
                    }
                    for item in items
                ],
                "total": f"{order.total_amount:.2f}",
                "currency": order.currency,
                "shipping_address": address_lines(order.shipping_address, buyer.full_name),
            },
        ),
    )
