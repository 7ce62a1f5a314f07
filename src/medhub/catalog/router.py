from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from medhub.authz.dependencies import OptionalPrincipal
from medhub.catalog import certifications, service, stock
from medhub.catalog.auth import ProductsWrite
from medhub.catalog.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    CertificationCreate,
    CertificationRead,
    CertificationUpdate,
    ProductCreate,
    ProductDetail,
    ProductFilters,
    ProductRead,
    ProductSort,
    ProductUpdate,
    SortOrder,
    StockAdjustmentCreate,
    StockMovementRead,
)
from medhub.kit.appstate import AppSettings
from medhub.kit.db import DbSession, ReadSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.pagination import Paging, page_envelope, page_of

router = APIRouter(tags=["catalog"])


@router.get(
    "/products",
    response_model=page_envelope("products", ProductRead),
    summary="Browse the catalog (anonymous allowed; prices and stock per settings)",
)
async def list_products(
    principal: OptionalPrincipal,
    session: ReadSession,
    settings: AppSettings,
    paging: Paging,
    category: Annotated[str | None, Query(max_length=100)] = None,
    search: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Name, description, indication")
    ] = None,
    supplier_id: uuid.UUID | None = None,
    in_stock: Annotated[
        bool | None, Query(description="Only products with stock available")
    ] = None,
    min_price: Annotated[Decimal | None, Query(ge=0)] = None,
    max_price: Annotated[Decimal | None, Query(ge=0)] = None,
    sort: Annotated[
        ProductSort | None, Query(description="name (default), price, created_at, relevance")
    ] = None,
    order: SortOrder = "asc",
    include_inactive: Annotated[
        bool, Query(description="Supplier staff: also your inactive products")
    ] = False,
) -> JSONResponse:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationFailed(
            "Invalid price range",
            details=[ErrorDetail(field="min_price", message="must not exceed max_price")],
        )
    filters = ProductFilters(
        category=category.lower() if category else None,
        search=search,
        supplier_id=supplier_id,
        in_stock=in_stock,
        min_price=min_price,
        max_price=max_price,
        sort=sort or ("relevance" if search else "name"),
        descending=order == "desc",
    )
    items, total = await service.list_products(
        session, principal, settings, filters, paging, include_inactive=include_inactive
    )
    return ok(page_of("products", items, paging, total))


@router.get(
    "/products/{product_id}",
    response_model=Envelope[ProductDetail],
    summary="One product with its certifications and documents",
)
async def get_product(
    product_id: uuid.UUID, principal: OptionalPrincipal, session: ReadSession, settings: AppSettings
) -> JSONResponse:
    return ok(await service.product_detail(session, principal, settings, product_id))


@router.post(
    "/products", status_code=201, response_model=Envelope[ProductRead], summary="Add a product"
)
async def create_product(
    body: ProductCreate, principal: ProductsWrite, session: DbSession, settings: AppSettings
) -> JSONResponse:
    product = await service.create_product(session, principal, settings, body)
    return created(product, message="Product created")


@router.put(
    "/products/{product_id}",
    response_model=Envelope[ProductRead],
    summary="Change a product (stock changes go through stock adjustments)",
)
async def update_product(
    product_id: uuid.UUID,
    body: ProductUpdate,
    principal: ProductsWrite,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    product = await service.update_product(session, principal, settings, product_id, body)
    return ok(product, message="Product updated")


@router.delete(
    "/products/{product_id}",
    response_model=Envelope[ProductRead],
    summary="Withdraw a product (soft delete: it stays on existing orders)",
)
async def delete_product(
    product_id: uuid.UUID, principal: ProductsWrite, session: DbSession, settings: AppSettings
) -> JSONResponse:
    product = await service.deactivate_product(session, principal, settings, product_id)
    return ok(product, message="Product deactivated")


# Certifications


@router.get(
    "/products/{product_id}/certifications",
    response_model=Envelope[list[CertificationRead]],
    summary="A product's certifications",
)
async def list_certifications(
    product_id: uuid.UUID, principal: OptionalPrincipal, session: ReadSession
) -> JSONResponse:
    return ok(await certifications.list_certifications(session, principal, product_id))


@router.post(
    "/products/{product_id}/certifications",
    status_code=201,
    response_model=Envelope[CertificationRead],
    summary="Add a certification",
)
async def add_certification(
    product_id: uuid.UUID, body: CertificationCreate, principal: ProductsWrite, session: DbSession
) -> JSONResponse:
    certification = await certifications.add_certification(session, principal, product_id, body)
    return created(certification, message="Certification added")


@router.put(
    "/products/{product_id}/certifications/{certification_id}",
    response_model=Envelope[CertificationRead],
    summary="Change a certification (a new expiry date restarts the expiry notices)",
)
async def update_certification(
    product_id: uuid.UUID,
    certification_id: uuid.UUID,
    body: CertificationUpdate,
    principal: ProductsWrite,
    session: DbSession,
) -> JSONResponse:
    certification = await certifications.update_certification(
        session, principal, product_id, certification_id, body
    )
    return ok(certification, message="Certification updated")


@router.delete(
    "/products/{product_id}/certifications/{certification_id}",
    response_model=Envelope[None],
    summary="Remove a certification",
)
async def delete_certification(
    product_id: uuid.UUID, certification_id: uuid.UUID, principal: ProductsWrite, session: DbSession
) -> JSONResponse:
    await certifications.delete_certification(session, principal, product_id, certification_id)
    return ok(None, message="Certification removed")


# Stock


@router.post(
    "/products/{product_id}/stock-adjustments",
    status_code=201,
    response_model=Envelope[dict[str, object]],
    summary="Change on-hand stock by a signed quantity, with a reason (logged)",
)
async def adjust_stock(
    product_id: uuid.UUID, body: StockAdjustmentCreate, principal: ProductsWrite, session: DbSession
) -> JSONResponse:
    movement, level = await stock.adjust_stock(
        session, principal, product_id, body.quantity, body.reason
    )
    return created({"movement": movement, "stock": level}, message="Stock adjusted")


@router.get(
    "/products/{product_id}/stock-movements",
    response_model=page_envelope("movements", StockMovementRead),
    summary="Every stock change of a product, newest first",
)
async def list_stock_movements(
    product_id: uuid.UUID, principal: ProductsWrite, session: DbSession, paging: Paging
) -> JSONResponse:
    items, total = await stock.list_movements(session, principal, product_id, paging)
    return ok(page_of("movements", items, paging, total))


# Categories


@router.get("/categories", response_model=Envelope[list[CategoryRead]], summary="Categories")
async def list_categories(
    principal: OptionalPrincipal,
    session: ReadSession,
    include_inactive: bool = False,
) -> JSONResponse:
    items = await service.list_categories(session, principal, include_inactive=include_inactive)
    return ok([CategoryRead.model_validate(c) for c in items])


@router.post(
    "/categories",
    status_code=201,
    response_model=Envelope[CategoryRead],
    summary="Add a category (super admins)",
)
async def create_category(
    body: CategoryCreate, principal: ProductsWrite, session: DbSession
) -> JSONResponse:
    return created(
        await service.create_category(session, principal, body), message="Category created"
    )


@router.put(
    "/categories/{slug}",
    response_model=Envelope[CategoryRead],
    summary="Rename, describe or retire a category (super admins)",
)
async def update_category(
    slug: str, body: CategoryUpdate, principal: ProductsWrite, session: DbSession
) -> JSONResponse:
    return ok(
        await service.update_category(session, principal, slug, body), message="Category updated"
    )
