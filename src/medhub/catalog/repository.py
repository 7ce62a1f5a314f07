"""Catalog queries. The catalog is public, so there is no tenant scoping in SQL;
what a caller may change is decided by the service (the product's supplier)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, literal_column, or_, select, text, update
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
# The same columns for lists, as a SQLAlchemy select (lists filter and sort dynamically).
_PRODUCT_ROW_COLUMNS = tuple(getattr(Product, field.name) for field in fields(ProductRow))
_CERTIFICATION_ROWS = (
    "SELECT id, product_id, certification_type, certificate_number, issue_date, expiry_date,"
    " certificate_url FROM product_certifications WHERE product_id = %(id)s"
    " ORDER BY expiry_date, id"
)


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
        """One page and the total count.

        Rows, not ORM entities: a page only shows data, and loading and tracking 20
        entities cost more CPU than the rest of the request.

        A text search counts with a window over its matches (a few hundred rows, in the
        same round trip). A browse does not: a window count would read and sort the
        whole category for every page, where the page alone comes in index order
        (ix_products_browse_*) and the count from an index-only scan, and is skipped when
        the page itself shows where the list ends.
        """
        statement = self._filtered(select(*_PRODUCT_ROW_COLUMNS), filters)
        rank = None
        if filters.search:
            query = func.websearch_to_tsquery("english", filters.search)
            pattern = f"%{escape_like(filters.search)}%"
            statement = statement.where(
                or_(
                    Product.search_vector.op("@@")(query),
                    # Partial names ("cardio") through the trigram index; codes are
                    # whole tokens of the search vector, so no unindexed scan here.
                    Product.name.ilike(pattern, escape="\\"),
                )
            )
            rank = func.ts_rank_cd(Product.search_vector, query) + func.similarity(
                Product.name, filters.search
            )
        ordered = statement.order_by(*self._ordering(filters, rank)).limit(limit).offset(offset)
        if rank is not None:
            windowed = ordered.add_columns(func.count().over().label("total"))
            found = (await self.session.execute(windowed)).all()
            if found:
                width = len(_PRODUCT_ROW_COLUMNS)
                return [ProductRow(*row[:width]) for row in found], int(found[0].total)
        else:
            products = [ProductRow(*row) for row in await self.session.execute(ordered)]
            if products and len(products) < limit:
                return products, offset + len(products)
            if not products and offset == 0:
                return [], 0
            return products, await self._count(statement)
        if offset == 0:
            return [], 0
        # Past the last page: the window count came back with no rows, so count alone.
        return [], await self._count(statement)

    async def _count(self, statement: Select[Any]) -> int:
        count = select(func.count()).select_from(
            statement.order_by(None).with_only_columns(Product.id).subquery()
        )
        return int((await self.session.execute(count)).scalar_one())

    @staticmethod
    def _filtered(statement: Select[Any], filters: ProductFilters) -> Select[Any]:
        if filters.all_inactive:
            pass
        elif filters.inactive_of is not None:
            statement = statement.where(
                or_(Product.is_active, Product.supplier_id == filters.inactive_of)
            )
        else:
            statement = statement.where(Product.is_active)
        if filters.category:
            statement = statement.where(Product.category == filters.category)
        if filters.supplier_id:
            statement = statement.where(Product.supplier_id == filters.supplier_id)
        if filters.in_stock is True:
            statement = statement.where(Product.stock_quantity > Product.reserved_quantity)
        elif filters.in_stock is False:
            statement = statement.where(Product.stock_quantity <= Product.reserved_quantity)
        if filters.min_price is not None:
            statement = statement.where(Product.price >= filters.min_price)
        if filters.max_price is not None:
            statement = statement.where(Product.price <= filters.max_price)
        return statement

    @staticmethod
    def _ordering(filters: ProductFilters, rank: Any) -> list[Any]:
        if filters.sort == "relevance" and rank is not None:
            return [rank.desc(), Product.name.asc(), Product.id.asc()]
        column: Any = {
            "name": Product.name,
            "price": Product.price,
            "created_at": Product.created_at,
        }.get(filters.sort, Product.name)
        primary = column.desc().nulls_last() if filters.descending else column.asc().nulls_last()
        return [primary, Product.id.desc() if filters.descending else Product.id.asc()]

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
