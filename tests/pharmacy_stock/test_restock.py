"""Reordering from a supplier: the order placed through the orders domain, its
Idempotency-Key, and its delivery by the supplier's staff arriving in the pharmacy's
stock exactly once."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select, text

from medhub.authz.principal import AuthMethod, Principal
from medhub.kit.db import Database
from medhub.kit.tenancy import set_tenant_context
from medhub.models.orders import Order, OrderItem
from medhub.orders import lifecycle
from medhub.orders.schemas import OrderStatusUpdate
from medhub.pharmacy_stock import restock
from tests import commerce
from tests.assertions import assert_error
from tests.factories import Factory
from tests.pharmacy_stock.conftest import (
    INVENTORY,
    REORDER,
    AdminSql,
    Pharmacy,
    batches,
    deliver,
    on_hand,
    receive,
    reorder,
)


async def test_a_delivered_reorder_arrives_in_stock_exactly_once(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    amoxil = await commerce.product(client, supplier.admin, name="Amoxil 500mg", price="12.50")
    cardio = await commerce.product(client, supplier.admin, name="Cardiomax 50mg", price="8.00")
    address_id = await commerce.address(client, pharmacy.pharmacist)
    already = await receive(client, pharmacy.pharmacist, amoxil["id"], "SHELF", 5)
    assert already.status_code == 201

    placed = await reorder(client, pharmacy, address_id, [(amoxil["id"], 30), (cardio["id"], 12)])

    assert placed.status_code == 201, placed.text
    data = placed.json()["data"]
    assert set(data) == {"order_id", "order_number"}
    assert data["order_number"].startswith("ORD-")
    order = await client.get(
        f"/api/v1/orders/{data['order_id']}", headers=pharmacy.pharmacist.headers
    )
    assert order.json()["data"]["status"] == "pending"
    assert order.json()["data"]["supplier_id"] == str(supplier.id)
    [(reorder_org, received_at)] = admin_sql(
        "SELECT organization_id, received_at FROM pharmacy_reorders WHERE order_id = %s",
        [data["order_id"]],
    )
    assert (reorder_org, received_at) == (pharmacy.id, None)
    assert on_hand(admin_sql, pharmacy, cardio["id"]) == 0, "nothing arrives before delivery"

    delivered = await deliver(client, supplier, data["order_id"])
    again = await client.put(
        f"/api/v1/orders/{data['order_id']}/status",
        json={"status": "delivered"},
        headers=supplier.admin.headers,
    )

    assert delivered.status_code == 200, delivered.text
    assert_error(again, 409, "INVALID_STATE_TRANSITION")
    number = data["order_number"]
    assert batches(admin_sql, pharmacy, amoxil["id"]) == {"SHELF": 5, f"{number}-1": 30}
    assert batches(admin_sql, pharmacy, cardio["id"]) == {f"{number}-2": 12}
    assert on_hand(admin_sql, pharmacy, amoxil["id"]) == 35

    # The hook replayed (a retried delivery, a second registration): still once.
    async with database.unit_of_work() as session:
        await set_tenant_context(
            session, user_id=supplier.sales.id, organization_id=supplier.id, role="sales"
        )
        row = await session.scalar(select(Order).where(Order.id == uuid.UUID(data["order_id"])))
        assert row is not None
        items = (await session.scalars(select(OrderItem).where(OrderItem.order_id == row.id))).all()
        await restock.stock_delivered_order(session, row, items, None)
    assert on_hand(admin_sql, pharmacy, amoxil["id"]) == 35
    assert on_hand(admin_sql, pharmacy, cardio["id"]) == 12

    listed = await client.get(
        INVENTORY, params={"search": "cardiomax"}, headers=pharmacy.admin.headers
    )
    [item] = listed.json()["data"]["inventory"]
    [batch] = item["batches"]
    assert batch["batch_number"] == f"{number}-2"
    assert (batch["expiry_date"], batch["unit_cost"], batch["currency"]) == (None, 8.0, "USD")
    assert batch["source_order_id"] == data["order_id"]
    movements = await client.get(
        f"{INVENTORY}/{cardio['id']}/movements", headers=pharmacy.pharmacist.headers
    )
    [movement] = movements.json()["data"]["stock_movements"]
    assert (movement["kind"], movement["quantity"], movement["order_id"]) == (
        "restocked",
        12,
        data["order_id"],
    )
    [(stocked_logs,)] = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'pharmacy_reorder_stocked'"
        " AND entity_id = %s AND organization_id = %s",
        [data["order_id"], pharmacy.id],
    )
    assert stocked_logs == 1


async def test_the_supplier_sees_no_pharmacy_stock_while_delivering(
    client: httpx.AsyncClient,
    pharmacy: Pharmacy,
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    # The delivery's tenant context is the supplier's again once the stock step is over:
    # its activity-log row and the buyer's notification are written in it.
    item = await commerce.product(client, supplier.admin)
    address_id = await commerce.address(client, pharmacy.pharmacist)
    placed = (await reorder(client, pharmacy, address_id, [(item["id"], 3)])).json()["data"]

    delivered = await deliver(client, supplier, placed["order_id"])
    staff_view = await client.get(INVENTORY, headers=supplier.admin.headers)

    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["data"]["status"] == "delivered"
    assert_error(staff_view, 403, "AUTHORIZATION_ERROR")
    [(logged,)] = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'order_delivered' AND entity_id = %s",
        [placed["order_id"]],
    )
    assert logged == 1
    assert on_hand(admin_sql, pharmacy, item["id"]) == 3


async def test_an_ordinary_order_delivered_stocks_no_pharmacy(
    client: httpx.AsyncClient, factory: Factory, supplier: commerce.Supplier, admin_sql: AdminSql
) -> None:
    item = await commerce.product(client, supplier.admin)
    buyer = await commerce.buyer(factory)
    order = (await commerce.place(client, buyer, [(item["id"], 2)])).json()["data"]

    delivered = await deliver(client, supplier, order["id"])

    assert delivered.status_code == 200, delivered.text
    assert admin_sql("SELECT count(*) FROM pharmacy_batches") == [(0,)]


async def test_the_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient,
    pharmacy: Pharmacy,
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    item = await commerce.product(client, supplier.admin)
    address_id = await commerce.address(client, pharmacy.pharmacist)

    first = await reorder(client, pharmacy, address_id, [(item["id"], 3)], key="restock-1")
    replay = await reorder(client, pharmacy, address_id, [(item["id"], 3)], key="restock-1")
    other_body = await reorder(client, pharmacy, address_id, [(item["id"], 4)], key="restock-1")

    assert first.status_code == 201, first.text
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["data"] == first.json()["data"]
    assert_error(other_body, 409, "CONFLICT")
    assert admin_sql("SELECT count(*) FROM pharmacy_reorders") == [(1,)]
    assert admin_sql("SELECT count(*) FROM orders") == [(1,)]


async def test_bad_reorders_are_refused_and_leave_nothing(
    client: httpx.AsyncClient,
    factory: Factory,
    pharmacy: Pharmacy,
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    item = await commerce.product(client, supplier.admin, stock_quantity=5)
    other_supplier = await commerce.supplier(factory)
    foreign = await commerce.product(client, other_supplier.admin)
    address_id = await commerce.address(client, pharmacy.pharmacist)
    strangers_address = await commerce.address(client, pharmacy.admin)

    mixed = await reorder(client, pharmacy, address_id, [(item["id"], 1), (foreign["id"], 1)])
    not_mine = await reorder(client, pharmacy, strangers_address, [(item["id"], 1)])
    unknown = await reorder(client, pharmacy, address_id, [(str(uuid.uuid4()), 1)])
    zero = await reorder(client, pharmacy, address_id, [(item["id"], 0)])
    empty = await reorder(client, pharmacy, address_id, [])
    too_many = await reorder(client, pharmacy, address_id, [(item["id"], 6)])

    assert_error(mixed, 400, "VALIDATION_ERROR", "items")
    assert_error(not_mine, 400, "VALIDATION_ERROR", "shipping_address_id")
    assert_error(unknown, 400, "VALIDATION_ERROR", "items[0].product_id")
    assert_error(zero, 400, "VALIDATION_ERROR")
    assert_error(empty, 400, "VALIDATION_ERROR", "items")
    assert_error(too_many, 409, "INSUFFICIENT_STOCK")
    assert admin_sql("SELECT count(*) FROM pharmacy_reorders") == [(0,)]
    assert admin_sql("SELECT count(*) FROM orders") == [(0,)]


async def test_an_unverified_pharmacist_cannot_reorder(
    client: httpx.AsyncClient, factory: Factory, pharmacy: Pharmacy, supplier: commerce.Supplier
) -> None:
    item: dict[str, Any] = await commerce.product(client, supplier.admin)
    unverified = await factory.user("pharmacist", organization_id=pharmacy.id, verified=False)

    response = await client.post(
        REORDER,
        json={
            "items": [{"product_id": item["id"], "quantity": 1}],
            "shipping_address_id": str(uuid.uuid4()),
        },
        headers=unverified.headers,
    )

    assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_the_delivering_staffs_context_is_restored_after_the_stock_step(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    item = await commerce.product(client, supplier.admin)
    address_id = await commerce.address(client, pharmacy.pharmacist)
    placed = (await reorder(client, pharmacy, address_id, [(item["id"], 4)])).json()["data"]
    url = f"/api/v1/orders/{placed['order_id']}/status"
    for step in (
        {"status": "confirmed"},
        {"status": "processing"},
        {"status": "shipped", "tracking_number": "JD0146000038"},
    ):
        assert (await client.put(url, json=step, headers=supplier.sales.headers)).is_success
    staff = Principal(
        role="sales",
        organization_id=supplier.id,
        method=AuthMethod.bearer,
        user_id=supplier.sales.id,
    )

    async with database.unit_of_work() as session:
        await set_tenant_context(
            session, user_id=staff.user_id, organization_id=supplier.id, role="sales"
        )
        await lifecycle.change_status(
            session, staff, uuid.UUID(placed["order_id"]), OrderStatusUpdate(status="delivered")
        )
        settings = (
            await session.execute(
                text(
                    "SELECT current_setting('app.org_id'), current_setting('app.user_id'),"
                    " current_setting('app.role'), current_setting('app.system')"
                )
            )
        ).one()
        visible_stock = await session.scalar(text("SELECT count(*) FROM pharmacy_batches"))

    assert tuple(settings) == (str(supplier.id), str(supplier.sales.id), "sales", "")
    assert visible_stock == 0, "the supplier's context sees no pharmacy's rows"
    assert on_hand(admin_sql, pharmacy, item["id"]) == 4
