"""POST /api/v1/inquiries: anonymous or signed in, to a product's supplier or the default
one, auto-assigned, acknowledged by email, references unique under concurrency."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from medhub.app import create_app
from medhub.config import Settings
from tests.auth.helpers import assert_error
from tests.conftest import running
from tests.factories import Account, Factory, mail_to, outbox, text_body
from tests.inquiries.conftest import (
    API,
    DEFAULT_SUPPLIER_ID,
    REFERENCE,
    AdminSql,
    Supplier,
    audit_rows,
    inquiry_body,
    inquiry_row,
    make_product,
    make_supplier,
    notifications_of,
    preload,
    submit,
)


async def test_anonymous_submission(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, medpharm: Supplier
) -> None:
    response = await client.post(API, json=inquiry_body())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Inquiry submitted successfully"
    assert set(body["data"]) == {"inquiry_id", "reference_number"}
    assert REFERENCE.match(body["data"]["reference_number"])

    row = inquiry_row(admin_sql, body["data"]["inquiry_id"])
    assert row["reference_number"] == body["data"]["reference_number"]
    assert row["supplier_id"] == DEFAULT_SUPPLIER_ID
    assert row["user_id"] is None
    assert row["product_id"] is None
    assert (row["name"], row["email"], row["company"], row["phone"]) == (
        "John Doe",
        "john.doe@example.org",
        "ABC Pharmacy",
        "+1-555-0123",
    )
    assert (row["status"], row["priority"]) == ("pending", "normal")
    # The default supplier's only sales user gets it (not its admin).
    assert row["assigned_to"] == medpharm.sales.id

    [ack] = await mail_to(app, "john.doe@example.org", "inquiry_acknowledgment")
    text = text_body(ack)
    assert body["data"]["reference_number"] in ack["Subject"]
    assert body["data"]["reference_number"] in text
    # Nothing the anonymous sender wrote is echoed to the address they named.
    assert "John Doe" not in text
    assert "Bulk order inquiry" not in text
    # Nobody can open an anonymous inquiry online: no link.
    assert "/inquiries/" not in text

    [note] = notifications_of(admin_sql, medpharm.sales.id)
    assert note["category"] == "inquiry"
    assert body["data"]["reference_number"] in note["title"]
    assert note["data"]["link"] == f"/inquiries/{body['data']['inquiry_id']}"
    assert notifications_of(admin_sql, medpharm.admin.id) == []

    [logged] = audit_rows(admin_sql, body["data"]["inquiry_id"])
    assert logged["action"] == "inquiry_submitted"
    assert logged["user_id"] is None
    assert logged["metadata"]["assigned_to"] == str(medpharm.sales.id)


async def test_signed_in_requester_defaults_to_their_account(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    customer: Account,
) -> None:
    data = await submit(client, customer.headers, name=None, email=None, company=None, phone=None)
    row = inquiry_row(admin_sql, data["inquiry_id"])
    assert row["user_id"] == customer.id
    assert row["name"] == "Carla Customer"
    assert row["email"] == customer.email
    assert row["company"] is None
    [ack] = await mail_to(app, customer.email, "inquiry_acknowledgment")
    assert f"/inquiries/{data['inquiry_id']}" in text_body(ack)

    # A name they send wins over the account's; the answer still goes to the account's
    # own address, never to another one named in the body.
    data = await submit(client, customer.headers, name="Purchasing desk", email="buy@example.org")
    row = inquiry_row(admin_sql, data["inquiry_id"])
    assert (row["name"], row["email"], row["user_id"]) == (
        "Purchasing desk",
        customer.email,
        customer.id,
    )
    assert await mail_to(app, "buy@example.org") == []
    assert len(await mail_to(app, customer.email, "inquiry_acknowledgment")) == 2


async def test_anonymous_acknowledgements_are_throttled_per_address(
    app: FastAPI, client: httpx.AsyncClient, medpharm: Supplier
) -> None:
    for index, address in enumerate(
        ["victim@example.org", "Victim@Example.org", "VICTIM@example.org", "victim@example.org"]
    ):
        await submit(client, email=address, name=f"Spam sender {index}", subject="Buy now!!!")
    acknowledgements = [
        message
        for message in await outbox(app)
        if message["To"].lower() == "victim@example.org"
        and message["X-MedHub-Template"] == "inquiry_acknowledgment"
    ]
    assert len(acknowledgements) == 3
    for message in acknowledgements:
        assert "Spam sender" not in text_body(message)
        assert "Buy now" not in text_body(message)
    # Another address is not affected by the first one's quota.
    await submit(client, email="someone.else@example.org")
    assert len(await mail_to(app, "someone.else@example.org", "inquiry_acknowledgment")) == 1


async def test_an_unverified_account_gets_no_acknowledgement(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, medpharm: Supplier
) -> None:
    unverified = await factory.user("customer", verified=False)
    data = await submit(client, unverified.headers)
    assert data["reference_number"]
    assert await mail_to(app, unverified.email, "inquiry_acknowledgment") == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": None}, "name"),
        ({"email": None}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"subject": "x" * 501}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"message": "x" * 10_001}, "message"),
        ({"message": None}, "message"),
        ({"phone": "call me maybe"}, "phone"),
        ({"priority": "whenever"}, "priority"),
        ({"product_id": "not-a-uuid"}, "product_id"),
        ({"status": "resolved"}, "status"),
    ],
)
async def test_bad_input(
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(API, json=inquiry_body(**overrides))
    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert admin_sql("SELECT count(*) FROM inquiries") == [(0,)]


async def test_limits_are_inclusive(client: httpx.AsyncClient, medpharm: Supplier) -> None:
    data = await submit(client, subject="s" * 500, message="m" * 10_000)
    assert REFERENCE.match(data["reference_number"])


async def test_anonymous_must_say_who_they_are(client: httpx.AsyncClient) -> None:
    response = await client.post(API, json=inquiry_body(name=None, email=None))
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert {d["field"] for d in error["details"]} == {"name", "email"}


async def test_bad_credentials_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        API, json=inquiry_body(), headers={"Authorization": "Bearer nonsense"}
    )
    assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_product_inquiry_goes_to_its_supplier(
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    other_supplier: Supplier,
) -> None:
    product_id = make_product(admin_sql, other_supplier.id)
    data = await submit(client, product_id=str(product_id))
    row = inquiry_row(admin_sql, data["inquiry_id"])
    assert row["supplier_id"] == other_supplier.id
    assert row["product_id"] == product_id
    assert row["assigned_to"] == other_supplier.sales.id
    assert notifications_of(admin_sql, medpharm.sales.id) == []


async def test_unknown_or_withdrawn_product(
    client: httpx.AsyncClient, admin_sql: AdminSql, other_supplier: Supplier
) -> None:
    response = await client.post(API, json=inquiry_body(product_id=str(uuid.uuid4())))
    assert_error(response, 400, "VALIDATION_ERROR", "product_id")

    withdrawn = make_product(admin_sql, other_supplier.id, active=False)
    response = await client.post(API, json=inquiry_body(product_id=str(withdrawn)))
    assert_error(response, 400, "VALIDATION_ERROR", "product_id")
    # Its own supplier's staff can see the product, but cannot ask about it either.
    response = await client.post(
        API, json=inquiry_body(product_id=str(withdrawn)), headers=other_supplier.sales.headers
    )
    error = assert_error(response, 400, "VALIDATION_ERROR", "product_id")
    assert "no longer sold" in error["message"]
    assert admin_sql("SELECT count(*) FROM inquiries") == [(0,)]


async def test_without_a_default_supplier_a_product_is_required(
    client: httpx.AsyncClient, admin_sql: AdminSql, other_supplier: Supplier
) -> None:
    admin_sql("UPDATE organizations SET status = 'suspended' WHERE id = %s", [DEFAULT_SUPPLIER_ID])
    response = await client.post(API, json=inquiry_body())
    assert_error(response, 400, "VALIDATION_ERROR", "product_id")
    product_id = make_product(admin_sql, other_supplier.id)
    await submit(client, product_id=str(product_id))


async def test_only_the_suppliers_staff_mark_urgent(
    *,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
) -> None:
    for headers in ({}, customer.headers, other_supplier.sales.headers):
        response = await client.post(API, json=inquiry_body(priority="urgent"), headers=headers)
        assert_error(response, 400, "VALIDATION_ERROR", "priority")
    high = await submit(client, customer.headers, priority="high")
    assert inquiry_row(admin_sql, high["inquiry_id"])["priority"] == "high"
    urgent = await submit(client, medpharm.sales.headers, priority="urgent")
    assert inquiry_row(admin_sql, urgent["inquiry_id"])["priority"] == "urgent"


async def test_assigns_the_least_loaded_sales_user(
    client: httpx.AsyncClient, admin_sql: AdminSql, factory: Factory
) -> None:
    supplier = await make_supplier(factory)
    busy = supplier.sales  # the longest-serving sales user: would win a tie
    idle = await factory.user("sales", organization_id=supplier.id)
    product_id = str(make_product(admin_sql, supplier.id))
    preload(admin_sql, supplier.id, busy.id, count=2)
    # Finished work does not count as load.
    preload(admin_sql, supplier.id, idle.id, count=3, status="resolved")
    preload(admin_sql, supplier.id, idle.id, count=3, status="closed")
    preload(admin_sql, supplier.id, idle.id, count=1, status="in_progress")

    first = await submit(client, product_id=product_id)
    assert inquiry_row(admin_sql, first["inquiry_id"])["assigned_to"] == idle.id
    # Now 2 open each: the tie goes to the longest-serving.
    second = await submit(client, product_id=product_id)
    assert inquiry_row(admin_sql, second["inquiry_id"])["assigned_to"] == busy.id
    # A deactivated sales user gets nothing.
    admin_sql("UPDATE users SET is_active = false WHERE id = %s", [idle.id])
    third = await submit(client, product_id=product_id)
    assert inquiry_row(admin_sql, third["inquiry_id"])["assigned_to"] == busy.id


async def test_falls_back_to_admins_then_to_nobody(
    client: httpx.AsyncClient, admin_sql: AdminSql, factory: Factory
) -> None:
    organization = await factory.organization("supplier")
    product_id = str(make_product(admin_sql, organization.id))
    unassigned = await submit(client, product_id=product_id)
    assert inquiry_row(admin_sql, unassigned["inquiry_id"])["assigned_to"] is None

    admin = await factory.user("admin", organization_id=organization.id)
    data = await submit(client, product_id=product_id)
    assert inquiry_row(admin_sql, data["inquiry_id"])["assigned_to"] == admin.id
    assert len(notifications_of(admin_sql, admin.id)) == 1


async def test_concurrent_submissions_get_unique_references_and_balanced_load(
    client: httpx.AsyncClient, admin_sql: AdminSql, medpharm: Supplier, factory: Factory
) -> None:
    second_sales = await factory.user("sales", organization_id=DEFAULT_SUPPLIER_ID)

    async def one(n: int) -> httpx.Response:
        return await client.post(
            API, json=inquiry_body(email=f"buyer{n}@example.org", subject=f"Quote {n}")
        )

    responses = await asyncio.gather(*(one(n) for n in range(20)))
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    references = [r.json()["data"]["reference_number"] for r in responses]
    assert all(REFERENCE.match(reference) for reference in references)
    assert len(set(references)) == 20
    stored = admin_sql("SELECT reference_number FROM inquiries")
    assert sorted(row[0] for row in stored) == sorted(references)
    # The assignment takes turns per supplier: the two sales users split the work evenly.
    load = Counter(row[0] for row in admin_sql("SELECT assigned_to FROM inquiries"))
    assert load == {medpharm.sales.id: 10, second_sales.id: 10}


# -- the anonymous submission limit -------------------------------------------------------


@asynccontextmanager
async def limited_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, configure_logs=False)
    peer = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 123))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def test_anonymous_submissions_are_rate_limited(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        RATE_LIMIT_ENABLED=True,
        RATE_LIMIT_REGISTER="2/minute",
        # In-process counters: this app's own, shared with no other test.
        REDIS_URL=None,
    )
    async with limited_app(settings) as (app, http):
        for _ in range(2):
            assert (await http.post(API, json=inquiry_body())).status_code == 201
        refused = await http.post(API, json=inquiry_body())
        assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-ratelimit-limit"] == "2"
        # A signed-in requester is counted by their role's allowance instead.
        customer = await Factory(app, http).user("customer")
        for _ in range(3):
            response = await http.post(API, json=inquiry_body(), headers=customer.headers)
            assert response.status_code == 201, response.text


async def test_supplier_staff_log_a_callers_request_with_the_callers_contact(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, medpharm: Supplier
) -> None:
    data = await submit(
        client,
        medpharm.sales.headers,
        name="Ward pharmacist",
        email="ward.pharmacy@example.org",
        subject="Called in: vancomycin shortage",
        priority="urgent",
    )
    row = inquiry_row(admin_sql, data["inquiry_id"])
    assert (row["email"], row["user_id"], row["priority"]) == (
        "ward.pharmacy@example.org",
        medpharm.sales.id,
        "urgent",
    )
    [ack] = await mail_to(app, "ward.pharmacy@example.org", "inquiry_acknowledgment")
    # The address was entered by the supplier's own staff: the caller gets a full
    # acknowledgement, but no link into the staff member's account.
    assert "Called in: vancomycin shortage" in text_body(ack)
    assert "/inquiries/" not in text_body(ack)
    assert await mail_to(app, medpharm.sales.email, "inquiry_acknowledgment") == []
