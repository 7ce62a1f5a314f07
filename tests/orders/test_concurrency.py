"""Concurrency: the last units sold exactly once, idempotency keys raced."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from medhub.config import Settings
from tests import commerce

CONCURRENT_ORDERS = 60
STOCK = 17


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # One pooled connection per request in flight: every order is in the database at once.
    return make_settings(DATABASE_POOL_SIZE=CONCURRENT_ORDERS + 5, DATABASE_POOL_TIMEOUT=60)


async def test_concurrent_orders_never_oversell(
    client: Any, factory: Any, admin_sql: Callable[..., list[tuple[Any, ...]]]
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=STOCK)
    buyers = [await commerce.buyer(factory) for _ in range(CONCURRENT_ORDERS)]

    responses = await asyncio.gather(
        *(commerce.place(client, buyer, [(product["id"], 1)]) for buyer in buyers)
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: STOCK, 409: CONCURRENT_ORDERS - STOCK}, statuses
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {body["error"]["code"] for body in refused} == {"INSUFFICIENT_STOCK"}
    [(stock, reserved, orders, reservations)] = admin_sql(
        "SELECT p.stock_quantity, p.reserved_quantity,"
        " (SELECT count(*) FROM orders o WHERE o.supplier_id = p.supplier_id),"
        " (SELECT count(*) FROM stock_movements m WHERE m.product_id = p.id"
        "   AND m.kind = 'reservation')"
        " FROM products p WHERE p.id = %s",
        [product["id"]],
    )
    assert (stock, reserved, orders, reservations) == (STOCK, STOCK, STOCK, STOCK)


async def test_concurrent_orders_for_several_units_sell_exactly_what_is_there(
    client: Any, factory: Any, admin_sql: Callable[..., list[tuple[Any, ...]]]
) -> None:
    # 50 orders of 3 units against 100: 33 succeed (99 units); one unit stays on sale.
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=100)
    other = await commerce.product(client, supplier.admin, stock_quantity=1000)
    buyers = [await commerce.buyer(factory) for _ in range(50)]

    responses = await asyncio.gather(
        *(
            # Two lines in opposite orders: the sorted locking order means no deadlock.
            commerce.place(
                client,
                buyer,
                [(product["id"], 3), (other["id"], 1)]
                if i % 2
                else [(other["id"], 1), (product["id"], 3)],
            )
            for i, buyer in enumerate(buyers)
        )
    )

    assert Counter(r.status_code for r in responses) == {201: 33, 409: 17}
    [(reserved, other_reserved)] = admin_sql(
        "SELECT (SELECT reserved_quantity FROM products WHERE id = %s),"
        " (SELECT reserved_quantity FROM products WHERE id = %s)",
        [product["id"], other["id"]],
    )
    # A refused order holds nothing of the other line either (all or nothing).
    assert (reserved, other_reserved) == (99, 33)


async def test_idempotency_key_race_creates_one_order(
    client: Any, factory: Any, admin_sql: Callable[..., list[tuple[Any, ...]]]
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=50)
    buyer = await commerce.buyer(factory)
    key = str(uuid.uuid4())

    responses = await asyncio.gather(
        *(
            commerce.place(client, buyer, [(product["id"], 2)], headers={"Idempotency-Key": key})
            for _ in range(20)
        )
    )

    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    [(orders, reserved)] = admin_sql(
        "SELECT (SELECT count(*) FROM orders WHERE user_id = %s),"
        " (SELECT reserved_quantity FROM products WHERE id = %s)",
        [str(buyer.account.id), product["id"]],
    )
    assert (orders, reserved) == (1, 2)
