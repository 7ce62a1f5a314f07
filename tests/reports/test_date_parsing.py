"""Dates in filters are strict ISO-8601 within supported bounds: no 500, no guessing."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Account
from tests.reports.helpers import Supplier

REPORTS = ("/api/v1/reports/sales", "/api/v1/reports/inquiries", "/api/v1/reports/products/popular")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_to": "9999-12-31"}, "date_to"),  # overflowed the exclusive end: a 500 before
        ({"to": "9999-12-31"}, "to"),
        ({"from": "0001-01-01", "to": "0001-01-30"}, "from"),
        ({"date_to": "0"}, "date_to"),  # read as 1970-01-01 before
        ({"to": "0.5"}, "to"),  # read as a timestamp before
        ({"from": "1700000000"}, "from"),
        ({"from": "2026-1-5"}, "from"),
        ({"to": "2026-01-05T00:00:00"}, "to"),
    ],
)
async def test_bad_dates_are_400_naming_the_parameter(
    client: httpx.AsyncClient, supplier: Supplier, params: dict[str, str], field: str
) -> None:
    for path in REPORTS:
        response = await client.get(path, params=params, headers=supplier.admin.headers)
        assert response.status_code == 400, (path, response.text)
        body = response.json()
        assert body["error"]["code"] == "VALIDATION_ERROR"
        assert field in {detail["field"] for detail in body["error"]["details"]}, (path, body)


async def test_old_and_new_spellings_select_the_same_days(
    client: httpx.AsyncClient, supplier: Supplier
) -> None:
    new = await client.get(
        REPORTS[0],
        params={"from": "2026-03-01", "to": "2026-03-14"},
        headers=supplier.admin.headers,
    )
    old = await client.get(
        REPORTS[0],
        params={"date_from": "2026-03-01", "date_to": "2026-03-14"},
        headers=supplier.admin.headers,
    )
    assert new.status_code == old.status_code == 200
    assert (new.json()["data"]["date_from"], new.json()["data"]["date_to"]) == (
        "2026-03-01",
        "2026-03-14",
    )
    assert new.json()["data"] == old.json()["data"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/orders", {"to": "9999-12-31"}, "to"),
        ("/api/v1/orders", {"date_from": "0"}, "date_from"),
        ("/api/v1/admin/activity-logs", {"from": "0"}, "from"),
        ("/api/v1/admin/activity-logs", {"to": "0.5"}, "to"),
        ("/api/v1/admin/activity-logs", {"to": "9999-12-31T23:59:59Z"}, "to"),
        ("/api/v1/inquiries", {"from": "12"}, "from"),
    ],
)
async def test_list_filters_parse_dates_strictly(
    client: httpx.AsyncClient, supplier: Supplier, path: str, params: dict[str, str], field: str
) -> None:
    admin: Account = supplier.admin
    response = await client.get(path, params=params, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert field in {detail["field"] for detail in response.json()["error"]["details"]}


async def test_iso_instants_with_offsets_still_filter_logs(
    client: httpx.AsyncClient, supplier: Supplier
) -> None:
    response = await client.get(
        "/api/v1/admin/activity-logs",
        params={"from": "2026-01-01T09:30:00+02:00", "to": "2999-01-01"},
        headers=supplier.admin.headers,
    )
    assert response.status_code == 200, response.text
