"""GET /reports/inquiries: counts by status and priority, conversion, resolution time."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from tests.factories import Account
from tests.reports.helpers import Line, Seeder, SeedInquiry, SeedOrder, Supplier
from tests.reports.scenario import RANGE_FROM, RANGE_TO, at

URL = "/api/v1/reports/inquiries"
STATUSES = ("pending", "in_progress", "resolved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")


async def inquiry_report(
    client: httpx.AsyncClient, account: Account, **query: Any
) -> dict[str, Any]:
    params = {"from": RANGE_FROM.isoformat(), "to": RANGE_TO.isoformat(), **query}
    response = await client.get(URL, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.fixture
async def inquiries(
    seeder: Seeder, supplier: Supplier, other_supplier: Supplier
) -> list[SeedInquiry]:
    product = await seeder.product(supplier, "Atorvastatin 20mg")
    first, second = (
        SeedOrder(supplier, at(RANGE_FROM, 12), [Line(product, 5, Decimal("3.10"))]),
        SeedOrder(supplier, at(RANGE_FROM, 13), [Line(product, 9, Decimal("3.10"))]),
    )
    await seeder.orders(first, second)
    d = RANGE_FROM
    rows = [
        SeedInquiry(supplier, at(d, 9)),
        SeedInquiry(supplier, at(d + timedelta(days=1), 10), "in_progress", "high"),
        SeedInquiry(
            supplier,
            at(d + timedelta(days=2), 8),
            "resolved",
            "urgent",
            order_id=first.id,
            resolved_at=at(d + timedelta(days=2), 10),
        ),
        SeedInquiry(
            supplier,
            at(d + timedelta(days=3), 8),
            "resolved",
            resolved_at=at(d + timedelta(days=3), 13),
        ),
        SeedInquiry(
            supplier,
            at(d + timedelta(days=4), 12),
            "closed",
            "low",
            order_id=second.id,
            resolved_at=at(d + timedelta(days=5), 15, 20),
        ),
        SeedInquiry(supplier, at(RANGE_TO, 23), "pending", "low"),
        # Outside the range, and another supplier's.
        SeedInquiry(
            supplier,
            at(RANGE_TO + timedelta(days=1), 0),
            "resolved",
            "urgent",
            order_id=first.id,
            resolved_at=at(RANGE_TO + timedelta(days=9), 0),
        ),
        SeedInquiry(other_supplier, at(d + timedelta(days=1), 9), "closed", "urgent"),
    ]
    await seeder.inquiries(*rows)
    return rows


async def test_counts_conversion_and_resolution_time(
    client: httpx.AsyncClient, supplier: Supplier, inquiries: list[SeedInquiry]
) -> None:
    data = await inquiry_report(client, supplier.sales)
    start, end = at(RANGE_FROM, 0), at(RANGE_TO + timedelta(days=1), 0)
    inside = [i for i in inquiries if i.supplier is supplier and start <= i.created_at < end]
    statuses = Counter(i.status for i in inside)
    priorities = Counter(i.priority for i in inside)
    converted = sum(1 for i in inside if i.order_id is not None)
    durations = [
        Decimal((i.resolved_at - i.created_at).total_seconds()) / 3600
        for i in inside
        if i.resolved_at is not None
    ]
    hours = (sum(durations, Decimal(0)) / len(durations)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )

    assert data["supplier_id"] == str(supplier.id)
    assert data["total"] == len(inside)
    assert data["by_status"] == {s: statuses[s] for s in STATUSES}
    assert data["by_priority"] == {p: priorities[p] for p in PRIORITIES}
    assert data["converted"] == converted
    assert data["conversion_rate"] == round(converted / len(inside), 4)
    assert data["average_resolution_hours"] == float(hours)
    # By hand: 6 inquiries, 2 became orders; resolved after 2 h, 5 h and 27 h 20 min.
    assert (data["total"], data["converted"], data["conversion_rate"]) == (6, 2, 0.3333)
    assert data["by_status"] == {"pending": 2, "in_progress": 1, "resolved": 2, "closed": 1}
    assert data["average_resolution_hours"] == 11.44


async def test_other_supplier_sees_only_theirs(
    client: httpx.AsyncClient, other_supplier: Supplier, inquiries: list[SeedInquiry]
) -> None:
    data = await inquiry_report(client, other_supplier.admin)
    assert data["total"] == 1
    assert data["by_priority"]["urgent"] == 1
    assert data["by_status"]["closed"] == 1
    assert data["converted"] == 0
    assert data["average_resolution_hours"] is None


async def test_no_inquiries(client: httpx.AsyncClient, supplier: Supplier) -> None:
    data = await inquiry_report(client, supplier.admin)
    assert data["total"] == 0
    assert data["converted"] == 0
    assert data["conversion_rate"] == 0
    assert data["average_resolution_hours"] is None
    assert data["by_status"] == dict.fromkeys(STATUSES, 0)
    assert data["by_priority"] == dict.fromkeys(PRIORITIES, 0)


async def test_super_admin(
    client: httpx.AsyncClient,
    supplier: Supplier,
    super_admin: Account,
    inquiries: list[SeedInquiry],
) -> None:
    data = await inquiry_report(client, super_admin, supplier_id=str(supplier.id))
    assert data["total"] == 6
    response = await client.get(URL, headers=super_admin.headers)
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["error"]["details"]] == ["supplier_id"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2025-03-10", "to": "2025-03-09"}, "from"),
        ({"from": "2023-01-01", "to": "2025-01-01"}, "to"),
        ({"from": "yesterday"}, "from"),
    ],
)
async def test_bad_dates(
    client: httpx.AsyncClient, supplier: Supplier, query: dict[str, str], field: str
) -> None:
    response = await client.get(URL, params=query, headers=supplier.admin.headers)
    assert response.status_code == 400, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]]
