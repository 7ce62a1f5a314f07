"""GET /api/v1/inquiries and /inquiries/{id}: own inquiries for everyone, all of their
supplier's for its staff, every inquiry for super admins; others' rows are 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.auth.helpers import assert_error
from tests.factories import Account, Factory
from tests.inquiries.conftest import (
    API,
    AdminSql,
    Supplier,
    make_product,
    submit,
)


def references(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["reference_number"] for item in response.json()["data"]["inquiries"]]


async def test_list_needs_authentication(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(API), 401, "AUTHENTICATION_ERROR")


async def test_customers_see_their_own(
    client: httpx.AsyncClient,
    medpharm: Supplier,
    customer: Account,
    other_customer: Account,
) -> None:
    first = await submit(client, customer.headers, subject="First")
    second = await submit(client, customer.headers, subject="Second")
    await submit(client, other_customer.headers)
    await submit(client)  # anonymous

    response = await client.get(API, headers=customer.headers)
    assert references(response) == [second["reference_number"], first["reference_number"]]
    data = response.json()["data"]
    assert data["pagination"] == {"page": 1, "limit": 20, "total": 2, "total_pages": 1}
    item = data["inquiries"][0]
    assert item["id"] == second["inquiry_id"]
    assert item["subject"] == "Second"
    assert item["status"] == "pending"
    assert "message" not in item  # the list leaves the text out


async def test_staff_see_their_suppliers(
    *,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    factory: Factory,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
) -> None:
    ours = [(await submit(client))["reference_number"] for _ in range(2)]
    ours.append((await submit(client, customer.headers))["reference_number"])
    product_id = str(make_product(admin_sql, other_supplier.id))
    theirs = (await submit(client, customer.headers, product_id=product_id))["reference_number"]

    for staff in (medpharm.admin, medpharm.sales):
        assert references(await client.get(API, headers=staff.headers)) == ours[::-1]
    assert references(await client.get(API, headers=other_supplier.sales.headers)) == [theirs]
    # The customer sees both of theirs, whichever supplier they went to.
    assert references(await client.get(API, headers=customer.headers)) == [theirs, ours[2]]
    super_admin = await factory.user("super_admin")
    assert references(await client.get(API, headers=super_admin.headers)) == [theirs, *ours[::-1]]


async def test_an_organization_admin_sees_what_they_sent(
    client: httpx.AsyncClient, factory: Factory, medpharm: Supplier
) -> None:
    pharmacy = await factory.organization("pharmacy")
    pharmacy_admin = await factory.user("admin", organization_id=pharmacy.id)
    sent = await submit(client, pharmacy_admin.headers)
    await submit(client)
    listed = references(await client.get(API, headers=pharmacy_admin.headers))
    assert listed == [sent["reference_number"]]


async def test_filters(
    client: httpx.AsyncClient, admin_sql: AdminSql, medpharm: Supplier, customer: Account
) -> None:
    quote = await submit(client, subject="Quote for 100% Cardiomax", priority="high")
    pricing = await submit(client, subject="Pricing", email="pricing@example.org")
    other = await submit(client, subject="Shipping", name="Zed")
    admin_sql(
        "UPDATE inquiries SET status = 'in_progress', assigned_to = %s WHERE id = %s",
        [medpharm.admin.id, other["inquiry_id"]],
    )
    headers = medpharm.sales.headers

    async def find(**params: str) -> list[str]:
        return references(await client.get(API, params=params, headers=headers))

    assert await find(status="in_progress") == [other["reference_number"]]
    assert await find(status="pending") == [pricing["reference_number"], quote["reference_number"]]
    assert await find(priority="high") == [quote["reference_number"]]
    assert await find(assigned_to="me") == [pricing["reference_number"], quote["reference_number"]]
    assert await find(assigned_to=str(medpharm.admin.id)) == [other["reference_number"]]
    assert await find(search="cardio") == [quote["reference_number"]]
    assert await find(search="100%") == [quote["reference_number"]]
    assert await find(search="0%") == [quote["reference_number"]]  # % is literal
    assert await find(search="PRICING@example") == [pricing["reference_number"]]
    assert await find(search="zed") == [other["reference_number"]]
    assert await find(search=quote["reference_number"]) == [quote["reference_number"]]
    assert await find(search="nothing like it") == []

    admin_sql(
        "UPDATE inquiries SET created_at = now() - interval '10 days' WHERE id = %s",
        [quote["inquiry_id"]],
    )
    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    assert quote["reference_number"] not in await find(**{"from": week_ago})
    assert await find(**{"to": week_ago}) == [quote["reference_number"]]
    # A time without an offset is UTC.
    naive = (datetime.now(UTC) - timedelta(days=7)).replace(tzinfo=None).isoformat()
    assert await find(**{"to": naive}) == [quote["reference_number"]]


async def test_pagination(client: httpx.AsyncClient, medpharm: Supplier) -> None:
    sent = [(await submit(client))["reference_number"] for _ in range(5)]
    headers = medpharm.sales.headers
    page = await client.get(API, params={"page": 2, "limit": 2}, headers=headers)
    assert references(page) == sent[::-1][2:4]
    assert page.json()["data"]["pagination"] == {
        "page": 2,
        "limit": 2,
        "total": 5,
        "total_pages": 3,
    }
    assert_error(
        await client.get(API, params={"limit": 101}, headers=headers),
        400,
        "VALIDATION_ERROR",
        "limit",
    )


async def test_bad_filters(client: httpx.AsyncClient, medpharm: Supplier) -> None:
    headers = medpharm.sales.headers
    for params, field in (
        ({"status": "done"}, "status"),
        ({"priority": "asap"}, "priority"),
        ({"assigned_to": "someone"}, "assigned_to"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ({"search": ""}, "search"),
    ):
        response = await client.get(API, params=params, headers=headers)
        assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_detail(
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    customer: Account,
) -> None:
    product_id = make_product(admin_sql, medpharm.id)
    sent = await submit(client, customer.headers, product_id=str(product_id))
    url = f"{API}/{sent['inquiry_id']}"
    for viewer in (customer, medpharm.sales, medpharm.admin):
        response = await client.get(url, headers=viewer.headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["id"] == sent["inquiry_id"]
        assert data["reference_number"] == sent["reference_number"]
        assert data["message"] == "We need 5000 units of Cardiomax 50mg..."
        assert data["product_id"] == str(product_id)
        assert data["supplier_id"] == str(medpharm.id)
        assert data["user_id"] == str(customer.id)
        assert data["assigned_to"] == str(medpharm.sales.id)
        assert data["messages"] == []
        assert data["created_at"].endswith("Z")


async def test_detail_of_someone_elses_is_not_found(
    *,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
    other_customer: Account,
) -> None:
    sent = await submit(client, customer.headers)
    url = f"{API}/{sent['inquiry_id']}"
    assert_error(await client.get(url), 401, "AUTHENTICATION_ERROR")
    for stranger in (other_customer, other_supplier.sales, other_supplier.admin):
        assert_error(await client.get(url, headers=stranger.headers), 404, "NOT_FOUND")
    assert_error(
        await client.get(f"{API}/{uuid.uuid4()}", headers=customer.headers), 404, "NOT_FOUND"
    )
    assert_error(
        await client.get(f"{API}/not-a-uuid", headers=customer.headers),
        400,
        "VALIDATION_ERROR",
        "inquiry_id",
    )
