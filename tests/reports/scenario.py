"""A fortnight of a supplier's sales, plus the noise a report must leave out, and the
expected figures computed from those rows in plain Python."""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from medhub.models.catalog import Product
from tests.reports.helpers import Line, Seeder, SeedOrder, Supplier

RANGE_FROM = date(2025, 3, 3)  # a Monday
RANGE_TO = date(2025, 3, 16)  # the Sunday after next


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def money(value: Decimal) -> float:
    """How the API renders an amount: cents, as a JSON number."""
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass
class SalesWorld:
    supplier: Supplier
    other: Supplier
    products: dict[str, Product]
    orders: list[SeedOrder]

    def sales(
        self, first: date, last: date, *, currency: str = "USD", supplier: Supplier | None = None
    ) -> list[SeedOrder]:
        """The orders a report over [first, last] must count."""
        owner = supplier or self.supplier
        start = at(first, 0)
        end = at(last + timedelta(days=1), 0)
        return [
            o
            for o in self.orders
            if o.supplier is owner
            and o.currency == currency
            and start <= o.created_at < end
            and o.counts_as_sale
        ]

    def cancelled(self, first: date, last: date) -> list[SeedOrder]:
        start, end = at(first, 0), at(last + timedelta(days=1), 0)
        return [
            o
            for o in self.orders
            if o.supplier is self.supplier
            and o.currency == "USD"
            and start <= o.created_at < end
            and o.status == "cancelled"
        ]


async def build_sales_world(seeder: Seeder, supplier: Supplier, other: Supplier) -> SalesWorld:
    amlodipine = await seeder.product(supplier, "Amlodipine 5mg", price=Decimal("10.00"))
    amoxicillin = await seeder.product(
        supplier, "Amoxicillin 500mg", category="antibiotics", price=Decimal("4.99")
    )
    metformin = await seeder.product(
        supplier, "Metformin 850mg", category="diabetes", price=Decimal("7.35")
    )
    theirs = await seeder.product(other, "Their Insulin", category="diabetes")
    d = RANGE_FROM
    orders = [
        SeedOrder(
            supplier,
            at(d, 10),
            [Line(amlodipine, 3, Decimal("10.00")), Line(amoxicillin, 2, Decimal("4.99"))],
            status="delivered",
            payment_status="paid",
        ),
        # Late in the UTC day: still the 3rd, whatever the server's time zone.
        SeedOrder(supplier, at(d, 23, 30), [Line(metformin, 4, Decimal("7.35"))]),
        SeedOrder(
            supplier,
            at(d + timedelta(days=2), 12),
            [Line(amlodipine, 1, Decimal("10.00")), Line(metformin, 2, Decimal("7.35"))],
            status="confirmed",
            payment_status="paid",
        ),
        # Cancelled: would top every ranking if it were counted.
        SeedOrder(
            supplier,
            at(d + timedelta(days=2), 13),
            [Line(amlodipine, 100, Decimal("10.00"))],
            status="cancelled",
        ),
        # Refunded: the money went back.
        SeedOrder(
            supplier,
            at(d + timedelta(days=7), 8),
            [Line(amoxicillin, 10, Decimal("4.99"))],
            status="shipped",
            payment_status="refunded",
        ),
        SeedOrder(
            supplier,
            at(d + timedelta(days=9), 9),
            [
                Line(amoxicillin, 6, Decimal("4.99")),
                Line(amlodipine, 2, Decimal("9.50")),
                Line(None, 1, Decimal("12.34"), name="Discontinued Tab", category="oncology"),
            ],
            status="processing",
            payment_status="paid",
        ),
        # The last second of the range, and the last one before it.
        SeedOrder(
            supplier,
            at(RANGE_TO, 23, 59, 59),
            [Line(metformin, 1, Decimal("7.35"))],
            status="pending",
        ),
        SeedOrder(
            supplier,
            at(d - timedelta(days=1), 23, 59, 59),
            [Line(amlodipine, 40, Decimal("10.00"))],
            status="delivered",
            payment_status="paid",
        ),
        SeedOrder(
            supplier,
            at(RANGE_TO + timedelta(days=1), 0),
            [Line(amlodipine, 50, Decimal("10.00"))],
            status="delivered",
            payment_status="paid",
        ),
        # Another currency: never summed with dollars.
        SeedOrder(
            supplier,
            at(d + timedelta(days=4), 15),
            [Line(amlodipine, 7, Decimal("9.00"))],
            status="delivered",
            payment_status="paid",
            currency="EUR",
        ),
        # Another supplier, inside the range.
        SeedOrder(
            other,
            at(d + timedelta(days=1), 11),
            [Line(theirs, 9, Decimal("20.00"))],
            status="delivered",
            payment_status="paid",
        ),
        SeedOrder(
            other,
            at(d + timedelta(days=9), 11),
            [Line(theirs, 1, Decimal("20.00"))],
        ),
    ]
    await seeder.orders(*orders)
    products = {
        "amlodipine": amlodipine,
        "amoxicillin": amoxicillin,
        "metformin": metformin,
        "theirs": theirs,
    }
    return SalesWorld(supplier, other, products, orders)


def bucket_of(day: date, group_by: str) -> date:
    if group_by == "day":
        return day
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: date, group_by: str) -> date:
    if group_by == "day":
        return start + timedelta(days=1)
    if group_by == "week":
        return start + timedelta(days=7)
    days_in_month = calendar.monthrange(start.year, start.month)[1]
    return start + timedelta(days=days_in_month)


def expected_periods(
    sales: list[SeedOrder], first: date, last: date, group_by: str
) -> list[dict[str, Any]]:
    periods: list[dict[str, Any]] = []
    start = bucket_of(first, group_by)
    while start <= last:
        following = next_bucket(start, group_by)
        inside = [o for o in sales if start <= o.created_at.date() < following]
        periods.append(
            {
                "period_start": start.isoformat(),
                "period_end": (following - timedelta(days=1)).isoformat(),
                "orders": len(inside),
                "revenue": money(sum((o.total for o in inside), Decimal(0))),
                "paid_revenue": money(
                    sum((o.total for o in inside if o.payment_status == "paid"), Decimal(0))
                ),
            }
        )
        start = following
    return periods


def expected_products(sales: list[SeedOrder]) -> dict[str, dict[str, Any]]:
    """Per product name: quantity, revenue (Decimal), orders, category, id."""
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"quantity": 0, "revenue": Decimal(0), "orders": set()}
    )
    for order in sales:
        for line in order.lines:
            row = rows[line.product_name]
            row["quantity"] += line.quantity
            row["revenue"] += line.subtotal
            row["orders"].add(order.id)
            row["category"] = line.product_category
            row["product_id"] = str(line.product.id) if line.product else None
    return {
        name: {**row, "orders": len(row["orders"]), "product_name": name}
        for name, row in rows.items()
    }


def expected_categories(sales: list[SeedOrder]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"quantity": 0, "revenue": Decimal(0), "orders": set()}
    )
    for order in sales:
        for line in order.lines:
            row = rows[line.product_category]
            row["quantity"] += line.quantity
            row["revenue"] += line.subtotal
            row["orders"].add(order.id)
    return {name: {**row, "orders": len(row["orders"])} for name, row in rows.items()}


def as_api(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The expected row as the API renders it (amounts as numbers)."""
    return {k: money(row[k]) if isinstance(row[k], Decimal) else row[k] for k in keys}
