from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, UploadFile

from medhub.authz.dependencies import CurrentPrincipal
from medhub.kit.appstate import AppSettings
from medhub.kit.dates import DayRangeQueryWithLegacyNames
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.errors import PayloadTooLarge
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.orders import OrderStatus, PaymentStatus
from medhub.orders import bulk, lifecycle, placing, service
from medhub.orders.auth import OrdersBulk, OrdersCreate, OrdersManage
from medhub.orders.schemas import (
    OrderCancel,
    OrderCreate,
    OrderFilters,
    OrderRead,
    OrderStatusUpdate,
    OrderSummary,
)

router = APIRouter(prefix="/orders", tags=["orders"])

BULK_FILE_MAX_BYTES = 1024 * 1024


@router.post(
    "",
    status_code=201,
    response_model=Envelope[OrderRead],
    summary="Place an order (stock is reserved; honours Idempotency-Key)",
)
async def create_order(
    body: OrderCreate,
    principal: OrdersCreate,
    session: DbSession,
    settings: AppSettings,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    placed = await placing.place_order(
        session, principal, settings, body, idempotency_key=idempotency_key
    )
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return ok(placed.data, message="Order placed", status_code=placed.status_code, headers=headers)


@router.post(
    "/bulk",
    status_code=201,
    response_model=Envelope[OrderRead],
    summary="Distributors: one order from a CSV file (manufacturer_code,quantity), all or nothing",
)
async def create_bulk_order(
    principal: OrdersBulk,
    session: DbSession,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="CSV with header manufacturer_code,quantity")],
    shipping_address_id: Annotated[uuid.UUID, Form()],
    billing_address_id: Annotated[uuid.UUID | None, Form()] = None,
    notes: Annotated[str | None, Form(max_length=2000)] = None,
) -> JSONResponse:
    content = await file.read(BULK_FILE_MAX_BYTES + 1)
    if len(content) > BULK_FILE_MAX_BYTES:
        raise PayloadTooLarge(f"A bulk order file is at most {BULK_FILE_MAX_BYTES} bytes")
    order = await bulk.place_bulk_order(
        session,
        principal,
        settings,
        content,
        shipping_address_id=shipping_address_id,
        billing_address_id=billing_address_id,
        notes=notes,
    )
    return created(order, message="Bulk order placed")


@router.get(
    "",
    response_model=page_envelope("orders", OrderSummary),
    summary="Orders: your own, or all of your supplier's for its staff",
)
async def list_orders(
    principal: CurrentPrincipal,
    session: DbSession,
    paging: Paging,
    placed: DayRangeQueryWithLegacyNames,
    status: OrderStatus | None = None,
    payment_status: PaymentStatus | None = None,
    search: Annotated[
        str | None, Query(min_length=3, max_length=50, description="Order number")
    ] = None,
) -> JSONResponse:
    filters = OrderFilters(
        status=status.value if status else None,
        payment_status=payment_status.value if payment_status else None,
        date_from=placed.start,
        date_to=placed.end,
        search=search,
    )
    items, total = await service.list_orders(session, principal, filters, paging)
    return ok(page_of("orders", items, paging, total))


@router.get("/{order_id}", response_model=Envelope[OrderRead], summary="One order with its items")
async def get_order(
    order_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> JSONResponse:
    return ok(await service.read_order(session, principal, order_id))


@router.put(
    "/{order_id}/status",
    response_model=Envelope[OrderRead],
    summary="Supplier staff: move an order on (tracking number required when shipped)",
)
async def update_status(
    order_id: uuid.UUID, body: OrderStatusUpdate, principal: OrdersManage, session: DbSession
) -> JSONResponse:
    order = await lifecycle.change_status(session, principal, order_id, body)
    return ok(order, message=f"Order {order.status}")


@router.put(
    "/{order_id}/cancel",
    response_model=Envelope[OrderRead],
    summary="Cancel your order while it is pending or confirmed (stock is released)",
)
async def cancel_order(
    order_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    body: OrderCancel | None = None,
) -> JSONResponse:
    order = await lifecycle.cancel_by_buyer(
        session, principal, order_id, body.reason if body else None
    )
    return ok(order, message="Order cancelled")
