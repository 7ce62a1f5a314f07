"""Orders: placing (validation, pricing, reservation, confirmation), reading, the
lifecycle with its stock consequences and emails, cancellation and expiry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI

from medhub.kit.db import Database
from medhub.kit.jobs import defer
from medhub.orders.tasks import expire_unpaid_orders
from tests import commerce
from tests.assertions import assert_error
from tests.factories import Factory, mail_to, run_jobs, text_body

AdminSql = Callable[..., list[tuple[Any, ...]]]


def stock_of(admin_sql: AdminSql, product_id: str) -> tuple[int, int]:
    [(stock, reserved)] = admin_sql(
        "SELECT stock_quantity, reserved_quantity FROM products WHERE id = %s", [product_id]
    )
    return int(stock), int(reserved)


async def setup_sale(
    client: httpx.AsyncClient, factory: Factory, **product: Any
) -> tuple[commerce.Supplier, dict[str, Any], commerce.Buyer]:
    supplier = await commerce.supplier(factory)
    item = await commerce.product(client, supplier.admin, **product)
    buyer = await commerce.buyer(factory)
    return supplier, item, buyer


# --- placing ---------------------------------------------------------------------------------


async def test_placing_an_order_prices_snapshots_reserves_and_confirms(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier = await commerce.supplier(factory)
    first = await commerce.product(client, supplier.admin, price="125.50", stock_quantity=500)
    second = await commerce.product(
        client, supplier.admin, name="Amoxil 500mg", price="18.25", category="antibiotics"
    )
    buyer = await commerce.buyer(factory)

    response = await commerce.place(client, buyer, [(first["id"], 100), (second["id"], 40)])

    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert order["order_number"].startswith("ORD-")
    assert len(order["order_number"]) == len("ORD-2026-000001")
    assert order["status"] == "pending"
    assert order["payment_status"] == "pending"
    assert order["total_amount"] == 13280.00  # 100 x 125.50 + 40 x 18.25
    assert order["supplier_id"] == str(supplier.id)
    assert [
        (i["product_name"], i["quantity"], i["unit_price"], i["subtotal"]) for i in order["items"]
    ] == [
        ("Cardiomax 50mg", 100, 125.5, 12550.0),
        ("Amoxil 500mg", 40, 18.25, 730.0),
    ]
    assert order["shipping_address"]["city"] == "Boston"
    assert order["expires_at"] is not None
    assert stock_of(admin_sql, first["id"]) == (500, 100)
    [(total,)] = admin_sql("SELECT total_amount FROM orders WHERE id = %s", [order["id"]])
    assert total == Decimal("13280.00")

    # The snapshot survives a later price change.
    changed = await client.put(
        f"/api/v1/products/{first['id']}", json={"price": "999.00"}, headers=supplier.admin.headers
    )
    assert changed.status_code == 200
    again = await client.get(f"/api/v1/orders/{order['id']}", headers=buyer.account.headers)
    assert again.json()["data"]["items"][0]["unit_price"] == 125.5

    [message] = await mail_to(app, buyer.account.email, "order_confirmation")
    body = text_body(message)
    assert order["order_number"] in body
    assert "13280.00" in body
    [(logged,)] = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'order_created' AND entity_id = %s",
        [order["id"]],
    )
    assert logged == 1


async def test_distributors_pay_their_special_price(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    item = await commerce.product(client, supplier.admin, price="100.00", distributor_price="80.00")
    distributor = await commerce.buyer(factory, "distributor", organization_id=supplier.id)
    customer = await commerce.buyer(factory)

    special = await commerce.place(client, distributor, [(item["id"], 10)])
    regular = await commerce.place(client, customer, [(item["id"], 10)])

    assert special.status_code == 201, special.text
    assert (special.json()["data"]["total_amount"], special.json()["data"]["pricing_tier"]) == (
        800.0,
        "distributor",
    )
    assert (regular.json()["data"]["total_amount"], regular.json()["data"]["pricing_tier"]) == (
        1000.0,
        "list",
    )


async def test_bad_orders_are_refused_with_details_and_change_nothing(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier, item, buyer = await setup_sale(client, factory, min_order_quantity=10)
    other_supplier = await commerce.supplier(factory)
    foreign = await commerce.product(client, other_supplier.admin)
    stranger = await commerce.buyer(factory)
    unpriced = await commerce.product(client, supplier.admin, price=None)

    below_minimum = await commerce.place(client, buyer, [(item["id"], 5)])
    unknown = await commerce.place(client, buyer, [(str(uuid.uuid4()), 5)])
    mixed = await commerce.place(client, buyer, [(item["id"], 10), (foreign["id"], 1)])
    repeated = await commerce.place(client, buyer, [(item["id"], 10), (item["id"], 10)])
    on_request = await commerce.place(client, buyer, [(unpriced["id"], 1)])
    not_my_address = await client.post(
        "/api/v1/orders",
        json={
            "items": [{"product_id": item["id"], "quantity": 10}],
            "shipping_address_id": stranger.address_id,
        },
        headers=buyer.account.headers,
    )
    empty = await client.post(
        "/api/v1/orders",
        json={"items": [], "shipping_address_id": buyer.address_id},
        headers=buyer.account.headers,
    )
    zero = await commerce.place(client, buyer, [(item["id"], 0)])

    assert_error(below_minimum, 400, fields={"items[0].quantity"})
    assert_error(unknown, 400, fields={"items[0].product_id"})
    assert_error(mixed, 400, field="items")
    assert_error(repeated, 400, fields={"items[1]"})
    assert on_request.status_code == 400
    assert "inquiry" in on_request.json()["error"]["details"][0]["message"]
    assert_error(not_my_address, 400, fields={"shipping_address_id"})
    assert empty.status_code == 400
    assert zero.status_code == 400
    assert all(r.json()["error"]["details"] for r in (empty, zero))
    [(orders,)] = admin_sql("SELECT count(*) FROM orders")
    assert orders == 0
    assert stock_of(admin_sql, item["id"]) == (1000, 0)


async def test_who_may_order(client: httpx.AsyncClient, factory: Factory) -> None:
    _supplier, item, buyer = await setup_sale(client, factory)
    body = {
        "items": [{"product_id": item["id"], "quantity": 1}],
        "shipping_address_id": buyer.address_id,
    }
    patient = await factory.user("patient")
    unverified = await factory.user("customer", verified=False)

    anonymous = await client.post("/api/v1/orders", json=body)
    as_patient = await client.post("/api/v1/orders", json=body, headers=patient.headers)
    as_unverified = await client.post("/api/v1/orders", json=body, headers=unverified.headers)

    assert anonymous.status_code == 401
    assert as_patient.status_code == 403
    assert as_unverified.status_code == 403


async def test_more_than_available_is_refused_with_what_is_left(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    _, item, buyer = await setup_sale(client, factory, stock_quantity=5)

    response = await commerce.place(client, buyer, [(item["id"], 6)])

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "INSUFFICIENT_STOCK"
    assert error["details"] == [{"field": "items[0]", "message": "only 5 available"}]
    assert stock_of(admin_sql, item["id"]) == (5, 0)


async def test_an_inactive_product_cannot_be_ordered_but_stays_on_old_orders(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier, item, buyer = await setup_sale(client, factory)
    placed = await commerce.place(client, buyer, [(item["id"], 1)])
    deleted = await client.delete(f"/api/v1/products/{item['id']}", headers=supplier.admin.headers)
    assert deleted.status_code == 200

    again = await commerce.place(client, buyer, [(item["id"], 1)])
    old = await client.get(
        f"/api/v1/orders/{placed.json()['data']['id']}", headers=buyer.account.headers
    )

    assert again.status_code == 400
    assert old.json()["data"]["items"][0]["product_name"] == "Cardiomax 50mg"


async def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    _, item, buyer = await setup_sale(client, factory)
    key = {"Idempotency-Key": "order-7f3a"}

    first = await commerce.place(client, buyer, [(item["id"], 2)], headers=key)
    repeat = await commerce.place(client, buyer, [(item["id"], 2)], headers=key)
    different = await commerce.place(client, buyer, [(item["id"], 3)], headers=key)
    blank = await commerce.place(client, buyer, [(item["id"], 2)], headers={"Idempotency-Key": " "})

    assert (first.status_code, repeat.status_code) == (201, 201)
    assert repeat.json()["data"] == first.json()["data"]
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "CONFLICT"
    assert blank.status_code == 400
    assert stock_of(admin_sql, item["id"]) == (1000, 2)


# --- reading ---------------------------------------------------------------------------------


async def test_orders_are_seen_by_their_buyer_and_the_suppliers_staff_only(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier, item, buyer = await setup_sale(client, factory)
    other_buyer = await commerce.buyer(factory)
    other_supplier = await commerce.supplier(factory)
    distributor = await factory.user("distributor", organization_id=supplier.id)
    mine = (await commerce.place(client, buyer, [(item["id"], 1)])).json()["data"]
    theirs = (await commerce.place(client, other_buyer, [(item["id"], 2)])).json()["data"]

    own_list = await client.get("/api/v1/orders", headers=buyer.account.headers)
    staff_list = await client.get("/api/v1/orders", headers=supplier.sales.headers)
    foreign_staff = await client.get("/api/v1/orders", headers=other_supplier.admin.headers)
    foreign_detail = await client.get(
        f"/api/v1/orders/{mine['id']}", headers=other_supplier.admin.headers
    )
    other_buyers = await client.get(f"/api/v1/orders/{theirs['id']}", headers=buyer.account.headers)
    as_distributor = await client.get(f"/api/v1/orders/{mine['id']}", headers=distributor.headers)
    anonymous = await client.get("/api/v1/orders")

    assert [o["id"] for o in own_list.json()["data"]["orders"]] == [mine["id"]]
    assert own_list.json()["data"]["orders"][0]["item_count"] == 1
    assert {o["id"] for o in staff_list.json()["data"]["orders"]} == {mine["id"], theirs["id"]}
    assert foreign_staff.json()["data"]["orders"] == []
    assert foreign_detail.status_code == 404
    assert other_buyers.status_code == 404
    assert as_distributor.status_code == 404, "a supplier's distributors are buyers, not staff"
    assert anonymous.status_code == 401


async def test_order_list_filters(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier, item, buyer = await setup_sale(client, factory)
    first = (await commerce.place(client, buyer, [(item["id"], 1)])).json()["data"]
    second = (await commerce.place(client, buyer, [(item["id"], 1)])).json()["data"]
    await client.put(
        f"/api/v1/orders/{first['id']}/status",
        json={"status": "confirmed"},
        headers=supplier.admin.headers,
    )

    confirmed = await client.get(
        "/api/v1/orders", params={"status": "confirmed"}, headers=supplier.admin.headers
    )
    unpaid = await client.get(
        "/api/v1/orders", params={"payment_status": "pending"}, headers=buyer.account.headers
    )
    today = first["created_at"][:10]
    by_day = await client.get(
        "/api/v1/orders",
        params={"from": today, "to": today},
        headers=buyer.account.headers,
    )
    bad_range = await client.get(
        "/api/v1/orders",
        params={"from": "2026-02-02", "to": "2026-02-01"},
        headers=buyer.account.headers,
    )
    bad_status = await client.get(
        "/api/v1/orders", params={"status": "lost"}, headers=buyer.account.headers
    )

    assert [o["id"] for o in confirmed.json()["data"]["orders"]] == [first["id"]]
    assert {o["id"] for o in unpaid.json()["data"]["orders"]} == {first["id"], second["id"]}
    assert by_day.json()["data"]["pagination"]["total"] == 2
    assert_error(bad_range, 400, fields={"from"})
    assert bad_status.status_code == 400


# --- lifecycle -------------------------------------------------------------------------------


async def test_the_full_lifecycle_moves_stock_and_tells_the_buyer(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier, item, buyer = await setup_sale(client, factory, stock_quantity=100)
    order = (await commerce.place(client, buyer, [(item["id"], 30)])).json()["data"]
    url = f"/api/v1/orders/{order['id']}/status"
    staff = supplier.sales.headers

    confirmed = await client.put(url, json={"status": "confirmed"}, headers=staff)
    assert stock_of(admin_sql, item["id"]) == (100, 30)
    processing = await client.put(url, json={"status": "processing"}, headers=staff)
    assert stock_of(admin_sql, item["id"]) == (70, 0), "fulfilment turns the hold into a decrement"
    no_tracking = await client.put(url, json={"status": "shipped"}, headers=staff)
    shipped = await client.put(
        url,
        json={"status": "shipped", "tracking_number": "JD0146000038", "carrier": "DHL Express"},
        headers=staff,
    )
    delivered = await client.put(url, json={"status": "delivered"}, headers=staff)
    after_end = await client.put(url, json={"status": "cancelled"}, headers=staff)

    assert [r.status_code for r in (confirmed, processing, shipped, delivered)] == [200] * 4
    assert_error(no_tracking, 400, fields={"tracking_number"})
    final = delivered.json()["data"]
    assert final["status"] == "delivered"
    assert final["tracking_number"] == "JD0146000038"
    assert all(final[f] for f in ("confirmed_at", "shipped_at", "delivered_at"))
    assert after_end.status_code == 409
    assert after_end.json()["error"]["code"] == "INVALID_STATE_TRANSITION"
    kinds = admin_sql(
        "SELECT kind, quantity FROM stock_movements WHERE order_id = %s ORDER BY created_at",
        [order["id"]],
    )
    assert kinds == [("reservation", 30), ("fulfilment", -30)]
    actions = [
        row[0]
        for row in admin_sql(
            "SELECT action FROM activity_logs WHERE entity_id = %s ORDER BY created_at",
            [order["id"]],
        )
    ]
    assert actions == [
        "order_created",
        "order_confirmed",
        "order_processing",
        "order_shipped",
        "order_delivered",
    ]
    templates = [m["X-MedHub-Template"] for m in await mail_to(app, buyer.account.email)]
    assert templates.count("order_status_update") == 2
    assert templates.count("shipping_notification") == 1
    assert templates.count("delivery_confirmation") == 1
    [shipping] = await mail_to(app, buyer.account.email, "shipping_notification")
    assert "JD0146000038" in text_body(shipping)
    notifications = await client.get("/api/v1/notifications", headers=buyer.account.headers)
    titles = [n["title"] for n in notifications.json()["data"]["notifications"]]
    assert any("delivered" in t for t in titles)


async def test_status_changes_belong_to_the_suppliers_staff(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier, item, buyer = await setup_sale(client, factory)
    other = await commerce.supplier(factory)
    order = (await commerce.place(client, buyer, [(item["id"], 1)])).json()["data"]
    url = f"/api/v1/orders/{order['id']}/status"

    as_buyer = await client.put(url, json={"status": "confirmed"}, headers=buyer.account.headers)
    as_other_staff = await client.put(
        url, json={"status": "confirmed"}, headers=other.admin.headers
    )
    anonymous = await client.put(url, json={"status": "confirmed"})
    unknown = await client.put(
        f"/api/v1/orders/{uuid.uuid4()}/status",
        json={"status": "confirmed"},
        headers=supplier.admin.headers,
    )
    bad = await client.put(url, json={"status": "lost"}, headers=supplier.admin.headers)
    skip = await client.put(
        url, json={"status": "shipped", "tracking_number": "X123"}, headers=supplier.admin.headers
    )

    assert as_buyer.status_code == 403
    assert as_other_staff.status_code == 404
    assert anonymous.status_code == 401
    assert unknown.status_code == 404
    assert_error(bad, 400, fields={"status"})
    assert skip.status_code == 409


async def test_buyer_cancels_and_the_stock_goes_back(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    _supplier, item, buyer = await setup_sale(client, factory, stock_quantity=10)
    order = (await commerce.place(client, buyer, [(item["id"], 4)])).json()["data"]
    stranger = await commerce.buyer(factory)
    url = f"/api/v1/orders/{order['id']}/cancel"

    by_stranger = await client.put(url, json={}, headers=stranger.account.headers)
    cancelled = await client.put(
        url, json={"reason": "Ordered twice"}, headers=buyer.account.headers
    )
    twice = await client.put(url, json={}, headers=buyer.account.headers)

    assert by_stranger.status_code == 404
    assert cancelled.status_code == 200
    data = cancelled.json()["data"]
    assert (data["status"], data["cancel_reason"]) == ("cancelled", "Ordered twice")
    assert twice.status_code == 409
    assert stock_of(admin_sql, item["id"]) == (10, 0)
    [message] = await mail_to(app, buyer.account.email, "order_status_update")
    assert "cancelled" in text_body(message)


async def test_a_shipped_order_cannot_be_cancelled(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier, item, buyer = await setup_sale(client, factory)
    order = (await commerce.place(client, buyer, [(item["id"], 1)])).json()["data"]
    url = f"/api/v1/orders/{order['id']}/status"
    for step in ({"status": "confirmed"}, {"status": "processing"}):
        assert (await client.put(url, json=step, headers=supplier.admin.headers)).status_code == 200

    response = await client.put(
        f"/api/v1/orders/{order['id']}/cancel", json={}, headers=buyer.account.headers
    )

    assert response.status_code == 409


async def test_unpaid_orders_expire_and_release_their_stock(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    admin_sql: AdminSql,
    database: Database,
) -> None:
    supplier, item, buyer = await setup_sale(client, factory, stock_quantity=10)
    stale = (await commerce.place(client, buyer, [(item["id"], 3)])).json()["data"]
    fresh = (await commerce.place(client, buyer, [(item["id"], 2)])).json()["data"]
    confirmed = (await commerce.place(client, buyer, [(item["id"], 1)])).json()["data"]
    await client.put(
        f"/api/v1/orders/{confirmed['id']}/status",
        json={"status": "confirmed"},
        headers=supplier.admin.headers,
    )
    admin_sql(
        "UPDATE orders SET expires_at = now() - interval '1 minute' WHERE id IN (%s, %s)",
        [stale["id"], confirmed["id"]],
    )
    async with database.unit_of_work() as session:
        await defer(session, expire_unpaid_orders, timestamp=int(time.time()))

    await run_jobs(app)

    statuses = dict(
        admin_sql(
            "SELECT id::text, status FROM orders WHERE id IN (%s, %s, %s)",
            [stale["id"], fresh["id"], confirmed["id"]],
        )
    )
    assert statuses == {
        stale["id"]: "cancelled",
        fresh["id"]: "pending",
        confirmed["id"]: "confirmed",
    }
    assert stock_of(admin_sql, item["id"]) == (10, 3)
    [(reason,)] = admin_sql("SELECT cancel_reason FROM orders WHERE id = %s", [stale["id"]])
    assert "not received" in reason
