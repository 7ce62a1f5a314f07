"""The supplier's handling of an inquiry: status, assignment, answers and notes, the
requester's follow-ups, and conversion to an order."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.helpers import assert_error
from tests.factories import Account, Factory, mail_to, text_body
from tests.inquiries.conftest import (
    API,
    AdminSql,
    Supplier,
    audit_rows,
    inquiry_row,
    make_order,
    make_product,
    notifications_of,
    submit,
)


@pytest.fixture
async def inquiry(client: httpx.AsyncClient, medpharm: Supplier, customer: Account) -> str:
    """A customer's inquiry to the default supplier, assigned to its sales user."""
    data = await submit(client, customer.headers, name=None, email=None)
    return str(data["inquiry_id"])


async def put_status(
    client: httpx.AsyncClient, inquiry_id: str, who: Account, status: str, **extra: Any
) -> httpx.Response:
    return await client.put(
        f"{API}/{inquiry_id}/status", json={"status": status, **extra}, headers=who.headers
    )


async def detail(client: httpx.AsyncClient, inquiry_id: str, who: Account) -> dict[str, Any]:
    response = await client.get(f"{API}/{inquiry_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# -- status ---------------------------------------------------------------------------


async def test_status_follows_the_chain(
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    customer: Account,
    inquiry: str,
) -> None:
    response = await put_status(
        client, inquiry, medpharm.sales, "in_progress", note="Checking stock with the plant"
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Inquiry status updated"
    assert response.json()["data"]["status"] == "in_progress"

    response = await put_status(client, inquiry, medpharm.sales, "resolved")
    data = response.json()["data"]
    assert data["status"] == "resolved"
    assert data["resolved_at"] is not None
    assert data["closed_at"] is None

    response = await put_status(client, inquiry, medpharm.admin, "closed")
    data = response.json()["data"]
    assert data["status"] == "closed"
    assert data["closed_at"] is not None
    row = inquiry_row(admin_sql, inquiry)
    assert row["status"] == "closed"
    assert row["resolved_at"] <= row["closed_at"]

    changes = [r for r in audit_rows(admin_sql, inquiry) if r["action"] == "inquiry_status_changed"]
    assert [(r["metadata"]["from"], r["metadata"]["to"]) for r in changes] == [
        ("pending", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]
    assert {r["organization_id"] for r in changes} == {medpharm.id}
    assert changes[2]["user_id"] == medpharm.admin.id

    titles = [n["title"] for n in notifications_of(admin_sql, customer.id)]
    assert len(titles) == 3
    assert "in progress" in titles[0]
    assert "closed" in titles[2]
    assert all(
        n["data"]["link"] == f"/inquiries/{inquiry}"
        for n in notifications_of(admin_sql, customer.id)
    )

    # The note is internal: staff see it, the requester does not.
    [note] = (await detail(client, inquiry, medpharm.sales))["messages"]
    assert (note["kind"], note["body"]) == ("note", "Checking stock with the plant")
    assert note["author_id"] == str(medpharm.sales.id)
    assert note["from_requester"] is False
    assert (await detail(client, inquiry, customer))["messages"] == []
    assert "Checking stock" not in str(notifications_of(admin_sql, customer.id))


async def test_resolved_can_be_reopened(
    client: httpx.AsyncClient, medpharm: Supplier, inquiry: str
) -> None:
    for status in ("in_progress", "resolved"):
        assert (await put_status(client, inquiry, medpharm.sales, status)).status_code == 200
    reopened = await put_status(client, inquiry, medpharm.sales, "in_progress")
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["data"]["status"] == "in_progress"
    assert reopened.json()["data"]["resolved_at"] is None


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "resolved"),
        ([], "closed"),
        ([], "pending"),
        (["in_progress"], "in_progress"),
        (["in_progress"], "closed"),
        (["in_progress"], "pending"),
        (["in_progress", "resolved"], "pending"),
        (["in_progress", "resolved", "closed"], "in_progress"),
        (["in_progress", "resolved", "closed"], "resolved"),
    ],
)
async def test_invalid_transitions(
    *,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    inquiry: str,
    path: list[str],
    target: str,
) -> None:
    for status in path:
        assert (await put_status(client, inquiry, medpharm.sales, status)).status_code == 200
    before = inquiry_row(admin_sql, inquiry)
    response = await put_status(client, inquiry, medpharm.sales, target)
    assert_error(response, 409, "INVALID_STATE_TRANSITION", "status")
    assert inquiry_row(admin_sql, inquiry) == before


async def test_status_needs_the_suppliers_staff(
    *,
    client: httpx.AsyncClient,
    factory: Factory,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
    inquiry: str,
) -> None:
    url = f"{API}/{inquiry}/status"
    assert_error(await client.put(url, json={"status": "in_progress"}), 401, "AUTHENTICATION_ERROR")
    # The requester may read it, not handle it.
    assert_error(
        await put_status(client, inquiry, customer, "in_progress"), 403, "AUTHORIZATION_ERROR"
    )
    # Another supplier's staff do not even see it.
    for stranger in (other_supplier.sales, other_supplier.admin):
        assert_error(await put_status(client, inquiry, stranger, "in_progress"), 404, "NOT_FOUND")
    # An admin who sent an inquiry (a pharmacy's) sees it, but does not handle it.
    pharmacy = await factory.organization("pharmacy")
    pharmacy_admin = await factory.user("admin", organization_id=pharmacy.id)
    own = (await submit(client, pharmacy_admin.headers))["inquiry_id"]
    assert_error(
        await put_status(client, own, pharmacy_admin, "in_progress"), 403, "AUTHORIZATION_ERROR"
    )
    # A super admin handles every supplier's.
    super_admin = await factory.user("super_admin")
    assert (await put_status(client, inquiry, super_admin, "in_progress")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({}, "status"),
        ({"status": "in_progress", "note": ""}, "note"),
        ({"status": "in_progress", "note": "x" * 10_001}, "note"),
        ({"status": "in_progress", "priority": "high"}, "priority"),
    ],
)
async def test_status_bad_input(
    client: httpx.AsyncClient, medpharm: Supplier, inquiry: str, body: dict[str, Any], field: str
) -> None:
    response = await client.put(
        f"{API}/{inquiry}/status", json=body, headers=medpharm.sales.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", field)


# -- assignment -----------------------------------------------------------------------


async def test_assign(
    client: httpx.AsyncClient, admin_sql: AdminSql, medpharm: Supplier, inquiry: str
) -> None:
    url = f"{API}/{inquiry}/assign"
    before = len(notifications_of(admin_sql, medpharm.admin.id))
    response = await client.put(
        url, json={"assigned_to": str(medpharm.admin.id)}, headers=medpharm.sales.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["assigned_to"] == str(medpharm.admin.id)
    assert inquiry_row(admin_sql, inquiry)["assigned_to"] == medpharm.admin.id
    [told] = notifications_of(admin_sql, medpharm.admin.id)[before:]
    assert "assigned to you" in told["title"]
    [logged] = [r for r in audit_rows(admin_sql, inquiry) if r["action"] == "inquiry_assigned"]
    assert logged["metadata"] == {"from": str(medpharm.sales.id), "to": str(medpharm.admin.id)}
    assert logged["organization_id"] == medpharm.id

    # Taking it yourself notifies nobody; assigning it again to the same person is a no-op.
    sales_before = len(notifications_of(admin_sql, medpharm.sales.id))
    for _ in range(2):
        response = await client.put(
            url, json={"assigned_to": str(medpharm.sales.id)}, headers=medpharm.sales.headers
        )
        assert response.status_code == 200, response.text
    assert len(notifications_of(admin_sql, medpharm.sales.id)) == sales_before
    assigned = [r for r in audit_rows(admin_sql, inquiry) if r["action"] == "inquiry_assigned"]
    assert len(assigned) == 2


async def test_assign_only_to_the_suppliers_active_staff(
    *,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    factory: Factory,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
    inquiry: str,
) -> None:
    distributor = await factory.user("distributor", organization_id=medpharm.id)
    departed = await factory.user("sales", organization_id=medpharm.id)
    admin_sql("UPDATE users SET is_active = false WHERE id = %s", [departed.id])
    for candidate in (customer, distributor, departed, other_supplier.sales):
        response = await client.put(
            f"{API}/{inquiry}/assign",
            json={"assigned_to": str(candidate.id)},
            headers=medpharm.admin.headers,
        )
        assert_error(response, 400, "VALIDATION_ERROR", "assigned_to")
    assert inquiry_row(admin_sql, inquiry)["assigned_to"] == medpharm.sales.id


async def test_assign_refusals(
    client: httpx.AsyncClient,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
    inquiry: str,
) -> None:
    url = f"{API}/{inquiry}/assign"
    body = {"assigned_to": str(medpharm.admin.id)}
    assert_error(await client.put(url, json=body), 401, "AUTHENTICATION_ERROR")
    assert_error(
        await client.put(url, json=body, headers=customer.headers), 403, "AUTHORIZATION_ERROR"
    )
    response = await client.put(
        url,
        json={"assigned_to": str(other_supplier.sales.id)},
        headers=other_supplier.admin.headers,
    )
    assert_error(response, 404, "NOT_FOUND")
    for bad in ({}, {"assigned_to": "me"}):
        response = await client.put(url, json=bad, headers=medpharm.admin.headers)
        assert_error(response, 400, "VALIDATION_ERROR", "assigned_to")
    for status in ("in_progress", "resolved", "closed"):
        assert (await put_status(client, inquiry, medpharm.sales, status)).status_code == 200
    response = await client.put(url, json=body, headers=medpharm.admin.headers)
    assert_error(response, 409, "INVALID_STATE_TRANSITION")


# -- messages -------------------------------------------------------------------------


async def post_message(
    client: httpx.AsyncClient, inquiry_id: str, who: Account | None, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/{inquiry_id}/messages", json=body, headers=who.headers if who else {}
    )


async def test_staff_answer_emails_the_requester(
    *,
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    factory: Factory,
    medpharm: Supplier,
    customer: Account,
) -> None:
    responder = await factory.user("sales", organization_id=medpharm.id, full_name="Sara Kim")
    sent = await submit(client, customer.headers, subject="Cardiomax quote", email=None)
    inquiry = sent["inquiry_id"]
    response = await post_message(
        client, inquiry, responder, body="We can supply 5000 units at 118.00 USD per box."
    )
    assert response.status_code == 201, response.text
    message = response.json()["data"]
    assert message["kind"] == "response"
    assert message["author_id"] == str(responder.id)
    assert message["from_requester"] is False

    # Answering a pending inquiry starts work on it.
    assert inquiry_row(admin_sql, inquiry)["status"] == "in_progress"
    [email] = await mail_to(app, customer.email, "inquiry_response")
    assert sent["reference_number"] in email["Subject"]
    assert "Cardiomax quote" in email["Subject"]
    text = text_body(email)
    assert "Sara Kim" in text
    assert "We can supply 5000 units at 118.00 USD per box." in text
    assert f"/inquiries/{inquiry}" in text
    [told] = [n for n in notifications_of(admin_sql, customer.id) if "answer" in n["title"]]
    assert told["data"]["link"] == f"/inquiries/{inquiry}"
    [logged] = [r for r in audit_rows(admin_sql, inquiry) if r["action"] == "inquiry_message_added"]
    assert logged["metadata"]["kind"] == "response"

    [shown] = (await detail(client, inquiry, customer))["messages"]
    assert shown["body"] == "We can supply 5000 units at 118.00 USD per box."


async def test_anonymous_requester_is_answered_by_email(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, medpharm: Supplier
) -> None:
    inquiry = (await submit(client, email="walk-in@example.org"))["inquiry_id"]
    response = await post_message(client, inquiry, medpharm.sales, body="Here is our price list.")
    assert response.status_code == 201, response.text
    [email] = await mail_to(app, "walk-in@example.org", "inquiry_response")
    assert "Here is our price list." in text_body(email)


async def test_internal_notes_stay_internal(
    *,
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    customer: Account,
    inquiry: str,
) -> None:
    response = await post_message(client, inquiry, medpharm.sales, body="Big account", kind="note")
    assert response.status_code == 201, response.text
    assert response.json()["data"]["kind"] == "note"
    assert inquiry_row(admin_sql, inquiry)["status"] == "pending"
    assert await mail_to(app, customer.email, "inquiry_response") == []
    assert len(await mail_to(app, customer.email, "inquiry_acknowledgment")) == 1
    assert all("Big account" not in str(n) for n in notifications_of(admin_sql, customer.id))
    assert (await detail(client, inquiry, customer))["messages"] == []
    [note] = (await detail(client, inquiry, medpharm.admin))["messages"]
    assert note["body"] == "Big account"


async def test_requester_follows_up(
    *,
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    customer: Account,
    inquiry: str,
) -> None:
    before = len(notifications_of(admin_sql, medpharm.sales.id))
    response = await post_message(client, inquiry, customer, body="Any update?")
    assert response.status_code == 201, response.text
    message = response.json()["data"]
    assert message["kind"] == "response"
    assert message["from_requester"] is True
    [told] = notifications_of(admin_sql, medpharm.sales.id)[before:]
    assert "New message" in told["title"]
    # Nobody emails the requester their own words.
    assert await mail_to(app, customer.email, "inquiry_response") == []
    assert len(await mail_to(app, customer.email, "inquiry_acknowledgment")) == 1
    [shown] = (await detail(client, inquiry, medpharm.sales))["messages"]
    assert shown["from_requester"] is True

    response = await post_message(client, inquiry, customer, body="Secret", kind="note")
    assert_error(response, 400, "VALIDATION_ERROR", "kind")


async def test_message_refusals(
    client: httpx.AsyncClient,
    medpharm: Supplier,
    other_supplier: Supplier,
    other_customer: Account,
    inquiry: str,
) -> None:
    assert_error(await post_message(client, inquiry, None, body="Hi"), 401, "AUTHENTICATION_ERROR")
    for stranger in (other_customer, other_supplier.sales):
        response = await post_message(client, inquiry, stranger, body="Hi")
        assert_error(response, 404, "NOT_FOUND")
    for bad, field in (
        ({}, "body"),
        ({"body": "  "}, "body"),
        ({"body": "x" * 10_001}, "body"),
        ({"body": "Hi", "kind": "shout"}, "kind"),
    ):
        response = await post_message(client, inquiry, medpharm.sales, **bad)
        assert_error(response, 400, "VALIDATION_ERROR", field)
    for status in ("in_progress", "resolved", "closed"):
        assert (await put_status(client, inquiry, medpharm.sales, status)).status_code == 200
    response = await post_message(client, inquiry, medpharm.sales, body="Too late")
    assert_error(response, 409, "INVALID_STATE_TRANSITION")


# -- conversion to an order -----------------------------------------------------------


async def convert(
    client: httpx.AsyncClient, inquiry_id: str, who: Account | None, order_id: object
) -> httpx.Response:
    return await client.post(
        f"{API}/{inquiry_id}/convert",
        json={"order_id": str(order_id)},
        headers=who.headers if who else {},
    )


async def test_convert_links_the_order_and_resolves(
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    customer: Account,
    inquiry: str,
) -> None:
    order_id = make_order(admin_sql, medpharm.id, customer.id)
    response = await convert(client, inquiry, medpharm.sales, order_id)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["order_id"] == str(order_id)
    assert data["status"] == "resolved"
    assert data["resolved_at"] is not None
    row = inquiry_row(admin_sql, inquiry)
    assert (row["order_id"], row["status"]) == (order_id, "resolved")
    [logged] = [r for r in audit_rows(admin_sql, inquiry) if r["action"] == "inquiry_converted"]
    assert logged["metadata"]["order_id"] == str(order_id)
    assert (logged["metadata"]["from"], logged["metadata"]["to"]) == ("pending", "resolved")
    assert any("became order" in n["title"] for n in notifications_of(admin_sql, customer.id))

    # Once linked, never again.
    other_order = make_order(admin_sql, medpharm.id, customer.id)
    response = await convert(client, inquiry, medpharm.sales, other_order)
    assert_error(response, 409, "CONFLICT")
    assert inquiry_row(admin_sql, inquiry)["order_id"] == order_id


async def test_convert_a_resolved_or_anonymous_inquiry(
    client: httpx.AsyncClient, admin_sql: AdminSql, medpharm: Supplier, customer: Account
) -> None:
    # An anonymous requester's inquiry may be linked to whoever placed the order.
    anonymous = (await submit(client))["inquiry_id"]
    for status in ("in_progress", "resolved"):
        assert (await put_status(client, anonymous, medpharm.sales, status)).status_code == 200
    resolved_at = inquiry_row(admin_sql, anonymous)["resolved_at"]
    order_id = make_order(admin_sql, medpharm.id, customer.id)
    response = await convert(client, anonymous, medpharm.admin, order_id)
    assert response.status_code == 200, response.text
    row = inquiry_row(admin_sql, anonymous)
    assert (row["status"], row["order_id"], row["resolved_at"]) == (
        "resolved",
        order_id,
        resolved_at,
    )


async def test_convert_needs_a_matching_order(
    *,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    factory: Factory,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
    other_customer: Account,
    inquiry: str,
) -> None:
    elsewhere = make_order(admin_sql, other_supplier.id, customer.id)
    someone_elses = make_order(admin_sql, medpharm.id, other_customer.id)
    super_admin = await factory.user("super_admin")
    for who, order_id in (
        (medpharm.sales, someone_elses),
        (medpharm.sales, elsewhere),  # invisible to this supplier's staff
        (super_admin, elsewhere),  # visible, but another supplier's
        (medpharm.sales, "00000000-0000-7000-8000-00000000dead"),
    ):
        response = await convert(client, inquiry, who, order_id)
        assert_error(response, 400, "VALIDATION_ERROR", "order_id")
    response = await client.post(
        f"{API}/{inquiry}/convert", json={"order_id": "ORD-1"}, headers=medpharm.sales.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", "order_id")
    assert inquiry_row(admin_sql, inquiry)["order_id"] is None


async def test_convert_refusals(
    *,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
    inquiry: str,
) -> None:
    order_id = make_order(admin_sql, medpharm.id, customer.id)
    assert_error(await convert(client, inquiry, None, order_id), 401, "AUTHENTICATION_ERROR")
    assert_error(await convert(client, inquiry, customer, order_id), 403, "AUTHORIZATION_ERROR")
    assert_error(await convert(client, inquiry, other_supplier.sales, order_id), 404, "NOT_FOUND")
    for status in ("in_progress", "resolved", "closed"):
        assert (await put_status(client, inquiry, medpharm.sales, status)).status_code == 200
    response = await convert(client, inquiry, medpharm.sales, order_id)
    assert_error(response, 409, "INVALID_STATE_TRANSITION")
    assert inquiry_row(admin_sql, inquiry)["order_id"] is None


async def test_product_inquiry_is_handled_by_its_supplier(
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    medpharm: Supplier,
    other_supplier: Supplier,
    customer: Account,
) -> None:
    product_id = make_product(admin_sql, other_supplier.id)
    inquiry = (await submit(client, customer.headers, product_id=str(product_id)))["inquiry_id"]
    assert_error(await put_status(client, inquiry, medpharm.sales, "in_progress"), 404, "NOT_FOUND")
    response = await put_status(client, inquiry, other_supplier.sales, "in_progress")
    assert response.status_code == 200, response.text
