"""Bank transfer (the default `manual` provider): the buyer starts a payment and gets
the reference to quote, the supplier's admin records the transfer (the order is paid
and invoiced) and may refund it."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests import commerce
from tests.auth.helpers import assert_error
from tests.factories import Factory
from tests.payments.conftest import (
    INVOICE_NUMBER,
    TOTAL,
    WEBHOOK_URL,
    AdminSql,
    Scene,
    api,
    count,
    new_order,
    order_of,
    pdf_text,
    stripe_event,
)


async def mark_paid(
    client: httpx.AsyncClient, scene: Scene, reference: str = "BANK-TRX-0001", amount: float = TOTAL
) -> httpx.Response:
    return await client.post(
        api(scene.order_id, "payments/mark-paid"),
        json={"reference": reference, "amount": amount},
        headers=scene.admin.headers,
    )


# --- starting a payment ---------------------------------------------------------------------


async def test_buyer_gets_bank_transfer_instructions_and_one_pending_attempt(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    response = await client.post(api(scene.order_id), headers=scene.customer.headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    payment = data["payment"]
    assert payment["provider"] == "manual"
    assert payment["status"] == "pending"
    assert payment["amount"] == TOTAL
    assert payment["currency"] == "USD"
    assert payment["provider_reference"] == scene.order["order_number"]
    assert data["client_secret"] is None
    transfer = data["bank_transfer"]
    assert transfer["reference"] == scene.order["order_number"]
    assert transfer["amount"] == TOTAL
    assert scene.order["order_number"] in transfer["instructions"]

    # Asking again while it is pending gives the same attempt back, not a second one.
    again = await client.post(api(scene.order_id), headers=scene.customer.headers)
    assert again.status_code == 200, again.text
    assert again.json()["data"]["payment"]["id"] == payment["id"]
    assert again.json()["data"]["bank_transfer"]["reference"] == scene.order["order_number"]

    listed = await client.get(api(scene.order_id), headers=scene.customer.headers)
    assert listed.status_code == 200
    body = listed.json()["data"]
    assert [p["id"] for p in body["payments"]] == [payment["id"]]
    assert body["pagination"]["total"] == 1
    # The order itself is untouched until the money arrives.
    assert (await order_of(client, scene))["payment_status"] == "pending"


async def test_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, factory: Factory, scene: Scene
) -> None:
    headers = {**scene.customer.headers, "Idempotency-Key": "pay-once-123"}
    first = await client.post(api(scene.order_id), headers=headers)
    assert first.status_code == 201, first.text
    replay = await client.post(api(scene.order_id), headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["data"] == first.json()["data"]

    # The same key for another order of the same buyer is a different request: 409.
    product = scene.product
    other = await commerce.place(client, scene.buyer, [(product["id"], 1)])
    assert other.status_code == 201
    reused = await client.post(api(other.json()["data"]["id"]), headers=headers)
    assert_error(reused, 409, "CONFLICT", "Idempotency-Key")

    blank = await client.post(
        api(scene.order_id), headers={**scene.customer.headers, "Idempotency-Key": " "}
    )
    assert_error(blank, 400, "VALIDATION_ERROR", "Idempotency-Key")


async def test_concurrent_starts_open_one_attempt(
    client: httpx.AsyncClient, scene: Scene, admin_sql: AdminSql
) -> None:
    responses = await asyncio.gather(
        *(client.post(api(scene.order_id), headers=scene.customer.headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["data"]["payment"]["id"] for r in responses}) == 1
    assert (
        count(admin_sql, "SELECT count(*) FROM payments WHERE order_id = %s", scene.order_id) == 1
    )


async def test_start_payment_refusals(
    client: httpx.AsyncClient, factory: Factory, scene: Scene, admin_sql: AdminSql
) -> None:
    assert_error(await client.post(api(scene.order_id)), 401, "AUTHENTICATION_ERROR")
    # The supplier's staff see the order but do not pay for it.
    staff = await client.post(api(scene.order_id), headers=scene.admin.headers)
    assert_error(staff, 403, "AUTHORIZATION_ERROR")
    stranger = await factory.user("customer")
    assert_error(await client.post(api(scene.order_id), headers=stranger.headers), 404, "NOT_FOUND")
    assert_error(
        await client.post(api(uuid.uuid4()), headers=scene.customer.headers), 404, "NOT_FOUND"
    )
    assert_error(
        await client.post(api("not-a-uuid"), headers=scene.customer.headers),
        400,
        "VALIDATION_ERROR",
        "order_id",
    )
    # Money moves need a verified email address.
    admin_sql("UPDATE users SET is_verified = false WHERE id = %s", [scene.customer.id])
    unverified = await client.post(api(scene.order_id), headers=scene.customer.headers)
    assert_error(unverified, 403, "AUTHORIZATION_ERROR")
    admin_sql("UPDATE users SET is_verified = true WHERE id = %s", [scene.customer.id])
    assert (
        count(admin_sql, "SELECT count(*) FROM payments WHERE order_id = %s", scene.order_id) == 0
    )


async def test_cancelled_or_settled_orders_cannot_be_paid(
    client: httpx.AsyncClient, factory: Factory, scene: Scene
) -> None:
    paid = await new_order(client, factory, scene.supplier)
    assert (await mark_paid(client, paid, reference="BANK-PAID-1")).status_code == 200
    conflict = await client.post(api(paid.order_id), headers=paid.customer.headers)
    assert_error(conflict, 409, "INVALID_STATE_TRANSITION", "payment_status")

    cancelled = await client.put(
        f"/api/v1/orders/{scene.order_id}/cancel", headers=scene.customer.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    refused = await client.post(api(scene.order_id), headers=scene.customer.headers)
    assert_error(refused, 409, "INVALID_STATE_TRANSITION", "status")


async def test_an_order_on_an_unconfigured_stripe_is_503(
    client: httpx.AsyncClient, scene: Scene, admin_sql: AdminSql
) -> None:
    admin_sql("UPDATE orders SET payment_provider = 'stripe' WHERE id = %s", [scene.order_id])
    response = await client.post(api(scene.order_id), headers=scene.customer.headers)
    assert_error(response, 503, "PAYMENT_PROVIDER_NOT_CONFIGURED")
    assert (
        count(admin_sql, "SELECT count(*) FROM payments WHERE order_id = %s", scene.order_id) == 0
    )


# --- recording a bank transfer --------------------------------------------------------------


async def test_mark_paid_pays_the_order_and_issues_its_invoice(
    client: httpx.AsyncClient, scene: Scene, admin_sql: AdminSql
) -> None:
    started = await client.post(api(scene.order_id), headers=scene.customer.headers)
    attempt_id = started.json()["data"]["payment"]["id"]

    response = await mark_paid(client, scene, reference="BANK-TRX-0042")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    # The pending attempt is the one settled, with the bank's reference.
    assert data["payment"]["id"] == attempt_id
    assert data["payment"]["status"] == "succeeded"
    assert data["payment"]["provider_reference"] == "BANK-TRX-0042"
    assert data["order"]["payment_status"] == "paid"
    assert data["order"]["paid_at"] is not None
    invoice = data["invoice"]
    assert INVOICE_NUMBER.match(invoice["invoice_number"]), invoice
    assert invoice["amount"] == TOTAL
    assert invoice["currency"] == "USD"
    assert invoice["order_number"] == scene.order["order_number"]

    order = await order_of(client, scene)
    assert order["payment_status"] == "paid"
    assert order["expires_at"] is None  # a paid order no longer lapses

    # Buyer and supplier staff read the invoice; the PDF downloads through documents.
    for account in (scene.customer, scene.supplier.sales, scene.admin):
        read = await client.get(api(scene.order_id, "invoice"), headers=account.headers)
        assert read.status_code == 200, read.text
        assert read.json()["data"] == invoice
    assert invoice["download_url"] == f"/api/v1/documents/{invoice['document_id']}/download"
    download = await client.get(invoice["download_url"], headers=scene.customer.headers)
    assert download.status_code == 200, download.text
    assert download.content.startswith(b"%PDF")
    assert download.headers["content-type"] == "application/pdf"
    text = pdf_text(download.content)
    assert invoice["invoice_number"] in text
    assert scene.order["order_number"] in text
    assert "Acme Pharma Supply" in text
    assert "251.00" in text
    assert "12 Harbor Street" in text  # the billing address snapshot

    documents = admin_sql(
        "SELECT document_type, file_name, uploaded_by FROM documents WHERE entity_id = %s",
        [scene.order_id],
    )
    assert documents == [("invoice", f"{invoice['invoice_number']}.pdf", None)]
    actions = {
        row[0]
        for row in admin_sql(
            "SELECT action FROM activity_logs WHERE entity_id = %s", [scene.order_id]
        )
    }
    assert {"payment_started", "order_payment_paid", "payment_recorded", "invoice_issued"} <= (
        actions
    )
    titles = [
        row[0]
        for row in admin_sql(
            "SELECT title FROM notifications WHERE user_id = %s", [scene.customer.id]
        )
    ]
    assert f"Invoice {invoice['invoice_number']} is available" in titles


async def test_mark_paid_without_a_started_payment_records_one(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    response = await mark_paid(client, scene, reference="BANK-DIRECT")
    assert response.status_code == 200, response.text
    listed = await client.get(api(scene.order_id), headers=scene.admin.headers)
    payments = listed.json()["data"]["payments"]
    assert [(p["status"], p["provider_reference"]) for p in payments] == [
        ("succeeded", "BANK-DIRECT")
    ]


async def test_mark_paid_checks_the_amount_and_the_reference(
    client: httpx.AsyncClient, factory: Factory, scene: Scene, admin_sql: AdminSql
) -> None:
    short = await mark_paid(client, scene, amount=250.99)
    error = assert_error(short, 400, "VALIDATION_ERROR", "amount")
    assert "251.00 USD" in error["details"][0]["message"]
    for body, field in (
        ({"amount": TOTAL}, "reference"),
        ({"reference": "", "amount": TOTAL}, "reference"),
        ({"reference": "X"}, "amount"),
        ({"reference": "X", "amount": -1}, "amount"),
        ({"reference": "X", "amount": 1.234}, "amount"),
        ({"reference": "X", "amount": TOTAL, "extra": 1}, "extra"),
    ):
        response = await client.post(
            api(scene.order_id, "payments/mark-paid"), json=body, headers=scene.admin.headers
        )
        assert_error(response, 400, "VALIDATION_ERROR", field)

    # A bank reference already recorded for another order is refused.
    other = await new_order(client, factory, scene.supplier)
    assert (await mark_paid(client, other, reference="BANK-DUP")).status_code == 200
    duplicate = await mark_paid(client, scene, reference="BANK-DUP")
    assert_error(duplicate, 409, "CONFLICT", "reference")
    assert (await order_of(client, scene))["payment_status"] == "pending"
    assert (
        count(admin_sql, "SELECT count(*) FROM invoices WHERE order_id = %s", scene.order_id) == 0
    )


async def test_mark_paid_permissions(
    client: httpx.AsyncClient, factory: Factory, scene: Scene
) -> None:
    url = api(scene.order_id, "payments/mark-paid")
    body = {"reference": "BANK-1", "amount": TOTAL}
    assert_error(await client.post(url, json=body), 401, "AUTHENTICATION_ERROR")
    # Sales staff handle orders but do not record money; buyers never do.
    for account in (scene.supplier.sales, scene.customer):
        response = await client.post(url, json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    rival = await commerce.supplier(factory)
    assert_error(await client.post(url, json=body, headers=rival.admin.headers), 404, "NOT_FOUND")

    # A pharmacy's admin may manage payments, but not of an order they are buying.
    pharmacy = await factory.organization("pharmacy")
    pharmacy_admin = await commerce.buyer(factory, "admin", organization_id=pharmacy.id)
    own = await commerce.place(client, pharmacy_admin, [(scene.product["id"], 2)])
    assert own.status_code == 201, own.text
    response = await client.post(
        api(own.json()["data"]["id"], "payments/mark-paid"),
        json=body,
        headers=pharmacy_admin.account.headers,
    )
    assert_error(response, 403, "AUTHORIZATION_ERROR")

    # A super admin may act for any supplier.
    operator = await factory.user("super_admin")
    done = await client.post(url, json=body, headers=operator.headers)
    assert done.status_code == 200, done.text


async def test_mark_paid_state_conflicts(
    client: httpx.AsyncClient, factory: Factory, scene: Scene, admin_sql: AdminSql
) -> None:
    assert (await mark_paid(client, scene, reference="BANK-A")).status_code == 200
    again = await mark_paid(client, scene, reference="BANK-B")
    assert_error(again, 409, "INVALID_STATE_TRANSITION", "payment_status")
    assert (
        count(admin_sql, "SELECT count(*) FROM invoices WHERE order_id = %s", scene.order_id) == 1
    )

    cancelled = await new_order(client, factory, scene.supplier)
    await client.put(
        f"/api/v1/orders/{cancelled.order_id}/cancel", headers=cancelled.customer.headers
    )
    refused = await mark_paid(client, cancelled, reference="BANK-C")
    assert_error(refused, 409, "INVALID_STATE_TRANSITION", "status")

    card = await new_order(client, factory, scene.supplier)
    admin_sql("UPDATE orders SET payment_provider = 'stripe' WHERE id = %s", [card.order_id])
    wrong = await mark_paid(client, card, reference="BANK-D")
    assert_error(wrong, 409, "WRONG_PAYMENT_PROVIDER", "payment_provider")


# --- refunds --------------------------------------------------------------------------------


async def test_refund_of_a_bank_transfer(
    client: httpx.AsyncClient, scene: Scene, admin_sql: AdminSql
) -> None:
    paid = await mark_paid(client, scene, reference="BANK-IN-7")
    invoice = paid.json()["data"]["invoice"]
    response = await client.post(
        api(scene.order_id, "payments/refund"),
        json={"reason": "Damaged in transit", "reference": "BANK-OUT-7"},
        headers=scene.admin.headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["payment"]["status"] == "refunded"
    assert data["payment"]["refund_reference"] == "BANK-OUT-7"
    assert data["payment"]["provider_reference"] == "BANK-IN-7"
    assert data["order"]["payment_status"] == "refunded"
    # The invoice stays: it is part of the financial record.
    assert data["invoice"]["invoice_number"] == invoice["invoice_number"]
    logged = admin_sql(
        "SELECT metadata FROM activity_logs WHERE action = 'payment_refunded' AND entity_id = %s",
        [scene.order_id],
    )
    assert logged
    assert "Damaged in transit" in str(logged[0][0])

    again = await client.post(
        api(scene.order_id, "payments/refund"),
        json={"reason": "again"},
        headers=scene.admin.headers,
    )
    assert_error(again, 409, "INVALID_STATE_TRANSITION", "payment_status")
    restart = await client.post(api(scene.order_id), headers=scene.customer.headers)
    assert_error(restart, 409, "INVALID_STATE_TRANSITION", "payment_status")


async def test_refund_refusals(client: httpx.AsyncClient, factory: Factory, scene: Scene) -> None:
    url = api(scene.order_id, "payments/refund")
    body = {"reason": "Customer request"}
    unpaid = await client.post(url, json=body, headers=scene.admin.headers)
    assert_error(unpaid, 409, "INVALID_STATE_TRANSITION", "payment_status")

    assert (await mark_paid(client, scene)).status_code == 200
    assert_error(await client.post(url, json=body), 401, "AUTHENTICATION_ERROR")
    for account in (scene.supplier.sales, scene.customer):
        response = await client.post(url, json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    rival = await commerce.supplier(factory)
    assert_error(await client.post(url, json=body, headers=rival.admin.headers), 404, "NOT_FOUND")
    for bad, field in (
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 501}, "reason"),
    ):
        response = await client.post(url, json=bad, headers=scene.admin.headers)
        assert_error(response, 400, "VALIDATION_ERROR", field)
    assert (await order_of(client, scene))["payment_status"] == "paid"


# --- reading --------------------------------------------------------------------------------


async def test_invoice_and_payment_list_access(
    client: httpx.AsyncClient, factory: Factory, scene: Scene
) -> None:
    invoice_url = api(scene.order_id, "invoice")
    missing = await client.get(invoice_url, headers=scene.customer.headers)
    assert_error(missing, 404, "NOT_FOUND")
    assert "no invoice yet" in missing.json()["error"]["message"]

    assert (await mark_paid(client, scene)).status_code == 200
    stranger = await factory.user("customer")
    rival = await commerce.supplier(factory)
    for url in (invoice_url, api(scene.order_id)):
        assert_error(await client.get(url), 401, "AUTHENTICATION_ERROR")
        for outsider in (stranger, rival.admin, rival.sales):
            assert_error(await client.get(url, headers=outsider.headers), 404, "NOT_FOUND")
    listed = await client.get(api(scene.order_id), headers=scene.supplier.sales.headers)
    assert listed.status_code == 200
    assert listed.json()["data"]["payments"][0]["status"] == "succeeded"
    paged = await client.get(api(scene.order_id) + "?limit=0", headers=scene.supplier.sales.headers)
    assert_error(paged, 400, "VALIDATION_ERROR", "limit")


async def test_webhook_without_a_configured_secret_is_503(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await client.post(
        WEBHOOK_URL,
        content=stripe_event("payment_intent.succeeded", {"id": "pi_x"}),
        headers={"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"},
    )
    assert_error(response, 503, "PAYMENT_PROVIDER_NOT_CONFIGURED")
    assert count(admin_sql, "SELECT count(*) FROM payment_webhook_events") == 0
