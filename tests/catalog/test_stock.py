"""POST /products/{id}/stock-adjustments and GET /products/{id}/stock-movements:
every change of stock is logged; stock never drops below what orders reserved;
the supplier's admins hear once each time a product crosses below its threshold."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests import commerce
from tests.assertions import assert_error
from tests.catalog.helpers import (
    PRODUCTS,
    UNKNOWN,
    AdminSql,
    adjust,
    data,
    fetch,
    stock_notifications,
)
from tests.factories import Account, Factory, run_jobs


def movements_url(product_id: str) -> str:
    return f"{PRODUCTS}/{product_id}/stock-movements"


async def movements(
    client: httpx.AsyncClient, account: Account, product_id: str, **params: Any
) -> dict[str, Any]:
    result: dict[str, Any] = data(
        await client.get(movements_url(product_id), params=params, headers=account.headers)
    )
    return result


# POST /stock-adjustments


async def test_an_adjustment_changes_stock_and_is_logged(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(
        client, supplier.admin, stock_quantity=100, low_stock_threshold=5
    )

    delivered = data(await adjust(client, supplier.admin, product["id"], 50, "Delivery"), 201)
    written_off = data(await adjust(client, supplier.admin, product["id"], -30, "Expired lot"), 201)

    movement = delivered["movement"]
    assert movement["product_id"] == product["id"]
    assert movement["kind"] == "adjustment"
    assert movement["quantity"] == 50
    assert movement["stock_after"] == 150
    assert movement["reserved_after"] == 0
    assert movement["available_after"] == 150
    assert movement["reason"] == "Delivery"
    assert movement["actor_id"] == str(supplier.admin.id)
    assert movement["order_id"] is None
    assert delivered["stock"] == {
        "product_id": product["id"],
        "stock_quantity": 150,
        "reserved_quantity": 0,
        "available_quantity": 150,
        "low_stock_threshold": 5,
    }
    assert written_off["movement"]["quantity"] == -30
    assert written_off["stock"]["stock_quantity"] == 120
    assert (await fetch(client, product["id"]))["stock_quantity"] == 120
    audit = admin_sql(
        "SELECT (metadata->>'quantity')::int, metadata->>'reason' FROM activity_logs"
        " WHERE action = 'stock_adjusted' AND entity_id = %s ORDER BY created_at",
        (product["id"],),
    )
    assert audit == [(100, "Initial stock"), (50, "Delivery"), (-30, "Expired lot")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 0, "reason": "Nothing"}, "quantity"),
        ({"quantity": "lots", "reason": "Delivery"}, "quantity"),
        ({"quantity": 100_000_001, "reason": "Delivery"}, "quantity"),
        ({"quantity": 5, "reason": "ab"}, "reason"),
        ({"quantity": 5}, "reason"),
        ({"quantity": 5, "reason": "Delivery", "stock_quantity": 9}, "stock_quantity"),
    ],
)
async def test_bad_adjustments_are_a_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=10)
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/stock-adjustments", json=body, headers=supplier.admin.headers
    )
    assert_error(response, 400, fields={field})
    assert (await fetch(client, product["id"]))["stock_quantity"] == 10


async def test_only_the_products_admins_adjust_its_stock(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    product = await commerce.product(client, supplier.admin, stock_quantity=10)
    target = f"{PRODUCTS}/{product['id']}/stock-adjustments"
    body = {"quantity": 5, "reason": "Delivery"}

    assert_error(await client.post(target, json=body), 401, "AUTHENTICATION_ERROR")
    for account in (customer, supplier.sales, other.admin):
        assert_error(await client.post(target, json=body, headers=account.headers), 403)
    assert_error(await adjust(client, supplier.admin, str(UNKNOWN), 5), 404, "NOT_FOUND")
    assert (await fetch(client, product["id"]))["stock_quantity"] == 10
    assert (await movements(client, supplier.admin, product["id"]))["pagination"]["total"] == 1


async def test_stock_cannot_drop_below_what_orders_reserved(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=10)
    buyer = await commerce.buyer(factory)
    data(await commerce.place(client, buyer, [(product["id"], 8)]), 201)

    refused = await adjust(client, supplier.admin, product["id"], -3, "Breakage")

    body = assert_error(refused, 409, "STOCK_BELOW_RESERVED")
    assert [d["field"] for d in body["details"]] == ["quantity"]
    unchanged = await fetch(client, product["id"], supplier.admin)
    assert (unchanged["stock_quantity"], unchanged["reserved_quantity"]) == (10, 8)
    logged = await movements(client, supplier.admin, product["id"])
    assert [m["kind"] for m in logged["movements"]] == ["reservation", "adjustment"]

    allowed = data(await adjust(client, supplier.admin, product["id"], -2, "Breakage"), 201)
    assert allowed["stock"]["stock_quantity"] == 8
    assert allowed["stock"]["available_quantity"] == 0


async def test_stock_never_goes_negative(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=4)

    assert_error(
        await adjust(client, supplier.admin, product["id"], -5), 409, "STOCK_BELOW_RESERVED"
    )

    assert (await fetch(client, product["id"]))["stock_quantity"] == 4


async def test_concurrent_adjustments_are_all_counted(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=10)

    responses = await asyncio.gather(
        *(adjust(client, supplier.admin, product["id"], -4, f"Pick {n}") for n in range(3))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 201, 409], [r.text for r in responses]
    assert (await fetch(client, product["id"]))["stock_quantity"] == 2
    logged = await movements(client, supplier.admin, product["id"])
    assert sorted(m["stock_after"] for m in logged["movements"]) == [2, 6, 10]


# GET /stock-movements


async def test_movements_are_listed_newest_first(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    operator = await factory.user("super_admin")
    product = await commerce.product(client, supplier.admin, stock_quantity=20)
    other_product = await commerce.product(client, supplier.admin, stock_quantity=5)
    buyer = await commerce.buyer(factory)
    order = data(await commerce.place(client, buyer, [(product["id"], 3)]), 201)
    data(await adjust(client, supplier.admin, product["id"], -5, "Damaged in transit"), 201)

    listed = await movements(client, supplier.admin, product["id"])

    assert listed["pagination"] == {"page": 1, "limit": 20, "total": 3, "total_pages": 1}
    damaged, reserved, initial = listed["movements"]
    assert (damaged["kind"], damaged["quantity"], damaged["reason"]) == (
        "adjustment",
        -5,
        "Damaged in transit",
    )
    assert (damaged["stock_after"], damaged["reserved_after"], damaged["available_after"]) == (
        15,
        3,
        12,
    )
    assert damaged["actor_id"] == str(supplier.admin.id)
    assert reserved["kind"] == "reservation"
    assert reserved["quantity"] == 3
    assert reserved["order_id"] == order["id"]
    assert reserved["actor_id"] == str(buyer.account.id)
    assert (reserved["stock_after"], reserved["reserved_after"]) == (20, 3)
    assert (initial["kind"], initial["quantity"], initial["reason"]) == (
        "adjustment",
        20,
        "Initial stock",
    )
    assert {m["product_id"] for m in listed["movements"]} == {product["id"]}
    assert other_product["id"] not in {m["product_id"] for m in listed["movements"]}

    second = await movements(client, supplier.admin, product["id"], limit=1, page=2)
    assert [m["id"] for m in second["movements"]] == [reserved["id"]]
    assert second["pagination"] == {"page": 2, "limit": 1, "total": 3, "total_pages": 3}
    everything = await movements(client, operator, product["id"])
    assert [m["id"] for m in everything["movements"]] == [
        damaged["id"],
        reserved["id"],
        initial["id"],
    ]


async def test_only_the_products_admins_read_its_movements(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    product = await commerce.product(client, supplier.admin, stock_quantity=20)
    hidden = await commerce.product(client, supplier.admin, is_active=False)

    assert_error(await client.get(movements_url(product["id"])), 401, "AUTHENTICATION_ERROR")
    for account in (customer, supplier.sales, other.admin):
        response = await client.get(movements_url(product["id"]), headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    response = await client.get(movements_url(hidden["id"]), headers=other.admin.headers)
    assert_error(response, 404, "NOT_FOUND")
    response = await client.get(movements_url(str(UNKNOWN)), headers=supplier.admin.headers)
    assert_error(response, 404, "NOT_FOUND")
    # Their own withdrawn product's log stays readable for the supplier's admins.
    logged = (await movements(client, supplier.admin, hidden["id"]))["movements"]
    assert [(m["kind"], m["quantity"]) for m in logged] == [("adjustment", 1000)]


# Low-stock alerts


async def low_stock_alerts(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    return [n for n in await stock_notifications(client, account) if "threshold" in n["data"]]


async def test_crossing_below_the_threshold_alerts_each_admin_once_per_crossing(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    second_admin = await factory.user("admin", organization_id=supplier.id)
    other = await commerce.supplier(factory)
    product = await commerce.product(
        client,
        supplier.admin,
        name="Cardiomax 50mg",
        manufacturer_code="CMX-50",
        stock_quantity=15,
        low_stock_threshold=10,
    )
    admins = (supplier.admin, second_admin)

    data(await adjust(client, supplier.admin, product["id"], -3), 201)  # 12: still above
    await run_jobs(app)
    for admin in admins:
        assert await low_stock_alerts(client, admin) == []

    data(await adjust(client, supplier.admin, product["id"], -3), 201)  # 9: crossed
    await run_jobs(app)
    for admin in admins:
        [alert] = await low_stock_alerts(client, admin)
        assert alert["category"] == "stock"
        assert alert["title"] == "Low stock: Cardiomax 50mg"
        assert "CMX-50" in alert["body"]
        assert alert["data"]["product_id"] == product["id"]
        assert alert["data"]["available_quantity"] == 9
        assert alert["data"]["threshold"] == 10
        assert alert["data"]["link"] == f"/products/{product['id']}"
    assert await low_stock_alerts(client, supplier.sales) == [], "admins only"
    assert await low_stock_alerts(client, other.admin) == []

    data(await adjust(client, supplier.admin, product["id"], -4), 201)  # 5: still below
    await run_jobs(app)
    for admin in admins:
        assert len(await low_stock_alerts(client, admin)) == 1

    data(await adjust(client, supplier.admin, product["id"], 20), 201)  # 25: back above
    await run_jobs(app)
    for admin in admins:
        assert len(await low_stock_alerts(client, admin)) == 1

    data(await adjust(client, supplier.admin, product["id"], -18), 201)  # 7: crossed again
    await run_jobs(app)
    for admin in admins:
        alerts = await low_stock_alerts(client, admin)
        assert [a["data"]["available_quantity"] for a in alerts] == [7, 9]


async def test_an_order_that_reserves_below_the_threshold_alerts(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(
        client, supplier.admin, stock_quantity=8, low_stock_threshold=5
    )
    buyer = await commerce.buyer(factory)

    data(await commerce.place(client, buyer, [(product["id"], 4)]), 201)
    await run_jobs(app)

    [alert] = await low_stock_alerts(client, supplier.admin)
    assert alert["data"]["available_quantity"] == 4


async def test_raising_the_threshold_above_availability_alerts(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=30)

    data(
        await client.put(
            f"{PRODUCTS}/{product['id']}",
            json={"low_stock_threshold": 50},
            headers=supplier.admin.headers,
        )
    )
    await run_jobs(app)

    [alert] = await low_stock_alerts(client, supplier.admin)
    assert (alert["data"]["available_quantity"], alert["data"]["threshold"]) == (30, 50)


async def test_a_restock_before_the_alert_runs_cancels_it(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(
        client, supplier.admin, stock_quantity=12, low_stock_threshold=10
    )

    data(await adjust(client, supplier.admin, product["id"], -5), 201)  # 7: below
    data(await adjust(client, supplier.admin, product["id"], 10), 201)  # 17: above again
    await run_jobs(app)

    assert await low_stock_alerts(client, supplier.admin) == []


async def test_no_threshold_no_alert(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=3)

    data(await adjust(client, supplier.admin, product["id"], -3), 201)
    await run_jobs(app)

    assert await low_stock_alerts(client, supplier.admin) == []
