"""GET /reports/products/popular: products ranked by units sold."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Account
from tests.reports.helpers import Supplier
from tests.reports.scenario import RANGE_FROM, RANGE_TO, SalesWorld, as_api, expected_products

URL = "/api/v1/reports/products/popular"
KEYS = ("product_id", "product_name", "category", "quantity", "revenue", "orders")


async def popular(client: httpx.AsyncClient, account: Account, **query: Any) -> dict[str, Any]:
    params = {"from": RANGE_FROM.isoformat(), "to": RANGE_TO.isoformat(), **query}
    response = await client.get(URL, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_ranked_by_quantity_sold(client: httpx.AsyncClient, sales_world: SalesWorld) -> None:
    data = await popular(client, sales_world.supplier.sales)
    expected = sorted(
        expected_products(sales_world.sales(RANGE_FROM, RANGE_TO)).values(),
        key=lambda r: (-r["quantity"], -r["revenue"], r["product_name"]),
    )
    assert data["supplier_id"] == str(sales_world.supplier.id)
    assert data["currency"] == "USD"
    assert data["products"] == [as_api(row, *KEYS) for row in expected]
    # Counted by hand: the cancelled 100 Amlodipine and the refunded 10 Amoxicillin
    # are not sales, so Amoxicillin leads with 8.
    assert [(p["product_name"], p["quantity"]) for p in data["products"]] == [
        ("Amoxicillin 500mg", 8),
        ("Metformin 850mg", 7),
        ("Amlodipine 5mg", 6),
        ("Discontinued Tab", 1),
    ]
    first = data["products"][0]
    assert first["product_id"] == str(sales_world.products["amoxicillin"].id)
    assert (first["category"], first["revenue"], first["orders"]) == ("antibiotics", 39.92, 2)


async def test_limit(client: httpx.AsyncClient, sales_world: SalesWorld) -> None:
    data = await popular(client, sales_world.supplier.admin, limit=2)
    assert [p["product_name"] for p in data["products"]] == [
        "Amoxicillin 500mg",
        "Metformin 850mg",
    ]


async def test_range_narrows_the_ranking(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    # Only the 3rd: one order of 3 Amlodipine + 2 Amoxicillin, one of 4 Metformin.
    data = await popular(client, sales_world.supplier.admin, **{"to": RANGE_FROM.isoformat()})
    assert [(p["product_name"], p["quantity"], p["orders"]) for p in data["products"]] == [
        ("Metformin 850mg", 4, 1),
        ("Amlodipine 5mg", 3, 1),
        ("Amoxicillin 500mg", 2, 1),
    ]


async def test_only_the_callers_supplier(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    data = await popular(client, sales_world.other.sales)
    assert [(p["product_name"], p["quantity"]) for p in data["products"]] == [("Their Insulin", 10)]


async def test_super_admin_names_the_supplier(
    client: httpx.AsyncClient, sales_world: SalesWorld, super_admin: Account
) -> None:
    data = await popular(client, super_admin, supplier_id=str(sales_world.other.id))
    assert [p["product_name"] for p in data["products"]] == ["Their Insulin"]
    response = await client.get(URL, headers=super_admin.headers)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "supplier_id"


async def test_nothing_sold_is_an_empty_list(client: httpx.AsyncClient, supplier: Supplier) -> None:
    data = await popular(client, supplier.admin)
    assert data["products"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"from": "2025-03-10", "to": "2025-03-09"}, "from"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "to"),
    ],
)
async def test_bad_input(
    client: httpx.AsyncClient, supplier: Supplier, query: dict[str, str], field: str
) -> None:
    response = await client.get(URL, params=query, headers=supplier.admin.headers)
    assert response.status_code == 400, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]]
