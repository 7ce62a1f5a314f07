"""Catalog queries. The catalog is public, so there is no tenant scoping in SQL;
what a caller may change is decided by the service (the product's supplier)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, LiteralString

from psycopg import sql
from sqlalchemy import Select, literal_column, select, text, update
from sqlalchemy.orm import defer

from medhub.catalog.schemas import ProductFilters
from medhub.kit import rows
from medhub.kit.repository import Repository
from medhub.models.catalog import (
    Product,
    ProductCategory,
    ProductCertification,
    StockMovement,
)


@dataclass(frozen=True, slots=True)
class ProductRow:
    """A product as the detail page reads it (kit.rows: no ORM entity)."""

    id: uuid.UUID
    supplier_id: uuid.UUID
    name: str
    category: str
    description: str
    dosage: str | None
    packaging: str | None
    indication: str | None
    manufacturer_code: str
    price: Decimal | None
    distributor_price: Decimal | None
    currency: str
    stock_quantity: int
    reserved_quantity: int
    min_order_quantity: int
    low_stock_threshold: int
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def available_quantity(self) -> int:
        return self.stock_quantity - self.reserved_quantity


_PRODUCT_ROW = (
    "SELECT id, supplier_id, name, category, description, dosage, packaging, indication,"
    " manufacturer_code, price, distributor_price, currency, stock_quantity,"
    " reserved_quantity, min_order_quantity, low_stock_threshold, is_active, created_at,"
    " updated_at FROM products WHERE id = %(id)s"
)
_CERTIFICATION_ROWS = (
    "SELECT id, product_id, certification_type, certificate_number, issue_date, expiry_date,"
    " certificate_url FROM product_certifications WHERE product_id = %(id)s"
    " ORDER BY expiry_date, id"
)


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_PRODUCT_LIST_SELECT = sql.SQL(
    "SELECT id, supplier_id, name, category, description, dosage, packaging, indication,"
    " manufacturer_code, price, distributor_price, currency, stock_quantity,"
    " reserved_quantity, min_order_quantity, low_stock_threshold, is_active, created_at,"
    " updated_at"
)
# The text search: the search vector (whole words and codes) or a partial name
# ("cardio") through the trigram index, so no unindexed scan; ranked by both.
_SEARCH_CONDITION = sql.SQL(
    "(search_vector @@ websearch_to_tsquery('english', %(search)s)"
    " OR name ILIKE %(pattern)s ESCAPE '\\')"
)
_SEARCH_RANK = (
    "ts_rank_cd(search_vector, websearch_to_tsquery('english', %(search)s))"
    " + similarity(name, %(search)s)"
)
_SORT_COLUMNS: dict[str, LiteralString] = {
    "name": "name",
    "price": "price",
    "created_at": "created_at",
}


def _search_conditions(filters: ProductFilters) -> tuple[list[sql.Composable], dict[str, Any]]:
    """The WHERE conditions of a list or search (constant fragments; values bound)."""
    where: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if filters.all_inactive:
        pass
    elif filters.inactive_of is not None:
        where.append(sql.SQL("(is_active OR supplier_id = %(inactive_of)s)"))
        params["inactive_of"] = filters.inactive_of
    else:
        where.append(sql.SQL("is_active"))
    if filters.category:
        where.append(sql.SQL("category = %(category)s"))
        params["category"] = filters.category
    if filters.supplier_id:
        where.append(sql.SQL("supplier_id = %(supplier_id)s"))
        params["supplier_id"] = filters.supplier_id
    if filters.in_stock is True:
        where.append(sql.SQL("stock_quantity > reserved_quantity"))
    elif filters.in_stock is False:
        where.append(sql.SQL("stock_quantity <= reserved_quantity"))
    if filters.min_price is not None:
        where.append(sql.SQL("price >= %(min_price)s"))
        params["min_price"] = filters.min_price
    if filters.max_price is not None:
        where.append(sql.SQL("price <= %(max_price)s"))
        params["max_price"] = filters.max_price
    if filters.search:
        where.append(_SEARCH_CONDITION)
        params["search"] = filters.search
        params["pattern"] = f"%{escape_like(filters.search)}%"
    if not where:
        where.append(sql.SQL("TRUE"))
    return where, params


def _ordering(filters: ProductFilters) -> sql.Composable:
    if filters.sort == "relevance" and filters.search:
        return sql.SQL(f"{_SEARCH_RANK} DESC, name ASC, id ASC")
    column = _SORT_COLUMNS.get(filters.sort, "name")
    if filters.descending:
        return sql.SQL(f"{column} DESC NULLS LAST, id DESC")
    return sql.SQL(f"{column} ASC NULLS LAST, id ASC")


class CategoryRepository(Repository[ProductCategory]):
    model = ProductCategory

    async def list(self, *, include_inactive: bool) -> Sequence[ProductCategory]:
        statement = select(ProductCategory).order_by(ProductCategory.name)
        if not include_inactive:
            statement = statement.where(ProductCategory.is_active)
        return (await self.session.execute(statement)).scalars().all()

    async def by_slug(self, slug: str, *, for_update: bool = False) -> ProductCategory | None:
        statement = select(ProductCategory).where(ProductCategory.slug == slug)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()


class ProductRepository(Repository[Product]):
    model = Product

    def base_statement(self) -> Select[Product]:
        # The search vector is for WHERE clauses only, never worth sending back.
        return select(Product).options(defer(Product.search_vector))

    async def detail_row(self, product_id: uuid.UUID) -> ProductRow | None:
        row = await rows.fetch_one(self.session, _PRODUCT_ROW, {"id": product_id})
        return ProductRow(**row) if row is not None else None

    async def get_for_update(self, product_id: uuid.UUID) -> Product | None:
        statement = self.base_statement().where(Product.id == product_id).with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Product]:
        if not ids:
            return {}
        statement = self.base_statement().where(Product.id.in_(ids))
        return {p.id: p for p in (await self.session.execute(statement)).scalars()}

    async def by_codes(self, codes: Sequence[str]) -> dict[str, Product]:
        """Products by manufacturer code (case-insensitive), keyed by the lower-cased code."""
        if not codes:
            return {}
        statement = self.base_statement().where(Product.manufacturer_code.in_(codes))
        return {
            p.manufacturer_code.lower(): p
            for p in (await self.session.execute(statement)).scalars()
        }

    async def search(
        self, filters: ProductFilters, *, limit: int, offset: int
    ) -> tuple[list[ProductRow], int]:
        """One page and the total count, as rows (kit.rows: no ORM statement to build,
        compile and load per request; a page only shows data).

        A text search counts with a window over its matches (a few hundred rows, in the
        same round trip). A browse does not: a window count would read and sort the
        whole category for every page, where the page alone comes in index order
        (ix_products_browse_*) and the count from an index-only scan, and is skipped when
        the page itself shows where the list ends.
        """
        where, params = _search_conditions(filters)
        condition = sql.SQL(" AND ").join(where)
        params = {**params, "limit": limit, "offset": offset}
        windowed = bool(filters.search)
        page = sql.SQL(
            "{select}{window} FROM products WHERE {condition} ORDER BY {ordering}"
            " LIMIT %(limit)s OFFSET %(offset)s"
        ).format(
            select=_PRODUCT_LIST_SELECT,
            window=sql.SQL(", count(*) OVER () AS total" if windowed else ""),
            condition=condition,
            ordering=_ordering(filters),
        )
        found = await rows.fetch_all(self.session, page, params)
        if windowed and found:
            total = int(found[0].pop("total"))
            for row in found[1:]:
                del row["total"]
            return [ProductRow(**row) for row in found], total
        products = [ProductRow(**row) for row in found]
        if products and len(products) < limit:
            return products, offset + len(products)
        if not products and offset == 0:
            return [], 0
        # A full page, or past the last one: count alone.
        count = sql.SQL("SELECT count(*) AS total FROM products WHERE {condition}").format(
            condition=condition
        )
        counted = await rows.fetch_one(self.session, count, params)
        return products, int(counted["total"]) if counted else 0

    async def category_exists(self, slug: str) -> bool:
        statement = select(ProductCategory.is_active).where(ProductCategory.slug == slug)
        return (await self.session.execute(statement)).scalar_one_or_none() is True

    async def supplier_kind(self, organization_id: uuid.UUID) -> str | None:
        result = await self.session.execute(
            text("SELECT kind FROM organizations WHERE id = :id"), {"id": organization_id}
        )
        return result.scalar_one_or_none()


class CertificationRepository(Repository[ProductCertification]):
    model = ProductCertification

    async def rows_for_product(self, product_id: uuid.UUID) -> list[dict[str, Any]]:
        return await rows.fetch_all(self.session, _CERTIFICATION_ROWS, {"id": product_id})

    async def for_product(self, product_id: uuid.UUID) -> Sequence[ProductCertification]:
        statement = (
            select(ProductCertification)
            .where(ProductCertification.product_id == product_id)
            .order_by(ProductCertification.expiry_date, ProductCertification.id)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def get_in_product(
        self, product_id: uuid.UUID, certification_id: uuid.UUID, *, for_update: bool = False
    ) -> ProductCertification | None:
        statement = select(ProductCertification).where(
            ProductCertification.id == certification_id,
            ProductCertification.product_id == product_id,
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def expiring(self, today: date, horizon_days: int) -> Sequence[tuple[Any, ...]]:
        """Certificates of active products expiring within the horizon, with the supplier."""
        statement = (
            select(ProductCertification, Product.supplier_id, Product.name)
            .join(Product, Product.id == ProductCertification.product_id)
            .where(
                Product.is_active,
                ProductCertification.expiry_date >= today,
                ProductCertification.expiry_date <= today + literal_column(f"{int(horizon_days)}"),
            )
            .order_by(ProductCertification.expiry_date)
            .with_for_update(of=ProductCertification, skip_locked=True)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]


class StockRepository(Repository[StockMovement]):
    model = StockMovement

    async def change(
        self,
        product_id: uuid.UUID,
        *,
        stock_delta: int = 0,
        reserved_delta: int = 0,
        require_available: int | None = None,
    ) -> tuple[int, int] | None:
        """Apply a change atomically; None when the guard fails or the product is gone.

        `require_available` is the oversell guard: the row is changed only if at least
        that much is available. Under READ COMMITTED a concurrent order waits on the
        row lock and re-checks this WHERE against the committed figures, so two orders
        can never both take the last units.
        """
        statement = (
            update(Product)
            .where(Product.id == product_id)
            .values(
                stock_quantity=Product.stock_quantity + stock_delta,
                reserved_quantity=Product.reserved_quantity + reserved_delta,
            )
            .returning(Product.stock_quantity, Product.reserved_quantity)
            .execution_options(synchronize_session=False)
        )
        if require_available is not None:
            statement = statement.where(
                Product.is_active,
                Product.stock_quantity - Product.reserved_quantity >= require_available,
            )
        if stock_delta < 0:
            statement = statement.where(
                Product.stock_quantity + stock_delta >= Product.reserved_quantity + reserved_delta
            )
        row = (await self.session.execute(statement)).one_or_none()
        return (int(row[0]), int(row[1])) if row is not None else None

    async def track_low_stock(self, product_id: uuid.UUID) -> bool:
        """Flip the product's low-stock flag when availability crossed the threshold;
        True when it just went below (the moment to alert, once per crossing)."""
        below = (Product.stock_quantity - Product.reserved_quantity) < Product.low_stock_threshold
        statement = (
            update(Product)
            .where(Product.id == product_id, Product.low_stock_alerted != below)
            .values(low_stock_alerted=below)
            .returning(Product.low_stock_alerted)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is True

    def movements_statement(self, product_id: uuid.UUID) -> Select[StockMovement]:
        return (
            select(StockMovement)
            .where(StockMovement.product_id == product_id)
            .order_by(StockMovement.created_at.desc(), StockMovement.id.desc())
        )
