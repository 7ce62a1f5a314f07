"""Payments and invoices of orders, and Stripe's webhook (full paths: they hang off
`/orders/{id}` as well as `/payments`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request

from medhub.authz.dependencies import CurrentPrincipal
from medhub.kit.appstate import AppSettings
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.payments import service
from medhub.payments.auth import PaymentsManage, PaymentStarter
from medhub.payments.schemas import (
    InvoiceRead,
    MarkPaid,
    PaymentRead,
    PaymentRecorded,
    PaymentStarted,
    RefundCreate,
    WebhookReceived,
)

router = APIRouter(tags=["payments"])
# Mounted beside the /api/v1 router, not in it: the provider's deliveries are signed,
# not authenticated, and come in bursts the per-IP anonymous limit would refuse.
webhook_router = APIRouter(tags=["payments"])


@router.post(
    "/orders/{order_id}/payments",
    status_code=201,
    response_model=Envelope[PaymentStarted],
    summary="Buyer: start paying an order with its provider (honours Idempotency-Key)",
    description=(
        "Bank transfer (manual): the reference to quote and what to transfer. Stripe: a"
        " PaymentIntent's `client_secret` to confirm in the browser. While an attempt is"
        " pending the same attempt is returned again (200) rather than a second one opened."
        " 409 if the order is cancelled, paid or refunded."
    ),
)
async def start_payment(
    order_id: uuid.UUID,
    principal: PaymentStarter,
    session: DbSession,
    settings: AppSettings,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    started = await service.start_payment(
        session, principal, settings, order_id, idempotency_key=idempotency_key
    )
    headers = {"Idempotent-Replayed": "true"} if started.replayed else None
    message = "Payment started" if started.status_code == 201 else "Payment already in progress"
    return ok(started.data, message=message, status_code=started.status_code, headers=headers)


@router.get(
    "/orders/{order_id}/payments",
    response_model=page_envelope("payments", PaymentRead),
    summary="An order's payment attempts, newest first (its buyer and the supplier's staff)",
)
async def list_payments(
    order_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession, paging: Paging
) -> JSONResponse:
    items, total = await service.list_payments(session, principal, order_id, paging)
    return ok(page_of("payments", items, paging, total))


@router.post(
    "/orders/{order_id}/payments/mark-paid",
    response_model=Envelope[PaymentRecorded],
    summary="Supplier admin: record a bank transfer received (the order is paid and invoiced)",
)
async def mark_paid(
    order_id: uuid.UUID,
    body: MarkPaid,
    principal: PaymentsManage,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    recorded = await service.mark_paid(session, principal, settings, order_id, body)
    return ok(recorded, message="Payment recorded")


@router.post(
    "/orders/{order_id}/payments/refund",
    response_model=Envelope[PaymentRecorded],
    summary="Supplier admin: refund a paid order in full (Stripe refunds through Stripe)",
)
async def refund_payment(
    order_id: uuid.UUID,
    body: RefundCreate,
    principal: PaymentsManage,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    recorded = await service.refund(session, principal, settings, order_id, body)
    return ok(recorded, message="Payment refunded")


@router.get(
    "/orders/{order_id}/invoice",
    response_model=Envelope[InvoiceRead],
    summary="An order's invoice (issued when it is paid) and where to download its PDF",
)
async def get_invoice(
    order_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> JSONResponse:
    return ok(await service.read_invoice(session, principal, order_id))


@webhook_router.post(
    "/payments/webhooks/stripe",
    response_model=Envelope[WebhookReceived],
    summary="Stripe webhook (signed with STRIPE_WEBHOOK_SECRET; each event applied once)",
    description=(
        "Verifies `Stripe-Signature` over the raw body (400 `INVALID_SIGNATURE` if it does"
        " not match or is too old). Handles `payment_intent.succeeded`,"
        " `payment_intent.payment_failed` and `charge.refunded`; other events, and events"
        " about PaymentIntents this server did not create, are acknowledged and ignored."
    ),
)
async def stripe_webhook(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> JSONResponse:
    # The signature covers the exact bytes Stripe sent: read them, never re-encoded JSON.
    payload = await request.body()
    received = await service.handle_stripe_webhook(session, settings, payload, stripe_signature)
    return ok(received)
