from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query

from medhub.kit.appstate import AppSettings
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.pharmacy_stock import PharmacyMovementKind
from medhub.pharmacy_stock import managing, restock, service
from medhub.pharmacy_stock.auth import PharmacyReorder, PharmacyStockManage
from medhub.pharmacy_stock.schemas import (
    BatchExpirySet,
    BatchExpiryUpdate,
    InventoryFilters,
    InventoryItem,
    InventorySort,
    MovementRead,
    ReorderCreate,
    ReorderPlaced,
    ReorderPointUpdate,
    SortOrder,
    StockAdjust,
    StockChange,
    StockReceive,
)

router = APIRouter(prefix="/pharmacy/inventory", tags=["pharmacy"])


@router.get(
    "",
    response_model=page_envelope("inventory", InventoryItem),
    summary="Your organization's stock: products with their batches, expiry and low-stock flag",
)
async def list_inventory(
    principal: PharmacyStockManage,
    session: DbSession,
    paging: Paging,
    search: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Product name")
    ] = None,
    low_stock: Annotated[
        bool | None, Query(description="Only products at or below their reorder point")
    ] = None,
    expiring_within_days: Annotated[
        int | None,
        Query(
            ge=0,
            le=3650,
            description="Only products with units expiring within this many days (or expired)",
        ),
    ] = None,
    sort: Annotated[
        InventorySort | None, Query(description="name (default), on_hand, next_expiry, updated_at")
    ] = None,
    order: SortOrder = "asc",
) -> JSONResponse:
    filters = InventoryFilters(
        search=search,
        low_stock=low_stock,
        expiring_within_days=expiring_within_days,
        sort=sort or "name",
        descending=order == "desc",
    )
    items, total = await service.list_inventory(session, principal, filters, paging)
    return ok(page_of("inventory", items, paging, total))


@router.post(
    "/receive",
    status_code=201,
    response_model=Envelope[StockChange],
    summary="Receive units into a batch (a new one, or more of one held with the same expiry)",
)
async def receive_stock(
    body: StockReceive, principal: PharmacyStockManage, session: DbSession
) -> JSONResponse:
    return created(await managing.receive(session, principal, body), message="Stock received")


@router.post(
    "/adjust",
    response_model=Envelope[StockChange],
    summary="Correct a batch by a signed quantity, with a reason (never below zero)",
)
async def adjust_stock(
    body: StockAdjust, principal: PharmacyStockManage, session: DbSession
) -> JSONResponse:
    return ok(await managing.adjust(session, principal, body), message="Stock adjusted")


@router.put(
    "/batches/{batch_id}",
    response_model=Envelope[BatchExpirySet],
    summary="Record a batch's expiry date (a delivered reorder's has none), or correct it",
)
async def set_batch_expiry(
    batch_id: uuid.UUID,
    body: BatchExpiryUpdate,
    principal: PharmacyStockManage,
    session: DbSession,
) -> JSONResponse:
    changed = await managing.set_batch_expiry(session, principal, batch_id, body)
    return ok(changed, message="Batch expiry set")


@router.post(
    "/reorder",
    status_code=201,
    response_model=Envelope[ReorderPlaced],
    summary="Order from the products' supplier; the delivery arrives in stock (Idempotency-Key)",
)
async def reorder(
    body: ReorderCreate,
    principal: PharmacyReorder,
    session: DbSession,
    settings: AppSettings,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    placed = await restock.place_reorder(
        session, principal, settings, body, idempotency_key=idempotency_key
    )
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return ok(
        placed.data, message="Reorder placed", status_code=placed.status_code, headers=headers
    )


@router.get(
    "/{product_id}",
    response_model=Envelope[InventoryItem],
    summary="One product of your stock with its batches",
)
async def get_inventory_item(
    product_id: uuid.UUID, principal: PharmacyStockManage, session: DbSession
) -> JSONResponse:
    return ok(await service.get_inventory_item(session, principal, product_id))


@router.put(
    "/{product_id}",
    response_model=Envelope[InventoryItem],
    summary="Set a product's reorder point (alerts at or below it)",
)
async def set_reorder_point(
    product_id: uuid.UUID,
    body: ReorderPointUpdate,
    principal: PharmacyStockManage,
    session: DbSession,
) -> JSONResponse:
    item = await managing.set_reorder_point(session, principal, product_id, body)
    return ok(item, message="Reorder point set")


@router.get(
    "/{product_id}/movements",
    response_model=page_envelope("stock_movements", MovementRead),
    summary="Every change of a product's batches in your stock, newest first",
)
async def list_movements(
    product_id: uuid.UUID,
    principal: PharmacyStockManage,
    session: DbSession,
    paging: Paging,
    kind: PharmacyMovementKind | None = None,
) -> JSONResponse:
    items, total = await service.list_movements(session, principal, product_id, kind, paging)
    return ok(page_of("stock_movements", items, paging, total))
