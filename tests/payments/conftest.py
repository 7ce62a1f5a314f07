"""Orders to pay, a fake Stripe API server, and Stripe-signed webhook deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import commerce
from tests.factories import Account, Factory
from tests.payments.fake_stripe import FakeStripe

AdminSql = Callable[..., list[tuple[Any, ...]]]
INVOICE_NUMBER = re.compile(r"^INV-\d{4}-\d{6}$")
WEBHOOK_SECRET = "whsec_test"
WEBHOOK_URL = "/api/v1/payments/webhooks/stripe"
# Two boxes at the default product price (125.50): 251.00, or 25100 cents.
QUANTITY = 2
TOTAL = 251.0
TOTAL_CENTS = 25100


@dataclass
class Scene:
    supplier: commerce.Supplier
    buyer: commerce.Buyer
    product: dict[str, Any]
    order: dict[str, Any]

    @property
    def order_id(self) -> str:
        return str(self.order["id"])

    @property
    def admin(self) -> Account:
        return self.supplier.admin

    @property
    def customer(self) -> Account:
        return self.buyer.account


async def new_order(
    client: httpx.AsyncClient, factory: Factory, supplier: commerce.Supplier | None = None
) -> Scene:
    supplier = supplier or await commerce.supplier(factory, name="Acme Pharma Supply")
    product = await commerce.product(client, supplier.admin)
    buyer = await commerce.buyer(factory)
    response = await commerce.place(client, buyer, [(product["id"], QUANTITY)])
    assert response.status_code == 201, response.text
    return Scene(supplier, buyer, product, response.json()["data"])


@pytest.fixture
async def scene(client: httpx.AsyncClient, factory: Factory) -> Scene:
    return await new_order(client, factory)


def api(order_id: str | uuid.UUID, suffix: str = "payments") -> str:
    return f"/api/v1/orders/{order_id}/{suffix}"


async def order_of(client: httpx.AsyncClient, scene: Scene) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orders/{scene.order_id}", headers=scene.customer.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def count(admin_sql: AdminSql, statement: str, *params: Any) -> int:
    return int(admin_sql(statement, list(params))[0][0])


def pdf_text(content: bytes) -> str:
    """The page text of a PDF fpdf2 wrote: its content streams, inflated."""
    texts: list[str] = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.DOTALL):
        try:
            texts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            texts.append(stream.decode("latin-1"))
    return "\n".join(texts)


# --- Stripe ---------------------------------------------------------------------------------


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    server = FakeStripe().start()
    try:
        yield server
    finally:
        server.stop()


def stripe_overrides(fake: FakeStripe) -> dict[str, Any]:
    return {
        "PAYMENT_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake.url,
    }


def signature_header(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """What Stripe sends: `t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload">`."""
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, subject: dict[str, Any], event_id: str | None = None) -> bytes:
    event = {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": subject},
    }
    return json.dumps(event).encode()


def intent_event(
    fake: FakeStripe, intent_id: str, event_type: str, **changes: Any
) -> dict[str, Any]:
    """The PaymentIntent as Stripe would describe it in an event of `event_type`."""
    intent = {**fake.intents.get(intent_id, {"id": intent_id, "object": "payment_intent"})}
    if event_type == "payment_intent.succeeded":
        intent.update(status="succeeded", amount_received=intent.get("amount"))
    elif event_type == "payment_intent.payment_failed":
        intent.update(
            status="requires_payment_method",
            last_payment_error={
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            },
        )
    intent.update(changes)
    return intent


def charge_refunded(intent_id: str, amount: int, *, full: bool = True) -> dict[str, Any]:
    refunded = amount if full else amount // 2
    return {
        "id": f"ch_{secrets.token_hex(12)}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "payment_intent": intent_id,
        "refunded": full,
        "refunds": {
            "object": "list",
            "data": [{"id": f"re_{secrets.token_hex(12)}", "object": "refund", "amount": refunded}],
        },
    }


async def deliver(
    client: httpx.AsyncClient,
    payload: bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    at: int | None = None,
    header: str | None = None,
) -> httpx.Response:
    return await client.post(
        WEBHOOK_URL,
        content=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": header
            if header is not None
            else signature_header(payload, secret, at),
        },
    )
