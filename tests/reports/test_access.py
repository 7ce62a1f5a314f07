"""Who may read which report: staff of a supplier, per the permission table."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Factory
from tests.reports.helpers import Supplier

REPORTS = ("/api/v1/reports/sales", "/api/v1/reports/products/popular", "/api/v1/reports/inquiries")
DASHBOARD = "/api/v1/dashboard/stats"
EVERY_ENDPOINT = (*REPORTS, DASHBOARD)


@pytest.mark.parametrize("url", EVERY_ENDPOINT)
async def test_anonymous_is_401(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "AUTHENTICATION_ERROR"


@pytest.mark.parametrize("url", EVERY_ENDPOINT)
@pytest.mark.parametrize("role", ["customer", "distributor", "doctor", "patient"])
async def test_buyers_and_other_roles_are_403(
    client: httpx.AsyncClient, factory: Factory, supplier: Supplier, url: str, role: str
) -> None:
    account = await factory.user(role)
    response = await client.get(
        url, params={"supplier_id": str(supplier.id)}, headers=account.headers
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "AUTHORIZATION_ERROR"


async def test_sales_staff_read_reports_but_not_the_dashboard(
    client: httpx.AsyncClient, supplier: Supplier
) -> None:
    for url in REPORTS:
        response = await client.get(url, headers=supplier.sales.headers)
        assert response.status_code == 200, (url, response.text)
    response = await client.get(DASHBOARD, headers=supplier.sales.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AUTHORIZATION_ERROR"


@pytest.mark.parametrize("url", EVERY_ENDPOINT)
async def test_admin_of_an_organization_that_sells_nothing_is_403(
    client: httpx.AsyncClient, factory: Factory, url: str
) -> None:
    hospital = await factory.organization("hospital")
    admin = await factory.user("admin", organization_id=hospital.id)
    response = await client.get(url, headers=admin.headers)
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("url", EVERY_ENDPOINT)
async def test_super_admin_must_name_a_supplier(
    client: httpx.AsyncClient, factory: Factory, url: str
) -> None:
    super_admin = await factory.user("super_admin")
    response = await client.get(url, headers=super_admin.headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == [{"field": "supplier_id", "message": "required for super admins"}]
