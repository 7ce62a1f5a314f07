"""Low stock counts what can still be dispensed: expired units on the shelf keep no
product off the list. A change of units alerts at the crossing; a batch that merely
expires is caught by the hourly job. Once per crossing either way."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from medhub.kit.db import Database
from medhub.kit.jobs import defer
from medhub.pharmacy_stock import ledger
from medhub.pharmacy_stock.tasks import recheck_low_stock
from tests.factories import run_jobs
from tests.pharmacy_stock.conftest import (
    INVENTORY,
    AdminSql,
    Pharmacy,
    in_days,
    low_stock_notifications,
    receive,
    take,
    today,
)


async def run_recheck(app: FastAPI) -> None:
    """What the hourly periodic job does: defer it, then let a worker run it."""
    database: Database = app.state.database
    async with database.unit_of_work() as session:
        await defer(session, recheck_low_stock, timestamp=int(time.time()))
    await run_jobs(app)


def expire(admin_sql: AdminSql, pharmacy: Pharmacy, batch_number: str) -> None:
    """Time passing: the batch's expiry date is now yesterday. (Receiving refuses an
    expired batch, and nothing in the app moves a date back on its own.)"""
    admin_sql(
        "UPDATE pharmacy_batches SET expiry_date = current_date - 1"
        " WHERE organization_id = %s AND batch_number = %s",
        [pharmacy.id, batch_number],
    )


async def setup(client: httpx.AsyncClient, pharmacy: Pharmacy, product_id: str, point: int) -> None:
    who = pharmacy.pharmacist
    for number, quantity, days in (("OLD", 10, 3), ("NEW", 8, 300)):
        response = await receive(
            client, who, product_id, number, quantity, expiry_date=in_days(days)
        )
        assert response.status_code == 201, response.text
    response = await client.put(
        f"{INVENTORY}/{product_id}", json={"reorder_point": point}, headers=who.headers
    )
    assert response.status_code == 200, response.text


async def inventory(client: httpx.AsyncClient, pharmacy: Pharmacy, **params: Any) -> list[Any]:
    response = await client.get(INVENTORY, params=params, headers=pharmacy.admin.headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["data"]["inventory"]
    return items


async def test_the_flag_and_the_filter_count_only_unexpired_units(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    await setup(client, pharmacy, product["id"], point=8)
    [item] = await inventory(client, pharmacy)
    assert (item["on_hand"], item["available"], item["expired_quantity"]) == (18, 18, 0)
    assert item["low_stock"] is False

    expire(admin_sql, pharmacy, "OLD")

    [item] = await inventory(client, pharmacy)
    assert (item["on_hand"], item["available"], item["expired_quantity"]) == (18, 8, 10)
    assert item["low_stock"] is True
    assert [b["expired"] for b in item["batches"]] == [True, False]
    assert [i["product_id"] for i in await inventory(client, pharmacy, low_stock="true")] == [
        product["id"]
    ]
    assert await inventory(client, pharmacy, low_stock="false") == []


async def test_the_hourly_job_alerts_once_for_a_crossing_made_by_expiry(
    app: FastAPI,
    client: httpx.AsyncClient,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    await setup(client, pharmacy, product["id"], point=8)
    staff = (pharmacy.admin.id, pharmacy.pharmacist.id)

    def alerts() -> list[int]:
        return [low_stock_notifications(admin_sql, user_id) for user_id in staff]

    await run_recheck(app)
    assert alerts() == [0, 0], "18 usable, above the point: nothing to say"

    expire(admin_sql, pharmacy, "OLD")
    assert alerts() == [0, 0], "no change of units: no alert without the job"
    await run_recheck(app)
    assert alerts() == [1, 1]
    [(body, data)] = admin_sql(
        "SELECT body, data FROM notifications WHERE user_id = %s AND category = 'stock'",
        [pharmacy.pharmacist.id],
    )
    assert "8 usable: 18 on hand, 10 of them expired" in body
    assert (data["available"], data["on_hand"], data["reorder_point"]) == (8, 18, 8)

    await run_recheck(app)
    assert alerts() == [1, 1], "once per crossing"
    [(marked,)] = admin_sql(
        "SELECT low_stock_alerted FROM pharmacy_stock WHERE organization_id = %s", [pharmacy.id]
    )
    assert marked is True

    # Stock above the point again re-arms; the next expiry-made crossing alerts again.
    fresh = await receive(
        client, pharmacy.pharmacist, product["id"], "FRESH", 5, expiry_date=in_days(2)
    )
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["data"]["item"]["low_stock"] is False
    expire(admin_sql, pharmacy, "FRESH")
    await run_recheck(app)
    assert alerts() == [2, 2]


async def test_a_batch_counts_until_the_day_it_expires(
    database: Database,
    client: httpx.AsyncClient,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    await setup(client, pharmacy, product["id"], point=8)
    staff = (pharmacy.admin.id, pharmacy.pharmacist.id)

    # OLD expires in three days: the day before, it still counts; on the day, not.
    assert await ledger.recheck_low_stock(database, today() + timedelta(days=2)) == 0
    assert [low_stock_notifications(admin_sql, user_id) for user_id in staff] == [0, 0]
    assert await ledger.recheck_low_stock(database, today() + timedelta(days=3)) == 1
    assert [low_stock_notifications(admin_sql, user_id) for user_id in staff] == [1, 1]
    assert await ledger.recheck_low_stock(database, today() + timedelta(days=3)) == 0


async def test_a_take_alerts_on_usable_units_not_on_hand(
    database: Database,
    client: httpx.AsyncClient,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    # Reorder point 5: 10 expired + 8 usable. Counting on-hand (18 → 15) never crosses.
    await setup(client, pharmacy, product["id"], point=5)
    expire(admin_sql, pharmacy, "OLD")
    staff = (pharmacy.admin.id, pharmacy.pharmacist.id)

    await take(database, pharmacy, product["id"], 2)  # 6 usable: above the point
    assert [low_stock_notifications(admin_sql, user_id) for user_id in staff] == [0, 0]
    await take(database, pharmacy, product["id"], 1)  # 5 usable, 15 on hand: the crossing
    assert [low_stock_notifications(admin_sql, user_id) for user_id in staff] == [1, 1]
    [(data,)] = admin_sql(
        "SELECT data FROM notifications WHERE user_id = %s AND category = 'stock'",
        [pharmacy.admin.id],
    )
    assert (data["available"], data["on_hand"], data["expired_quantity"]) == (5, 15, 10)
