"""POST/GET/PUT/DELETE /api/v1/products: a supplier's admins manage their own
catalog; everyone reads the active products; withdrawn products stay visible to
their supplier's staff only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests import commerce
from tests.assertions import assert_error
from tests.catalog.helpers import (
    PRODUCTS,
    UNKNOWN,
    AdminSql,
    data,
    fetch,
    listing,
)
from tests.factories import Factory


def product_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Amlodipine 5mg",
        "category": "cardiovascular",
        "description": "Calcium channel blocker",
        "dosage": "5mg tablets",
        "packaging": "30 tablets/box",
        "indication": "Hypertension",
        "manufacturer_code": "AML-005",
        "price": "12.40",
        "stock_quantity": 250,
        **overrides,
    }


# POST /products


async def test_an_admin_adds_a_product_to_their_suppliers_catalog(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    body = product_body(
        category="Cardiovascular",
        distributor_price="10.10",
        low_stock_threshold=20,
        min_order_quantity=5,
        supplier_id=str(supplier.id),
    )

    created = data(await client.post(PRODUCTS, json=body, headers=supplier.admin.headers), 201)

    assert created["supplier_id"] == str(supplier.id)
    assert created["category"] == "cardiovascular"
    assert created["name"] == "Amlodipine 5mg"
    assert created["manufacturer_code"] == "AML-005"
    assert created["price"] == 12.4
    assert created["list_price"] == 12.4
    assert created["distributor_price"] == 10.1
    assert created["currency"] == "USD"
    assert created["min_order_quantity"] == 5
    assert created["is_active"] is True
    # The initial stock is in the answer, not only in the database.
    assert created["stock_quantity"] == 250
    assert created["available_quantity"] == 250
    assert created["in_stock"] is True
    assert created["reserved_quantity"] == 0
    assert created["low_stock_threshold"] == 20

    stored = await fetch(client, created["id"])
    assert stored["stock_quantity"] == 250
    assert stored["supplier_id"] == str(supplier.id)
    assert stored["price"] == 12.4
    assert stored["certifications"] == []
    assert stored["documents"] == []


async def test_an_admin_naming_another_supplier_is_refused_and_nothing_is_created(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    for named in (other.id, uuid.uuid4()):  # an existing supplier and no supplier answer alike
        response = await client.post(
            PRODUCTS,
            json=product_body(supplier_id=str(named)),
            headers=supplier.admin.headers,
        )
        assert_error(response, 400, fields={"supplier_id"})
        assert response.json()["error"]["message"] == (
            "You add products to your own supplier's catalog only"
        )
    assert (await listing(client, supplier_id=str(other.id)))["pagination"]["total"] == 0
    assert (await listing(client, supplier_id=str(supplier.id)))["pagination"]["total"] == 0


async def test_a_super_admin_adds_a_product_for_the_supplier_they_name(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    operator = await factory.user("super_admin")

    created = data(
        await client.post(
            PRODUCTS,
            json=product_body(supplier_id=str(supplier.id)),
            headers=operator.headers,
        ),
        201,
    )
    assert created["supplier_id"] == str(supplier.id)

    unnamed = await client.post(
        PRODUCTS, json=product_body(manufacturer_code="AML-010"), headers=operator.headers
    )
    assert_error(unnamed, 403, "AUTHORIZATION_ERROR")

    hospital = await factory.organization("hospital")
    not_a_supplier = await client.post(
        PRODUCTS,
        json=product_body(manufacturer_code="AML-011", supplier_id=str(hospital.id)),
        headers=operator.headers,
    )
    assert_error(not_a_supplier, 400, fields={"supplier_id"})


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"price": "-1.00"}, "price"),
        ({"price": "12.345"}, "price"),
        ({"distributor_price": "-0.01"}, "distributor_price"),
        ({"category": "astrology"}, "category"),
        ({"stock_quantity": -1}, "stock_quantity"),
        ({"min_order_quantity": 0}, "min_order_quantity"),
        ({"low_stock_threshold": -5}, "low_stock_threshold"),
        ({"manufacturer_code": "AML 005!"}, "manufacturer_code"),
        ({"currency": "usd"}, "currency"),
        ({"name": ""}, "name"),
        ({"reserved_quantity": 10}, "reserved_quantity"),
    ],
)
async def test_bad_product_input_is_a_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, override: dict[str, Any], field: str
) -> None:
    supplier = await commerce.supplier(factory)
    response = await client.post(
        PRODUCTS, json=product_body(**override), headers=supplier.admin.headers
    )
    assert_error(response, 400, fields={field})
    assert (await listing(client, supplier_id=str(supplier.id)))["products"] == []


async def test_a_missing_field_is_named(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    body = product_body()
    del body["indication"]
    response = await client.post(PRODUCTS, json=body, headers=supplier.admin.headers)
    assert_error(response, 400, fields={"indication"})


async def test_a_manufacturer_code_is_unique_whatever_its_case(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    await commerce.product(client, supplier.admin, manufacturer_code="CARD-050")

    for admin, code in [(supplier.admin, "CARD-050"), (other.admin, "card-050")]:
        response = await client.post(
            PRODUCTS, json=product_body(manufacturer_code=code), headers=admin.headers
        )
        body = assert_error(response, 409, "CONFLICT")
        assert [d["field"] for d in body["details"]] == ["manufacturer_code"]
    assert (await listing(client, supplier_id=str(other.id)))["pagination"]["total"] == 0


async def test_only_admins_add_products(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    customer = await factory.user("customer")
    distributor = await factory.user("distributor", organization_id=supplier.id)

    assert_error(await client.post(PRODUCTS, json=product_body()), 401, "AUTHENTICATION_ERROR")
    for account in (customer, supplier.sales, distributor):
        response = await client.post(PRODUCTS, json=product_body(), headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert (await listing(client, supplier_id=str(supplier.id)))["products"] == []


async def test_an_admin_of_a_non_supplier_may_not_add_products(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """Hospital admins hold the admin role too, but have no catalog to manage."""
    hospital = await factory.organization("hospital")
    admin = await factory.user("admin", organization_id=hospital.id)
    response = await client.post(PRODUCTS, json=product_body(), headers=admin.headers)
    assert_error(response, 403, "AUTHORIZATION_ERROR")


# GET /products/{id}


async def test_anyone_reads_an_active_product(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, name="Cardiomax 50mg")
    customer = await factory.user("customer")

    for account in (None, customer):
        detail = await fetch(client, product["id"], account)
        assert detail["id"] == product["id"]
        assert detail["name"] == "Cardiomax 50mg"
        assert detail["indication"] == "Hypertension, Angina"
        assert detail["price"] == 125.5


async def test_unknown_or_malformed_ids(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"{PRODUCTS}/{UNKNOWN}"), 404, "NOT_FOUND")
    assert_error(await client.get(f"{PRODUCTS}/not-a-uuid"), 400, fields={"product_id"})


async def test_a_withdrawn_product_is_seen_by_its_suppliers_staff_only(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    operator = await factory.user("super_admin")
    product = await commerce.product(client, supplier.admin, is_active=False)

    assert product["is_active"] is False
    for account in (None, customer, other.admin):
        headers = account.headers if account else {}
        assert_error(
            await client.get(f"{PRODUCTS}/{product['id']}", headers=headers), 404, "NOT_FOUND"
        )
    for account in (supplier.admin, supplier.sales, operator):
        assert (await fetch(client, product["id"], account))["is_active"] is False


# PUT /products/{id}


async def test_an_admin_changes_their_product(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=40)

    response = await client.put(
        f"{PRODUCTS}/{product['id']}",
        json={
            "name": "Cardiomax 100mg",
            "category": "ANTIBIOTICS",
            "price": "99.99",
            "distributor_price": "80.00",
            "min_order_quantity": 10,
            "manufacturer_code": "CARD-100",
        },
        headers=supplier.admin.headers,
    )

    updated = data(response)
    assert updated["name"] == "Cardiomax 100mg"
    assert updated["category"] == "antibiotics"
    assert updated["price"] == 99.99
    assert updated["distributor_price"] == 80.0
    assert updated["min_order_quantity"] == 10
    assert updated["manufacturer_code"] == "CARD-100"
    assert updated["stock_quantity"] == 40, "an update leaves the stock alone"
    stored = await fetch(client, product["id"])
    assert (stored["name"], stored["category"], stored["price"]) == (
        "Cardiomax 100mg",
        "antibiotics",
        99.99,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price": "-5"}, "price"),
        ({"price": "1.001"}, "price"),
        ({"category": "astrology"}, "category"),
        ({"name": None}, "name"),
        ({"min_order_quantity": 0}, "min_order_quantity"),
        # Stock changes go through stock adjustments, never a plain update.
        ({"stock_quantity": 5}, "stock_quantity"),
        ({}, "body"),
    ],
)
async def test_bad_updates_are_a_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    response = await client.put(
        f"{PRODUCTS}/{product['id']}", json=body, headers=supplier.admin.headers
    )
    assert_error(response, 400, fields={field})
    stored = await fetch(client, product["id"])
    assert (stored["price"], stored["category"], stored["stock_quantity"]) == (
        125.5,
        "cardiovascular",
        1000,
    )


async def test_an_update_to_a_taken_code_is_a_conflict_and_changes_nothing(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    await commerce.product(client, supplier.admin, manufacturer_code="TAKEN-1")
    product = await commerce.product(client, supplier.admin, manufacturer_code="MINE-1")

    response = await client.put(
        f"{PRODUCTS}/{product['id']}",
        json={"manufacturer_code": "taken-1", "name": "Renamed"},
        headers=supplier.admin.headers,
    )

    body = assert_error(response, 409, "CONFLICT")
    assert [d["field"] for d in body["details"]] == ["manufacturer_code"]
    stored = await fetch(client, product["id"])
    assert (stored["manufacturer_code"], stored["name"]) == ("MINE-1", "Cardiomax 50mg")


async def test_only_the_products_admins_change_it(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    product = await commerce.product(client, supplier.admin)
    url = f"{PRODUCTS}/{product['id']}"
    change = {"price": "1.00"}

    assert_error(await client.put(url, json=change), 401, "AUTHENTICATION_ERROR")
    for account in (customer, supplier.sales, other.admin):
        assert_error(await client.put(url, json=change, headers=account.headers), 403)
    unknown = await client.put(f"{PRODUCTS}/{UNKNOWN}", json=change, headers=supplier.admin.headers)
    assert_error(unknown, 404, "NOT_FOUND")
    assert (await fetch(client, product["id"]))["price"] == 125.5


# DELETE /products/{id}


async def test_withdrawing_a_product_takes_it_out_of_the_catalog(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    kept = await commerce.product(client, supplier.admin, name="Kept")

    withdrawn = data(
        await client.delete(f"{PRODUCTS}/{product['id']}", headers=supplier.admin.headers)
    )

    assert withdrawn["id"] == product["id"]
    assert withdrawn["is_active"] is False
    assert_error(await client.get(f"{PRODUCTS}/{product['id']}"), 404, "NOT_FOUND")
    names = [p["id"] for p in (await listing(client, supplier_id=str(supplier.id)))["products"]]
    assert names == [kept["id"]]
    # Soft delete: the row stays, for the orders that have it and for its staff.
    assert (await fetch(client, product["id"], supplier.admin))["is_active"] is False


async def test_withdrawing_twice_is_a_conflict(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    url = f"{PRODUCTS}/{product['id']}"
    data(await client.delete(url, headers=supplier.admin.headers))

    assert_error(await client.delete(url, headers=supplier.admin.headers), 409, "CONFLICT")


async def test_a_withdrawn_product_comes_back_when_reactivated(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    url = f"{PRODUCTS}/{product['id']}"
    data(await client.delete(url, headers=supplier.admin.headers))

    back = data(await client.put(url, json={"is_active": True}, headers=supplier.admin.headers))

    assert back["is_active"] is True
    assert (await fetch(client, product["id"]))["is_active"] is True


async def test_only_the_products_admins_withdraw_it(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    product = await commerce.product(client, supplier.admin)
    hidden = await commerce.product(client, supplier.admin, is_active=False)
    url = f"{PRODUCTS}/{product['id']}"

    assert_error(await client.delete(url), 401, "AUTHENTICATION_ERROR")
    for account in (customer, supplier.sales, other.admin):
        assert_error(await client.delete(url, headers=account.headers), 403, "AUTHORIZATION_ERROR")
    # Another supplier's admin is not told that a withdrawn product exists.
    hidden_url = f"{PRODUCTS}/{hidden['id']}"
    assert_error(await client.delete(hidden_url, headers=other.admin.headers), 404, "NOT_FOUND")
    assert_error(
        await client.delete(f"{PRODUCTS}/{UNKNOWN}", headers=supplier.admin.headers),
        404,
        "NOT_FOUND",
    )
    assert admin_sql("SELECT is_active FROM products WHERE id = %s", (product["id"],)) == [(True,)]


async def test_changes_are_audited(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    url = f"{PRODUCTS}/{product['id']}"
    data(await client.put(url, json={"price": "130.00"}, headers=supplier.admin.headers))
    data(await client.delete(url, headers=supplier.admin.headers))

    rows = admin_sql(
        "SELECT action, user_id::text, organization_id::text FROM activity_logs"
        " WHERE entity_id = %s ORDER BY created_at, action",
        (product["id"],),
    )
    actions = [action for action, _user, _org in rows]
    assert "product_created" in actions
    assert "product_updated" in actions
    assert "product_deactivated" in actions
    assert {(user, org) for _action, user, org in rows} == {
        (str(supplier.admin.id), str(supplier.id))
    }
