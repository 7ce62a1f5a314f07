"""Catalog use cases: browsing, product detail, product and category management.

Stock changes live in `stock`, certifications in `certifications`; finding a product
for a caller (the 404/403 rules every use case starts from) in `lookup`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.catalog import stock
from medhub.catalog.access import Viewer, managed_supplier
from medhub.catalog.certifications import certification_view
from medhub.catalog.exceptions import CategoryNotFound
from medhub.catalog.lookup import get_managed_product, get_product_row
from medhub.catalog.repository import (
    CategoryRepository,
    CertificationRepository,
    ProductRepository,
    ProductRow,
)
from medhub.catalog.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    DocumentSummary,
    ProductCreate,
    ProductDetail,
    ProductFilters,
    ProductRead,
    ProductUpdate,
)
from medhub.config import Settings
from medhub.documents import service as documents
from medhub.documents.schemas import DOWNLOAD_URL
from medhub.kit.errors import Conflict, ErrorDetail, PermissionDenied, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.models.catalog import Product, ProductCategory
from medhub.models.identity import OrganizationKind

MANUFACTURER_CODE_CONSTRAINT = "uq_products_manufacturer_code"


def product_view(product: Product | ProductRow, viewer: Viewer) -> ProductRead:
    staff = viewer.is_staff_of(product.supplier_id)
    # `is not None`: a distributor price of 0.00 is a price (the one `price_for` charges).
    special = (
        viewer.is_distributor_of(product.supplier_id) and product.distributor_price is not None
    )
    price: Decimal | None = product.distributor_price if special else product.price
    show_price = viewer.sees_prices
    show_stock = viewer.sees_stock
    available = product.available_quantity
    return ProductRead(
        id=product.id,
        supplier_id=product.supplier_id,
        name=product.name,
        category=product.category,
        description=product.description,
        dosage=product.dosage,
        packaging=product.packaging,
        indication=product.indication,
        manufacturer_code=product.manufacturer_code,
        price=price if show_price else None,
        list_price=product.price if show_price else None,
        currency=product.currency,
        stock_quantity=product.stock_quantity if show_stock else None,
        available_quantity=available if show_stock else None,
        in_stock=available > 0 if show_stock else None,
        min_order_quantity=product.min_order_quantity,
        is_active=product.is_active,
        created_at=product.created_at,
        updated_at=product.updated_at,
        reserved_quantity=product.reserved_quantity if staff else None,
        distributor_price=product.distributor_price if staff or special else None,
        low_stock_threshold=product.low_stock_threshold if staff else None,
    )


# Browsing


async def list_products(
    session: AsyncSession,
    principal: Principal | None,
    settings: Settings,
    filters: ProductFilters,
    params: PageParams,
    *,
    include_inactive: bool = False,
) -> tuple[list[ProductRead], int]:
    viewer = Viewer.of(principal, settings)
    if include_inactive:
        organization_id = principal.organization_id if principal else None
        if principal is not None and principal.is_super_admin:
            filters = replace(filters, all_inactive=True)
        elif organization_id is not None and viewer.is_staff_of(organization_id):
            filters = replace(filters, inactive_of=organization_id)
        else:
            raise PermissionDenied("Only a supplier's staff list inactive products")
    products, total = await ProductRepository(session).search(
        filters, limit=params.limit, offset=params.offset
    )
    return [product_view(p, viewer) for p in products], total


async def product_detail(
    session: AsyncSession, principal: Principal | None, settings: Settings, product_id: uuid.UUID
) -> ProductDetail:
    # A hot public page: its three reads come as rows, below the ORM (kit.rows).
    product = await get_product_row(session, principal, product_id)
    viewer = Viewer.of(principal, settings)
    certifications = await CertificationRepository(session).rows_for_product(product.id)
    files = await documents.summaries_for_entity(session, "product", product.id)
    return ProductDetail(
        **product_view(product, viewer).model_dump(),
        certifications=[certification_view(c) for c in certifications],
        documents=[
            DocumentSummary(**d, download_url=DOWNLOAD_URL.format(id=d["id"])) for d in files
        ],
    )


# Managing products


async def _check_category(repository: ProductRepository, slug: str) -> None:
    if not await repository.category_exists(slug):
        raise ValidationFailed(
            "Unknown category",
            details=[ErrorDetail(field="category", message=f"no active category {slug!r}")],
        )


def _duplicate_code(code: str) -> Conflict:
    return Conflict(
        "A product with this manufacturer code already exists",
        details=[ErrorDetail(field="manufacturer_code", message=f"{code!r} is taken")],
    )


async def create_product(
    session: AsyncSession, principal: Principal, settings: Settings, data: ProductCreate
) -> ProductRead:
    supplier_id = managed_supplier(principal, data.supplier_id)
    repository = ProductRepository(session)
    if await repository.supplier_kind(supplier_id) != OrganizationKind.supplier:
        if not principal.is_super_admin:
            # An admin of a hospital or pharmacy: they have no catalog to manage.
            raise PermissionDenied("Only a supplier's admins manage its catalog")
        raise ValidationFailed(
            "Products belong to a supplier",
            details=[ErrorDetail(field="supplier_id", message="not a supplier organization")],
        )
    category = data.category.lower()
    await _check_category(repository, category)
    product = Product(
        supplier_id=supplier_id,
        category=category,
        name=data.name,
        description=data.description,
        dosage=data.dosage,
        packaging=data.packaging,
        indication=data.indication,
        manufacturer_code=data.manufacturer_code,
        price=data.price,
        distributor_price=data.distributor_price,
        currency=data.currency or settings.DEFAULT_CURRENCY,
        stock_quantity=0,
        reserved_quantity=0,
        min_order_quantity=data.min_order_quantity,
        low_stock_threshold=data.low_stock_threshold,
        is_active=data.is_active,
    )
    try:
        async with session.begin_nested():
            await repository.add(product)
    except IntegrityError as error:
        if MANUFACTURER_CODE_CONSTRAINT in str(error.orig):
            raise _duplicate_code(data.manufacturer_code) from error
        raise
    if data.stock_quantity:
        await stock.adjust(session, principal, product, data.stock_quantity, reason="Initial stock")
        # The adjustment is a plain UPDATE: reload the figures it changed for the answer.
        await session.refresh(product)
    else:
        # Created empty with a threshold: already low, so alert now, not at the next change.
        await stock.track_low_stock(session, product)
    audit.record(
        session,
        "product_created",
        actor=principal,
        entity_type="product",
        entity_id=product.id,
        organization_id=supplier_id,
        metadata={"manufacturer_code": product.manufacturer_code, "name": product.name},
    )
    return product_view(product, Viewer.of(principal, settings))


async def update_product(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    product_id: uuid.UUID,
    data: ProductUpdate,
) -> ProductRead:
    product = await get_managed_product(session, principal, product_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        raise ValidationFailed(
            "Nothing to update", details=[ErrorDetail(field="body", message="empty")]
        )
    repository = ProductRepository(session)
    if "category" in changes:
        changes["category"] = changes["category"].lower()
        await _check_category(repository, changes["category"])
    before = {key: _plain(getattr(product, key)) for key in changes}
    for key, value in changes.items():
        setattr(product, key, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        if MANUFACTURER_CODE_CONSTRAINT in str(error.orig):
            raise _duplicate_code(str(changes.get("manufacturer_code"))) from error
        raise
    if "low_stock_threshold" in changes:
        await stock.track_low_stock(session, product)
    audit.record(
        session,
        "product_updated",
        actor=principal,
        entity_type="product",
        entity_id=product.id,
        organization_id=product.supplier_id,
        metadata={"before": before, "after": {k: _plain(v) for k, v in changes.items()}},
    )
    await session.refresh(product)
    return product_view(product, Viewer.of(principal, settings))


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal | uuid.UUID) else value


async def deactivate_product(
    session: AsyncSession, principal: Principal, settings: Settings, product_id: uuid.UUID
) -> ProductRead:
    """Soft delete: the product leaves the catalog but stays on the orders that have it."""
    product = await get_managed_product(session, principal, product_id, for_update=True)
    if not product.is_active:
        raise Conflict("The product is already inactive")
    product.is_active = False
    await session.flush()
    audit.record(
        session,
        "product_deactivated",
        actor=principal,
        entity_type="product",
        entity_id=product.id,
        organization_id=product.supplier_id,
    )
    await session.refresh(product)
    return product_view(product, Viewer.of(principal, settings))


# Categories


async def list_categories(
    session: AsyncSession, principal: Principal | None, *, include_inactive: bool
) -> Sequence[ProductCategory]:
    if include_inactive and (principal is None or not principal.is_super_admin):
        raise PermissionDenied("Only super admins list inactive categories")
    return await CategoryRepository(session).list(include_inactive=include_inactive)


def _category_admin(principal: Principal) -> None:
    # Categories are shared by every supplier's catalog: the platform owns them.
    if not principal.is_super_admin:
        raise PermissionDenied("Categories are managed by the platform's super admins")


async def create_category(
    session: AsyncSession, principal: Principal, data: CategoryCreate
) -> CategoryRead:
    _category_admin(principal)
    repository = CategoryRepository(session)
    if await repository.by_slug(data.slug) is not None:
        raise Conflict(
            "A category with this slug exists",
            details=[ErrorDetail(field="slug", message=f"{data.slug!r} is taken")],
        )
    category = await repository.add(
        ProductCategory(slug=data.slug, name=data.name, description=data.description)
    )
    audit.record(
        session,
        "category_created",
        actor=principal,
        entity_type="category",
        entity_id=category.id,
        metadata={"slug": data.slug},
    )
    return CategoryRead.model_validate(category)


async def update_category(
    session: AsyncSession, principal: Principal, slug: str, data: CategoryUpdate
) -> CategoryRead:
    _category_admin(principal)
    category = await CategoryRepository(session).by_slug(slug, for_update=True)
    if category is None:
        raise CategoryNotFound()
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(category, key, value)
    await session.flush()
    audit.record(
        session,
        "category_updated",
        actor=principal,
        entity_type="category",
        entity_id=category.id,
        metadata={"slug": slug, "changes": changes},
    )
    await session.refresh(category)
    return CategoryRead.model_validate(category)


# For orders


async def products_by_ids(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Product]:
    """Products (active or not) by id: the order decides what an inactive one means."""
    return await ProductRepository(session).by_ids(product_ids)


async def products_by_codes(session: AsyncSession, codes: Sequence[str]) -> dict[str, Product]:
    """Products by manufacturer code, keyed by the lower-cased code."""
    return await ProductRepository(session).by_codes(codes)


def price_for(product: Product, principal: Principal) -> tuple[Decimal | None, str]:
    """The unit price this buyer pays, and the tier it comes from."""
    viewer = Viewer(principal, public_prices=True, public_stock=True)
    if viewer.is_distributor_of(product.supplier_id) and product.distributor_price is not None:
        return product.distributor_price, "distributor"
    return product.price, "list"
