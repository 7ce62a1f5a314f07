"""GET /dashboard/stats: the supplier's counts, revenue and low-stock list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from medhub.models.catalog import Product
from tests.factories import Account
from tests.reports.helpers import Line, Seeder, SeedInquiry, SeedOrder, Supplier
from tests.reports.scenario import money

URL = "/api/v1/dashboard/stats"
LOW_STOCK_PRODUCTS = 22


@dataclass
class Shop:
    orders: list[SeedOrder]
    low: list[Product]  # below their threshold, least available first
    other_low: Product


async def dashboard(client: httpx.AsyncClient, account: Account, **query: Any) -> dict[str, Any]:
    response = await client.get(URL, params=query, headers=account.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.fixture
async def shop(seeder: Seeder, supplier: Supplier, other_supplier: Supplier) -> Shop:
    for n in range(3):
        await seeder.product(supplier, f"Plenty {n}", stock=100, threshold=10)
    # Available = stock - reserved = k, below the threshold of 25.
    low = [
        await seeder.product(supplier, f"Scarce {k:02d}", stock=50, reserved=50 - k, threshold=25)
        for k in range(LOW_STOCK_PRODUCTS)
    ]
    await seeder.product(supplier, "At threshold", stock=10, threshold=10)
    await seeder.product(supplier, "No threshold", stock=0, threshold=0)
    await seeder.product(supplier, "Withdrawn", stock=0, threshold=5, active=False)
    other_low = await seeder.product(other_supplier, "Their scarce", stock=1, threshold=5)

    product = low[-1]
    now = datetime.now(UTC)

    def order(ago: timedelta, amount: str, status: str, paid: str, **kw: Any) -> SeedOrder:
        owner = kw.pop("owner", supplier)
        return SeedOrder(owner, now - ago, [Line(product, 1, Decimal(amount))], status, paid, **kw)

    orders = [
        order(timedelta(hours=1), "100.00", "delivered", "paid"),
        order(timedelta(days=10), "50.25", "pending", "pending"),
        order(timedelta(days=40), "70.00", "delivered", "paid"),
        order(timedelta(hours=2), "999.00", "cancelled", "pending"),
        order(timedelta(hours=3), "33.00", "shipped", "refunded"),
        order(timedelta(days=5), "20.10", "confirmed", "failed"),
        order(timedelta(hours=1), "500.00", "pending", "pending", currency="EUR"),
        order(timedelta(hours=1), "1000.00", "delivered", "paid", owner=other_supplier),
        order(timedelta(hours=1), "40.00", "pending", "pending", owner=other_supplier),
    ]
    await seeder.orders(*orders)
    when = now - timedelta(days=1)
    await seeder.inquiries(
        SeedInquiry(supplier, when, "pending"),
        SeedInquiry(supplier, when, "in_progress"),
        SeedInquiry(supplier, when, "resolved", resolved_at=now),
        SeedInquiry(supplier, when, "closed"),
        SeedInquiry(other_supplier, when, "pending"),
    )
    return Shop(orders, low, other_low)


async def test_counts_and_revenue(
    client: httpx.AsyncClient, supplier: Supplier, shop: Shop
) -> None:
    data = await dashboard(client, supplier.admin)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ours = [o for o in shop.orders if o.supplier is supplier]
    sold = [o for o in ours if o.currency == "USD" and o.counts_as_sale]
    awaiting = [
        o
        for o in ours
        if o.currency == "USD" and o.status != "cancelled" and o.payment_status == "pending"
    ]

    assert data["supplier_id"] == str(supplier.id)
    assert data["currency"] == "USD"
    assert data["active_products"] == 3 + LOW_STOCK_PRODUCTS + 2
    assert data["orders_total"] == len(ours) == 7
    assert data["orders_by_status"] == {
        "pending": 2,
        "confirmed": 1,
        "processing": 0,
        "shipped": 1,
        "delivered": 2,
        "cancelled": 1,
    }
    assert data["open_inquiries"] == 2
    assert data["pending_payments"] == len(awaiting) == 1
    assert data["pending_payments_amount"] == 50.25
    assert data["revenue_last_30_days"] == money(
        sum((o.total for o in sold if o.created_at >= now - timedelta(days=30)), Decimal(0))
    )
    # By hand: 100.00 + 50.25 + 20.10; not the cancelled, refunded, 40-day-old or EUR ones.
    assert data["revenue_last_30_days"] == 170.35
    assert data["revenue_this_month"] == money(
        sum((o.total for o in sold if o.created_at >= month_start), Decimal(0))
    )
    assert data["revenue_this_month"] >= 100.0


async def test_low_stock_list(client: httpx.AsyncClient, supplier: Supplier, shop: Shop) -> None:
    data = await dashboard(client, supplier.admin)
    assert data["low_stock_count"] == LOW_STOCK_PRODUCTS
    assert data["low_stock"] == [
        {
            "id": str(p.id),
            "name": p.name,
            "manufacturer_code": p.manufacturer_code,
            "available_quantity": p.stock_quantity - p.reserved_quantity,
            "low_stock_threshold": 25,
        }
        for p in shop.low[:20]
    ]
    assert [p["available_quantity"] for p in data["low_stock"]] == list(range(20))
    names = {p["name"] for p in data["low_stock"]}
    assert not names & {"At threshold", "No threshold", "Withdrawn", "Their scarce"}


async def test_another_supplier_has_its_own_dashboard(
    client: httpx.AsyncClient, other_supplier: Supplier, shop: Shop
) -> None:
    data = await dashboard(client, other_supplier.admin)
    assert data["active_products"] == 1
    assert data["orders_total"] == 2
    assert data["revenue_last_30_days"] == 1040.0
    assert (data["pending_payments"], data["pending_payments_amount"]) == (1, 40.0)
    assert data["open_inquiries"] == 1
    assert [p["id"] for p in data["low_stock"]] == [str(shop.other_low.id)]


async def test_other_currency(client: httpx.AsyncClient, supplier: Supplier, shop: Shop) -> None:
    data = await dashboard(client, supplier.admin, currency="EUR")
    assert data["currency"] == "EUR"
    assert data["revenue_last_30_days"] == 500.0
    assert (data["pending_payments"], data["pending_payments_amount"]) == (1, 500.0)
    # Counts of orders are not money: every currency.
    assert data["orders_total"] == 7


async def test_empty_supplier(client: httpx.AsyncClient, supplier: Supplier) -> None:
    data = await dashboard(client, supplier.admin)
    assert data["active_products"] == 0
    assert data["orders_total"] == 0
    assert set(data["orders_by_status"].values()) == {0}
    assert data["revenue_this_month"] == data["revenue_last_30_days"] == 0
    assert data["pending_payments_amount"] == 0
    assert data["low_stock"] == []


async def test_super_admin_names_the_supplier(
    client: httpx.AsyncClient, supplier: Supplier, super_admin: Account, shop: Shop
) -> None:
    as_admin = await dashboard(client, supplier.admin)
    as_super = await dashboard(client, super_admin, supplier_id=str(supplier.id))
    for data in (as_admin, as_super):
        data.pop("generated_at")
    assert as_super == as_admin

    response = await client.get(URL, headers=super_admin.headers)
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["error"]["details"]] == ["supplier_id"]


async def test_admin_cannot_open_another_suppliers_dashboard(
    client: httpx.AsyncClient, supplier: Supplier, other_supplier: Supplier
) -> None:
    response = await client.get(
        URL, params={"supplier_id": str(other_supplier.id)}, headers=supplier.admin.headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_bad_currency(client: httpx.AsyncClient, supplier: Supplier) -> None:
    response = await client.get(URL, params={"currency": "dollars"}, headers=supplier.admin.headers)
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["error"]["details"]] == ["currency"]
