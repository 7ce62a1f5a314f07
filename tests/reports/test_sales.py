"""GET /reports/sales: sums and groupings against figures computed from the inserted rows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.factories import Account, Factory
from tests.reports.helpers import Line, Seeder, SeedOrder, Supplier
from tests.reports.scenario import (
    RANGE_FROM,
    RANGE_TO,
    SalesWorld,
    as_api,
    at,
    expected_categories,
    expected_periods,
    expected_products,
    money,
)

URL = "/api/v1/reports/sales"
PRODUCT_KEYS = ("product_id", "product_name", "category", "quantity", "revenue", "orders")
CATEGORY_KEYS = ("quantity", "revenue", "orders")


async def sales_report(
    client: httpx.AsyncClient,
    account: Account,
    first: date = RANGE_FROM,
    last: date = RANGE_TO,
    **query: Any,
) -> dict[str, Any]:
    params = {"from": first.isoformat(), "to": last.isoformat(), **query}
    response = await client.get(URL, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    data: dict[str, Any] = body["data"]
    return data


def ranked_by_revenue(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows.values(), key=lambda r: (-r["revenue"], -r["quantity"], r["product_name"]))


async def test_daily_report_matches_the_orders(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    data = await sales_report(client, sales_world.supplier.admin, group_by="day")
    sales = sales_world.sales(RANGE_FROM, RANGE_TO)

    assert data["supplier_id"] == str(sales_world.supplier.id)
    assert (data["date_from"], data["date_to"]) == ("2025-03-03", "2025-03-16")
    assert data["group_by"] == "day"
    assert data["currency"] == "USD"
    # Every day of the range, in order, zeros included.
    assert len(data["periods"]) == 14
    assert data["periods"] == expected_periods(sales, RANGE_FROM, RANGE_TO, "day")
    assert data["periods"][1] == {
        "period_start": "2025-03-04",
        "period_end": "2025-03-04",
        "orders": 0,
        "revenue": 0.0,
        "paid_revenue": 0.0,
    }

    # Pending, confirmed, processing, delivered count; cancelled, refunded, another
    # currency, another supplier and the seconds around the range do not.
    revenue = sum((o.total for o in sales), Decimal(0))
    paid = sum((o.total for o in sales if o.payment_status == "paid"), Decimal(0))
    assert len(sales) == 5
    assert data["totals"] == {
        "orders": 5,
        "revenue": money(revenue),
        "paid_revenue": money(paid),
        "average_order_value": money(revenue / 5),
        "cancelled_orders": len(sales_world.cancelled(RANGE_FROM, RANGE_TO)),
        "currency": "USD",
    }
    # The same figures worked out by hand, so the Python model above cannot drift.
    assert data["totals"]["revenue"] == 162.71
    assert data["totals"]["paid_revenue"] == 125.96
    assert data["totals"]["average_order_value"] == 32.54
    assert data["totals"]["cancelled_orders"] == 1


async def test_products_and_categories(client: httpx.AsyncClient, sales_world: SalesWorld) -> None:
    data = await sales_report(client, sales_world.supplier.admin)
    sales = sales_world.sales(RANGE_FROM, RANGE_TO)

    products = ranked_by_revenue(expected_products(sales))
    assert data["by_product"] == [as_api(row, *PRODUCT_KEYS) for row in products]
    # Current product names, the deleted product by its snapshot; cancelled units left out.
    assert [
        (p["product_name"], p["quantity"], p["revenue"], p["orders"]) for p in data["by_product"]
    ] == [
        ("Amlodipine 5mg", 6, 59, 3),
        ("Metformin 850mg", 7, 51.45, 3),
        ("Amoxicillin 500mg", 8, 39.92, 2),
        ("Discontinued Tab", 1, 12.34, 1),
    ]
    assert data["by_product"][3]["product_id"] is None
    assert "Their Insulin" not in {p["product_name"] for p in data["by_product"]}

    categories = expected_categories(sales)
    assert data["by_category"] == [
        {"category": name, **as_api(row, *CATEGORY_KEYS)}
        for name, row in sorted(categories.items(), key=lambda kv: -kv[1]["revenue"])
    ]
    assert [c["category"] for c in data["by_category"]] == [
        "cardiovascular",
        "diabetes",
        "antibiotics",
        "oncology",
    ]


async def test_top_limits_the_product_list(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    data = await sales_report(client, sales_world.supplier.admin, top=2)
    assert [p["product_name"] for p in data["by_product"]] == ["Amlodipine 5mg", "Metformin 850mg"]
    # Only the list is cut; the totals and categories still cover every sale.
    assert data["totals"]["orders"] == 5
    assert len(data["by_category"]) == 4


@pytest.mark.parametrize(
    ("first", "last", "group_by", "starts"),
    [
        (RANGE_FROM, RANGE_TO, "week", ["2025-03-03", "2025-03-10"]),
        # A range starting mid-week: the first bucket is that whole ISO week, but only
        # the days inside the range are counted.
        (date(2025, 3, 5), date(2025, 3, 12), "week", ["2025-03-03", "2025-03-10"]),
        (date(2025, 2, 20), date(2025, 4, 5), "month", ["2025-02-01", "2025-03-01", "2025-04-01"]),
    ],
)
async def test_weekly_and_monthly_periods(
    client: httpx.AsyncClient,
    sales_world: SalesWorld,
    *,
    first: date,
    last: date,
    group_by: str,
    starts: list[str],
) -> None:
    data = await sales_report(client, sales_world.supplier.admin, first, last, group_by=group_by)
    sales = sales_world.sales(first, last)
    assert [p["period_start"] for p in data["periods"]] == starts
    assert data["periods"] == expected_periods(sales, first, last, group_by)
    assert sum(p["orders"] for p in data["periods"]) == data["totals"]["orders"] == len(sales)


async def test_month_periods_are_filled_and_bounded(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    data = await sales_report(
        client, sales_world.supplier.admin, date(2025, 2, 20), date(2025, 4, 5), group_by="month"
    )
    february, march, april = data["periods"]
    assert (february["period_end"], february["orders"], february["revenue"]) == (
        "2025-02-28",
        0,
        0.0,
    )
    # March now also holds the orders of the 2nd and the 17th, outside the fortnight.
    assert march["orders"] == 7
    assert march["revenue"] == money(
        sum((o.total for o in sales_world.sales(date(2025, 3, 1), date(2025, 3, 31))), Decimal(0))
    )
    assert (april["period_end"], april["orders"]) == ("2025-04-30", 0)


async def test_each_currency_is_reported_on_its_own(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    data = await sales_report(client, sales_world.supplier.admin, currency="EUR")
    assert data["currency"] == "EUR"
    assert data["totals"]["orders"] == 1
    assert data["totals"]["revenue"] == 63.0
    assert data["totals"]["currency"] == "EUR"
    assert [(p["product_name"], p["quantity"]) for p in data["by_product"]] == [
        ("Amlodipine 5mg", 7)
    ]


async def test_another_suppliers_staff_see_only_their_own(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    data = await sales_report(client, sales_world.other.admin)
    theirs = sales_world.sales(RANGE_FROM, RANGE_TO, supplier=sales_world.other)
    assert data["supplier_id"] == str(sales_world.other.id)
    assert data["totals"]["orders"] == len(theirs) == 2
    assert data["totals"]["revenue"] == 200.0
    assert [p["product_name"] for p in data["by_product"]] == ["Their Insulin"]
    assert [c["category"] for c in data["by_category"]] == ["diabetes"]


async def test_sales_staff_read_the_same_report(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    by_admin = await sales_report(client, sales_world.supplier.admin)
    by_sales = await sales_report(client, sales_world.supplier.sales)
    assert by_sales == by_admin


async def test_super_admin_chooses_the_supplier(
    client: httpx.AsyncClient, sales_world: SalesWorld, super_admin: Account, factory: Factory
) -> None:
    by_admin = await sales_report(client, sales_world.supplier.admin)
    chosen = await sales_report(client, super_admin, supplier_id=str(sales_world.supplier.id))
    assert chosen == by_admin

    params = {"from": RANGE_FROM.isoformat(), "to": RANGE_TO.isoformat()}
    missing = await client.get(URL, params=params, headers=super_admin.headers)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in missing.json()["error"]["details"]] == ["supplier_id"]

    hospital = await factory.organization("hospital")
    for unknown in (uuid.uuid4(), hospital.id):
        response = await client.get(
            URL, params={**params, "supplier_id": str(unknown)}, headers=super_admin.headers
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_staff_cannot_report_on_another_supplier(
    client: httpx.AsyncClient, sales_world: SalesWorld
) -> None:
    admin = sales_world.supplier.admin
    response = await client.get(
        URL, params={"supplier_id": str(sales_world.other.id)}, headers=admin.headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    # Naming their own supplier is allowed (and changes nothing).
    own = await sales_report(client, admin, supplier_id=str(sales_world.supplier.id))
    assert own["supplier_id"] == str(sales_world.supplier.id)


async def test_default_range_is_the_last_30_days(
    client: httpx.AsyncClient, seeder: Seeder, supplier: Supplier
) -> None:
    product = await seeder.product(supplier, "Losartan 50mg")
    before = datetime.now(UTC)
    first_day = before.date() - timedelta(days=29)
    await seeder.orders(
        SeedOrder(supplier, before - timedelta(minutes=1), [Line(product, 2, Decimal("8.00"))]),
        SeedOrder(supplier, at(first_day, 0), [Line(product, 1, Decimal("8.00"))]),
        # The day before the default range.
        SeedOrder(
            supplier, at(first_day, 0) - timedelta(seconds=1), [Line(product, 5, Decimal("8.00"))]
        ),
    )
    response = await client.get(URL, headers=supplier.admin.headers)
    after = datetime.now(UTC)
    assert response.status_code == 200
    data = response.json()["data"]
    today = date.fromisoformat(data["date_to"])
    assert today in {before.date(), after.date()}  # UTC days, whatever the machine's zone
    assert data["date_from"] == (today - timedelta(days=29)).isoformat()
    assert len(data["periods"]) == 30
    assert data["periods"][0]["period_start"] == data["date_from"]
    assert data["periods"][-1]["period_start"] == data["date_to"]
    if today == before.date():
        assert (data["totals"]["orders"], data["totals"]["revenue"]) == (2, 24.0)


async def test_longest_allowed_range(client: httpx.AsyncClient, sales_world: SalesWorld) -> None:
    # 2024-03-02 .. 2025-03-02 is 366 days (2024 was a leap year), the most allowed.
    data = await sales_report(
        client, sales_world.supplier.admin, date(2024, 3, 2), date(2025, 3, 2)
    )
    assert len(data["periods"]) == 366
    # The last second of 2 March counts, and nothing else of the world is that early.
    assert data["totals"]["orders"] == 1
    assert data["totals"]["revenue"] == 400.0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2025-03-10", "to": "2025-03-01"}, "from"),
        ({"from": "2024-03-01", "to": "2025-03-02"}, "to"),
        ({"from": "03/03/2025"}, "from"),
        ({"to": "2025-02-30"}, "to"),
        ({"group_by": "year"}, "group_by"),
        ({"top": "0"}, "top"),
        ({"top": "101"}, "top"),
        ({"currency": "usd"}, "currency"),
        ({"supplier_id": "not-a-uuid"}, "supplier_id"),
    ],
)
async def test_bad_input_is_a_400_with_details(
    client: httpx.AsyncClient, supplier: Supplier, query: dict[str, str], field: str
) -> None:
    response = await client.get(URL, params=query, headers=supplier.admin.headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in error["details"]]
