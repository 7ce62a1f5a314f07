"""Stripe: PaymentIntents and refunds against a fake Stripe API server, and signed
webhooks settling (or failing, or refunding) payments exactly once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import pytest

from medhub.config import Settings
from medhub.payments.exceptions import InvalidSignature
from medhub.payments.providers import StripeProvider
from tests import commerce
from tests.auth.helpers import assert_error
from tests.factories import Factory
from tests.payments.conftest import (
    INVOICE_NUMBER,
    TOTAL,
    TOTAL_CENTS,
    AdminSql,
    Scene,
    api,
    charge_refunded,
    count,
    deliver,
    intent_event,
    new_order,
    order_of,
    signature_header,
    stripe_event,
    stripe_overrides,
)
from tests.payments.fake_stripe import Failure, FakeStripe


@pytest.fixture
def settings(make_settings: Callable[..., Settings], fake_stripe: FakeStripe) -> Settings:
    return make_settings(**stripe_overrides(fake_stripe))


async def start(client: httpx.AsyncClient, scene: Scene, **headers: str) -> httpx.Response:
    return await client.post(api(scene.order_id), headers={**scene.customer.headers, **headers})


async def started_intent(client: httpx.AsyncClient, scene: Scene) -> str:
    response = await start(client, scene)
    assert response.status_code == 201, response.text
    reference: str = response.json()["data"]["payment"]["provider_reference"]
    return reference


async def paid_through_stripe(client: httpx.AsyncClient, scene: Scene, fake: FakeStripe) -> str:
    intent_id = await started_intent(client, scene)
    payload = stripe_event(
        "payment_intent.succeeded", intent_event(fake, intent_id, "payment_intent.succeeded")
    )
    response = await deliver(client, payload)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["outcome"] == "applied"
    return intent_id


# --- starting a card payment ----------------------------------------------------------------


async def test_start_creates_a_payment_intent(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe
) -> None:
    assert scene.order["payment_provider"] == "stripe"
    response = await start(client, scene)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    payment = data["payment"]
    assert payment["provider"] == "stripe"
    assert payment["status"] == "pending"
    assert payment["amount"] == TOTAL
    assert data["bank_transfer"] is None

    [sent] = fake_stripe.received("POST", "/v1/payment_intents")
    assert sent.form["amount"] == str(TOTAL_CENTS)
    assert sent.form["currency"] == "usd"
    assert sent.form["metadata[order_id]"] == scene.order_id
    assert sent.form["metadata[order_number]"] == scene.order["order_number"]
    assert sent.form["automatic_payment_methods[enabled]"] == "true"
    assert sent.headers["authorization"] == "Bearer sk_test_x"
    assert sent.headers["idempotency-key"] == f"medhub-pi-{payment['id']}"
    intent = fake_stripe.intents[payment["provider_reference"]]
    assert data["client_secret"] == intent["client_secret"]

    # While it is pending, the same intent (and a fresh client secret) comes back.
    again = await start(client, scene)
    assert again.status_code == 200, again.text
    assert again.json()["data"]["payment"]["id"] == payment["id"]
    assert again.json()["data"]["client_secret"] == intent["client_secret"]
    assert len(fake_stripe.received("POST", "/v1/payment_intents")) == 1
    assert [r.path for r in fake_stripe.received("GET", "/v1/payment_intents/")] == [
        f"/v1/payment_intents/{intent['id']}"
    ]


async def test_client_idempotency_key_reaches_stripe_and_replays_locally(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe
) -> None:
    first = await start(client, scene, **{"Idempotency-Key": "checkout-42"})
    assert first.status_code == 201, first.text
    [sent] = fake_stripe.received("POST", "/v1/payment_intents")
    key = sent.headers["idempotency-key"]
    assert key.startswith(f"medhub-pi-{scene.order_id}-")
    assert "checkout-42" not in key
    replay = await start(client, scene, **{"Idempotency-Key": "checkout-42"})
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["data"] == first.json()["data"]
    assert len(fake_stripe.requests) == 1  # the replay never reached Stripe


async def test_concurrent_starts_create_one_intent(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe, admin_sql: AdminSql
) -> None:
    responses = await asyncio.gather(*(start(client, scene) for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [200, 200, 201]
    assert len(fake_stripe.received("POST", "/v1/payment_intents")) == 1
    assert (
        count(admin_sql, "SELECT count(*) FROM payments WHERE order_id = %s", scene.order_id) == 1
    )


async def test_an_intent_cancelled_or_lost_at_stripe_is_replaced(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe
) -> None:
    intent_id = await started_intent(client, scene)
    fake_stripe.intents[intent_id]["status"] = "canceled"
    response = await start(client, scene)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["payment"]["provider_reference"] != intent_id
    listed = (await client.get(api(scene.order_id), headers=scene.customer.headers)).json()
    assert [p["status"] for p in listed["data"]["payments"]] == ["pending", "failed"]

    # An intent Stripe no longer knows (the account's key changed, say) is replaced too.
    fake_stripe.intents.clear()
    replaced = await start(client, scene)
    assert replaced.status_code == 201, replaced.text
    listed = (await client.get(api(scene.order_id), headers=scene.customer.headers)).json()
    assert [p["status"] for p in listed["data"]["payments"]] == ["pending", "failed", "failed"]


async def test_stripe_refusal_and_outage(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe, admin_sql: AdminSql
) -> None:
    fake_stripe.fail_next(
        "/v1/payment_intents",
        Failure(
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "amount_too_small",
                    "message": "Amount must be at least $0.50 usd",
                }
            },
        ),
    )
    refused = await start(client, scene)
    error = assert_error(refused, 409, "PAYMENT_PROVIDER_REJECTED")
    assert error["message"] == "Amount must be at least $0.50 usd"

    fake_stripe.fail_next(
        "/v1/payment_intents",
        Failure(
            503,
            {"error": {"type": "api_error", "message": "Stripe is down"}},
            {"Stripe-Should-Retry": "false"},
        ),
    )
    down = await start(client, scene)
    assert_error(down, 503, "PAYMENT_PROVIDER_UNAVAILABLE")
    assert "Stripe is down" not in down.text
    assert (
        count(admin_sql, "SELECT count(*) FROM payments WHERE order_id = %s", scene.order_id) == 0
    )

    # Once Stripe answers again the payment starts normally.
    assert (await start(client, scene)).status_code == 201


async def test_mark_paid_is_for_bank_transfers_only(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    response = await client.post(
        api(scene.order_id, "payments/mark-paid"),
        json={"reference": "BANK-1", "amount": TOTAL},
        headers=scene.admin.headers,
    )
    assert_error(response, 409, "WRONG_PAYMENT_PROVIDER", "payment_provider")


# --- webhooks -------------------------------------------------------------------------------


async def test_succeeded_event_pays_and_invoices_once(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe, admin_sql: AdminSql
) -> None:
    intent_id = await started_intent(client, scene)
    payload = stripe_event(
        "payment_intent.succeeded",
        intent_event(fake_stripe, intent_id, "payment_intent.succeeded"),
        event_id="evt_success_1",
    )
    response = await deliver(client, payload)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"received": True, "duplicate": False, "outcome": "applied"}

    order = await order_of(client, scene)
    assert order["payment_status"] == "paid"
    assert order["paid_at"] is not None
    listed = (await client.get(api(scene.order_id), headers=scene.customer.headers)).json()
    assert [p["status"] for p in listed["data"]["payments"]] == ["succeeded"]
    invoice = await client.get(api(scene.order_id, "invoice"), headers=scene.customer.headers)
    assert invoice.status_code == 200, invoice.text
    assert INVOICE_NUMBER.match(invoice.json()["data"]["invoice_number"])
    pdf = await client.get(invoice.json()["data"]["download_url"], headers=scene.admin.headers)
    assert pdf.content.startswith(b"%PDF")

    # Stripe delivers at least once: the replay is acknowledged and changes nothing.
    notified = count(
        admin_sql, "SELECT count(*) FROM notifications WHERE user_id = %s", scene.customer.id
    )
    replay = await deliver(client, payload)
    assert replay.status_code == 200, replay.text
    assert replay.json()["data"] == {"received": True, "duplicate": True, "outcome": "duplicate"}
    assert (
        count(admin_sql, "SELECT count(*) FROM invoices WHERE order_id = %s", scene.order_id) == 1
    )
    assert (
        count(
            admin_sql,
            "SELECT count(*) FROM activity_logs WHERE action = 'order_payment_paid'"
            " AND entity_id = %s",
            scene.order_id,
        )
        == 1
    )
    assert (
        count(admin_sql, "SELECT count(*) FROM notifications WHERE user_id = %s", scene.customer.id)
        == notified
    )
    assert admin_sql("SELECT provider, event_type FROM payment_webhook_events") == [
        ("stripe", "payment_intent.succeeded")
    ]


async def test_concurrent_deliveries_apply_once(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe, admin_sql: AdminSql
) -> None:
    intent_id = await started_intent(client, scene)
    payload = stripe_event(
        "payment_intent.succeeded", intent_event(fake_stripe, intent_id, "payment_intent.succeeded")
    )
    responses = await asyncio.gather(*(deliver(client, payload) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert sorted(r.json()["data"]["duplicate"] for r in responses) == [False, True, True]
    assert (
        count(admin_sql, "SELECT count(*) FROM invoices WHERE order_id = %s", scene.order_id) == 1
    )


async def test_bad_signatures_change_nothing(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe, admin_sql: AdminSql
) -> None:
    intent_id = await started_intent(client, scene)
    payload = stripe_event(
        "payment_intent.succeeded", intent_event(fake_stripe, intent_id, "payment_intent.succeeded")
    )
    signed = signature_header(payload)
    tampered = payload.replace(str(TOTAL_CENTS).encode(), b"1")
    assert tampered != payload
    old = int(time.time()) - 301  # the default tolerance is 300 s

    for response in (
        await deliver(client, tampered, header=signed),
        await deliver(client, payload, secret="whsec_wrong"),
        await deliver(client, payload, at=old),
        await deliver(client, payload, header=""),
        await deliver(client, payload, header="t=notanumber,v1=abc"),
        await deliver(client, payload, header=f"t={int(time.time())}"),
        await deliver(client, payload, header=signed.replace("v1=", "v0=")),
    ):
        assert_error(response, 400, "INVALID_SIGNATURE", "Stripe-Signature")

    assert (await order_of(client, scene))["payment_status"] == "pending"
    assert count(admin_sql, "SELECT count(*) FROM payment_webhook_events") == 0
    assert count(admin_sql, "SELECT count(*) FROM invoices") == 0

    # The untouched delivery, in time, still goes through.
    assert (await deliver(client, payload)).json()["data"]["outcome"] == "applied"


async def test_a_tolerance_setting_is_honoured(
    make_settings: Callable[..., Settings], fake_stripe: FakeStripe
) -> None:
    provider = StripeProvider(
        make_settings(**stripe_overrides(fake_stripe), STRIPE_WEBHOOK_TOLERANCE_SECONDS=30)
    )
    payload = stripe_event("ping", {"id": "x"})
    assert provider.verify_webhook(payload, signature_header(payload, at=int(time.time()) - 20))
    with pytest.raises(InvalidSignature):
        provider.verify_webhook(payload, signature_header(payload, at=int(time.time()) - 40))


async def test_signed_but_malformed_events_are_400(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    for payload in (b"not json", b"[1, 2]", json.dumps({"id": "evt_1", "type": "x"}).encode()):
        response = await deliver(client, payload)
        assert response.status_code == 400, response.text
    assert count(admin_sql, "SELECT count(*) FROM payment_webhook_events") == 0


async def test_failed_event_then_a_new_attempt_succeeds(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe
) -> None:
    first = await started_intent(client, scene)
    failed = await deliver(
        client,
        stripe_event(
            "payment_intent.payment_failed",
            intent_event(fake_stripe, first, "payment_intent.payment_failed"),
        ),
    )
    assert failed.json()["data"]["outcome"] == "applied"
    assert (await order_of(client, scene))["payment_status"] == "failed"
    listed = (await client.get(api(scene.order_id), headers=scene.customer.headers)).json()
    [attempt] = listed["data"]["payments"]
    assert attempt["status"] == "failed"
    assert attempt["failure_reason"] == "Your card has insufficient funds."

    # The buyer tries again: a new PaymentIntent, which then succeeds.
    second = await started_intent(client, scene)
    assert second != first
    await deliver(
        client,
        stripe_event(
            "payment_intent.succeeded",
            intent_event(fake_stripe, second, "payment_intent.succeeded"),
        ),
    )
    assert (await order_of(client, scene))["payment_status"] == "paid"

    # A late failure report about the settled intent changes nothing.
    late = await deliver(
        client,
        stripe_event(
            "payment_intent.payment_failed",
            intent_event(fake_stripe, second, "payment_intent.payment_failed"),
        ),
    )
    assert late.json()["data"]["outcome"] == "ignored"
    assert (await order_of(client, scene))["payment_status"] == "paid"


async def test_unknown_events_and_intents_are_acknowledged(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    other_type = await deliver(client, stripe_event("customer.created", {"id": "cus_1"}))
    assert other_type.status_code == 200
    assert other_type.json()["data"]["outcome"] == "ignored"
    stranger = await deliver(
        client,
        stripe_event(
            "payment_intent.succeeded",
            {"id": "pi_not_ours", "object": "payment_intent", "status": "succeeded"},
        ),
    )
    assert stranger.status_code == 200
    assert stranger.json()["data"]["outcome"] == "ignored"
    assert count(admin_sql, "SELECT count(*) FROM payment_webhook_events") == 2


async def test_payment_for_a_cancelled_order_is_given_back(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe
) -> None:
    intent_id = await started_intent(client, scene)
    cancel = await client.put(
        f"/api/v1/orders/{scene.order_id}/cancel", headers=scene.customer.headers
    )
    assert cancel.status_code == 200, cancel.text
    response = await deliver(
        client,
        stripe_event(
            "payment_intent.succeeded",
            intent_event(fake_stripe, intent_id, "payment_intent.succeeded"),
        ),
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["outcome"] == "refunded"
    [refund] = fake_stripe.received("POST", "/v1/refunds")
    assert refund.form["payment_intent"] == intent_id
    assert refund.form["amount"] == str(TOTAL_CENTS)

    order = await order_of(client, scene)
    assert order["status"] == "cancelled"
    assert order["payment_status"] == "pending"
    listed = (await client.get(api(scene.order_id), headers=scene.customer.headers)).json()
    [attempt] = listed["data"]["payments"]
    assert attempt["status"] == "refunded"
    assert attempt["refund_reference"] in fake_stripe.refunds
    assert "cancelled" in attempt["failure_reason"]
    no_invoice = await client.get(api(scene.order_id, "invoice"), headers=scene.customer.headers)
    assert no_invoice.status_code == 404


# --- refunds --------------------------------------------------------------------------------


async def test_refund_goes_through_stripe(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe
) -> None:
    intent_id = await paid_through_stripe(client, scene, fake_stripe)
    url = api(scene.order_id, "payments/refund")
    with_reference = await client.post(
        url, json={"reason": "Duplicate order", "reference": "MY-REF"}, headers=scene.admin.headers
    )
    assert_error(with_reference, 400, "VALIDATION_ERROR", "reference")
    assert fake_stripe.received("POST", "/v1/refunds") == []

    response = await client.post(
        url, json={"reason": "Duplicate order"}, headers=scene.admin.headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    [sent] = fake_stripe.received("POST", "/v1/refunds")
    assert sent.form["payment_intent"] == intent_id
    assert sent.form["amount"] == str(TOTAL_CENTS)
    assert sent.form["metadata[order_id]"] == scene.order_id
    assert sent.headers["idempotency-key"] == f"medhub-refund-{data['payment']['id']}"
    assert data["payment"]["status"] == "refunded"
    assert data["payment"]["refund_reference"] in fake_stripe.refunds
    assert data["order"]["payment_status"] == "refunded"

    # Stripe then reports the refund we made: nothing left to do.
    echo = await deliver(
        client, stripe_event("charge.refunded", charge_refunded(intent_id, TOTAL_CENTS))
    )
    assert echo.json()["data"]["outcome"] == "ignored"
    assert (await order_of(client, scene))["payment_status"] == "refunded"


async def test_refund_refused_by_stripe_changes_nothing(
    client: httpx.AsyncClient, scene: Scene, fake_stripe: FakeStripe
) -> None:
    await paid_through_stripe(client, scene, fake_stripe)
    fake_stripe.fail_next(
        "/v1/refunds",
        Failure(
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "charge_already_refunded",
                    "message": "Charge ch_1 has already been refunded.",
                }
            },
        ),
    )
    response = await client.post(
        api(scene.order_id, "payments/refund"),
        json={"reason": "Customer request"},
        headers=scene.admin.headers,
    )
    assert_error(response, 409, "PAYMENT_PROVIDER_REJECTED")
    assert (await order_of(client, scene))["payment_status"] == "paid"


async def test_refund_made_in_the_stripe_dashboard(
    client: httpx.AsyncClient, factory: Factory, scene: Scene, fake_stripe: FakeStripe
) -> None:
    intent_id = await paid_through_stripe(client, scene, fake_stripe)
    partial = await deliver(
        client,
        stripe_event("charge.refunded", charge_refunded(intent_id, TOTAL_CENTS, full=False)),
    )
    assert partial.json()["data"]["outcome"] == "ignored"
    assert (await order_of(client, scene))["payment_status"] == "paid"

    charge = charge_refunded(intent_id, TOTAL_CENTS)
    full = await deliver(client, stripe_event("charge.refunded", charge))
    assert full.json()["data"]["outcome"] == "applied"
    assert (await order_of(client, scene))["payment_status"] == "refunded"
    listed = (await client.get(api(scene.order_id), headers=scene.admin.headers)).json()
    [attempt] = listed["data"]["payments"]
    assert attempt["status"] == "refunded"
    assert attempt["refund_reference"] == charge["refunds"]["data"][0]["id"]


async def test_a_second_successful_intent_is_refunded(
    client: httpx.AsyncClient, factory: Factory, fake_stripe: FakeStripe, admin_sql: AdminSql
) -> None:
    scene = await new_order(client, factory, await commerce.supplier(factory))
    first = await started_intent(client, scene)
    await deliver(
        client,
        stripe_event(
            "payment_intent.payment_failed",
            intent_event(fake_stripe, first, "payment_intent.payment_failed"),
        ),
    )
    second = await started_intent(client, scene)
    await deliver(
        client,
        stripe_event(
            "payment_intent.succeeded",
            intent_event(fake_stripe, second, "payment_intent.succeeded"),
        ),
    )
    # The buyer's browser still completed the first intent: the order is paid already.
    late = await deliver(
        client,
        stripe_event(
            "payment_intent.succeeded", intent_event(fake_stripe, first, "payment_intent.succeeded")
        ),
    )
    assert late.json()["data"]["outcome"] == "refunded"
    [refund] = fake_stripe.received("POST", "/v1/refunds")
    assert refund.form["payment_intent"] == first
    assert (await order_of(client, scene))["payment_status"] == "paid"
    assert (
        count(admin_sql, "SELECT count(*) FROM invoices WHERE order_id = %s", scene.order_id) == 1
    )
