"""Concurrent takes, each in its own transaction through the real database under the
application's role: exactly as many succeed as the stock allows, never a negative
batch, no deadlock (takes of several products in opposite orders included)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from medhub.config import Settings
from medhub.kit.db import Database
from medhub.kit.tenancy import set_tenant_context
from medhub.pharmacy_stock import service
from medhub.pharmacy_stock.exceptions import InsufficientStock
from tests import commerce
from tests.pharmacy_stock.conftest import (
    AdminSql,
    Pharmacy,
    batches,
    in_days,
    on_hand,
    receive,
    take,
    today,
)

CONCURRENT_TAKES = 24


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # One pooled connection per take in flight: every take is in the database at once.
    return make_settings(DATABASE_POOL_SIZE=CONCURRENT_TAKES + 5, DATABASE_POOL_TIMEOUT=60)


async def _outcome(coroutine: Any) -> str:
    try:
        await coroutine
    except InsufficientStock:
        return "short"
    return "taken"


async def test_concurrent_takes_never_oversell(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    # 3 + 4 + 10 = 17 units in three batches, 24 takes of 2: 8 succeed (16 units).
    who = pharmacy.pharmacist
    for number, days, quantity in (("B1", 30, 3), ("B2", 60, 4), ("B3", 90, 10)):
        response = await receive(
            client, who, product["id"], number, quantity, expiry_date=in_days(days)
        )
        assert response.status_code == 201, response.text

    outcomes = await asyncio.gather(
        *(_outcome(take(database, pharmacy, product["id"], 2)) for _ in range(CONCURRENT_TAKES))
    )

    assert Counter(outcomes) == {"taken": 8, "short": CONCURRENT_TAKES - 8}
    remaining = batches(admin_sql, pharmacy, product["id"])
    assert all(quantity >= 0 for quantity in remaining.values())
    assert sum(remaining.values()) == 1 == on_hand(admin_sql, pharmacy, product["id"])
    [(dispensed, moved)] = admin_sql(
        "SELECT count(DISTINCT dispensation_id), -sum(quantity) FROM pharmacy_stock_movements"
        " WHERE kind = 'dispensed'"
    )
    assert (dispensed, moved) == (8, 16)
    # The log adds up: every batch's receipts minus its takes is what it holds.
    per_batch = admin_sql(
        "SELECT b.batch_number, sum(m.quantity) FROM pharmacy_stock_movements m"
        " JOIN pharmacy_batches b ON b.id = m.batch_id GROUP BY b.batch_number"
    )
    assert {str(number): int(total) for number, total in per_batch} == remaining


async def test_concurrent_takes_of_two_products_in_either_order_do_not_deadlock(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    first = await commerce.product(client, supplier.admin, name="First")
    second = await commerce.product(client, supplier.admin, name="Second")
    for item in (first, second):
        response = await receive(client, pharmacy.pharmacist, item["id"], "ONE", 10)
        assert response.status_code == 201, response.text
    principal = pharmacy.principal()

    async def dispense_both(reverse: bool) -> str:
        # One dispensation of two items, in the order the dispensing domain must use:
        # sorted by product id, whatever order the prescription lists them in.
        listed = [second["id"], first["id"]] if reverse else [first["id"], second["id"]]
        ordered = sorted(listed, key=lambda value: uuid.UUID(value).bytes)
        try:
            async with database.unit_of_work() as session:
                await set_tenant_context(
                    session,
                    user_id=principal.user_id,
                    organization_id=pharmacy.id,
                    role="pharmacist",
                )
                dispensation_id = uuid.uuid4()
                for product_id in ordered:
                    await service.take_for_dispensing(
                        session,
                        principal,
                        product_id=uuid.UUID(product_id),
                        quantity=1,
                        batch_number=None,
                        dispensation_id=dispensation_id,
                        on=today(),
                    )
        except InsufficientStock:
            return "short"
        return "taken"

    outcomes = await asyncio.gather(*(dispense_both(i % 2 == 1) for i in range(CONCURRENT_TAKES)))

    assert Counter(outcomes) == {"taken": 10, "short": CONCURRENT_TAKES - 10}
    assert on_hand(admin_sql, pharmacy, first["id"]) == 0
    assert on_hand(admin_sql, pharmacy, second["id"]) == 0
