"""Distributor bulk orders from CSV: one order for the whole file, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests import commerce
from tests.factories import Factory

AdminSql = Callable[..., list[tuple[Any, ...]]]


async def send(
    client: httpx.AsyncClient, buyer: commerce.Buyer, csv_text: str | bytes
) -> httpx.Response:
    content = csv_text.encode() if isinstance(csv_text, str) else csv_text
    return await client.post(
        "/api/v1/orders/bulk",
        files={"file": ("order.csv", content, "text/csv")},
        data={"shipping_address_id": buyer.address_id, "notes": "Monthly restock"},
        headers=buyer.account.headers,
    )


async def catalog(
    client: httpx.AsyncClient, factory: Factory
) -> tuple[commerce.Supplier, dict[str, Any], dict[str, Any], commerce.Buyer]:
    supplier = await commerce.supplier(factory)
    first = await commerce.product(
        client,
        supplier.admin,
        manufacturer_code="CARD-050",
        price="100.00",
        distributor_price="90.00",
        stock_quantity=500,
    )
    second = await commerce.product(
        client,
        supplier.admin,
        manufacturer_code="AMOX-500",
        price="10.00",
        stock_quantity=50,
        min_order_quantity=5,
    )
    distributor = await commerce.buyer(factory, "distributor", organization_id=supplier.id)
    return supplier, first, second, distributor


async def test_a_csv_becomes_one_order_at_the_distributor_price(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    _, first, second, distributor = await catalog(client, factory)

    response = await send(
        client, distributor, "manufacturer_code,quantity\r\ncard-050,100\r\nAMOX-500, 20\r\n\r\n"
    )

    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert [(i["manufacturer_code"], i["quantity"]) for i in order["items"]] == [
        ("CARD-050", 100),
        ("AMOX-500", 20),
    ]
    assert order["total_amount"] == 9200.0  # 100 x 90.00 + 20 x 10.00
    assert order["notes"] == "Monthly restock"
    reserved = dict(
        admin_sql(
            "SELECT id::text, reserved_quantity FROM products WHERE id IN (%s, %s)",
            [first["id"], second["id"]],
        )
    )
    assert reserved == {first["id"]: 100, second["id"]: 20}


async def test_every_bad_line_is_reported_and_nothing_is_ordered(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    _, first, _, distributor = await catalog(client, factory)

    response = await send(
        client,
        distributor,
        "manufacturer_code,quantity\n"
        "CARD-050,10\n"  # fine
        "NOPE-1,5\n"  # unknown
        "AMOX-500,ten\n"  # not a number
        "CARD-050,3\n"  # repeated
        ",4\n"  # no code
        "AMOX-500,-2\n",  # not positive
    )

    assert response.status_code == 400
    fields = [d["field"] for d in response.json()["error"]["details"]]
    assert fields == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    [(orders,)] = admin_sql("SELECT count(*) FROM orders")
    [(reserved,)] = admin_sql("SELECT reserved_quantity FROM products WHERE id = %s", [first["id"]])
    assert (orders, reserved) == (0, 0)


async def test_minimums_and_stock_are_checked_per_line(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    _, _, _, distributor = await catalog(client, factory)

    below_minimum = await send(client, distributor, "manufacturer_code,quantity\nAMOX-500,2\n")
    too_many = await send(
        client, distributor, "manufacturer_code,quantity\nCARD-050,10\nAMOX-500,51\n"
    )

    assert below_minimum.status_code == 400
    assert below_minimum.json()["error"]["details"][0]["field"] == "line 2.quantity"
    assert too_many.status_code == 409
    assert too_many.json()["error"]["code"] == "INSUFFICIENT_STOCK"
    assert [d["field"] for d in too_many.json()["error"]["details"]] == ["line 3"]
    [(reserved,)] = admin_sql("SELECT sum(reserved_quantity) FROM products")
    assert reserved == 0


async def test_malformed_files(client: httpx.AsyncClient, factory: Factory) -> None:
    _, _, _, distributor = await catalog(client, factory)

    no_header = await send(client, distributor, "CARD-050,10\n")
    only_header = await send(client, distributor, "manufacturer_code,quantity\n")
    binary = await send(client, distributor, b"\xff\xfe\x00\x01garbage")
    empty = await send(client, distributor, "")

    for response in (no_header, only_header, binary, empty):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]


async def test_bulk_ordering_is_for_distributors(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, _, _, distributor = await catalog(client, factory)
    customer = await commerce.buyer(factory)

    as_customer = await send(client, customer, "manufacturer_code,quantity\nCARD-050,1\n")
    anonymous = await client.post(
        "/api/v1/orders/bulk",
        files={"file": ("order.csv", b"manufacturer_code,quantity\nCARD-050,1\n", "text/csv")},
        data={"shipping_address_id": distributor.address_id},
    )
    missing_address = await client.post(
        "/api/v1/orders/bulk",
        files={"file": ("order.csv", b"manufacturer_code,quantity\nCARD-050,1\n", "text/csv")},
        headers=distributor.account.headers,
    )

    assert as_customer.status_code == 403
    assert anonymous.status_code == 401
    assert missing_address.status_code == 400
    assert missing_address.json()["error"]["details"]


async def test_a_nul_character_is_reported_on_its_line(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    _, _, _, distributor = await catalog(client, factory)

    response = await send(
        client, distributor, b"manufacturer_code,quantity\nCARD-050,10\nAMOX\x00-500,5\nX,1\x00\n"
    )

    assert response.status_code == 400, response.text
    details = response.json()["error"]["details"]
    assert [d["field"] for d in details] == ["line 3", "line 4"]
    assert details[0]["message"] == "AMOX-500: contains a NUL character"
    assert admin_sql("SELECT count(*) FROM orders") == [(0,)]
