"""The aggregate queries behind the reports: each report section is one statement.

Every query names its supplier explicitly. Row-level security on `orders` would
already hide other suppliers' orders from their staff, but a super admin's
session sees every row, and products and inquiries have no policy at all.

Which orders count as sales: `COUNTED` below, i.e. not cancelled and not
refunded. Pending (not yet paid) orders count: they are booked revenue and hold
stock; `paid_revenue` is the part already collected. An unpaid order that
expires is cancelled by the orders domain and drops out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    String,
    and_,
    case,
    cast,
    extract,
    func,
    literal_column,
    select,
)

from medhub.kit.repository import Repository
from medhub.models.catalog import Product
from medhub.models.identity import Organization
from medhub.models.inquiries import Inquiry, InquiryPriority, InquiryStatus
from medhub.models.orders import Order, OrderItem, OrderStatus, PaymentStatus

COUNTED: ColumnElement[bool] = and_(
    Order.status != OrderStatus.cancelled.value,
    Order.payment_status != PaymentStatus.refunded.value,
)
PAID: ColumnElement[bool] = and_(COUNTED, Order.payment_status == PaymentStatus.paid.value)
OPEN_INQUIRY_STATUSES = (InquiryStatus.pending.value, InquiryStatus.in_progress.value)

ZERO = Decimal("0")


@dataclass(frozen=True)
class OrderWindow:
    """The orders a report reads: one supplier, one currency, [start, end) in UTC."""

    supplier_id: uuid.UUID
    currency: str
    start: datetime
    end: datetime

    def conditions(self) -> list[ColumnElement[bool]]:
        return [
            Order.supplier_id == self.supplier_id,
            Order.currency == self.currency,
            Order.created_at >= self.start,
            Order.created_at < self.end,
        ]


@dataclass(frozen=True)
class PeriodRow:
    period_start: date
    orders: int
    revenue: Decimal
    paid_revenue: Decimal
    cancelled: int


@dataclass(frozen=True)
class ProductRow:
    product_id: uuid.UUID | None
    product_name: str
    category: str
    quantity: int
    revenue: Decimal
    orders: int


@dataclass(frozen=True)
class CategoryRow:
    category: str
    quantity: int
    revenue: Decimal
    orders: int


@dataclass(frozen=True)
class InquirySummary:
    total: int
    by_status: dict[str, int]
    by_priority: dict[str, int]
    converted: int
    average_resolution_seconds: Decimal | None


@dataclass(frozen=True)
class DashboardCounts:
    active_products: int
    low_stock_count: int
    open_inquiries: int
    orders_by_status: dict[str, int]
    pending_payments: int
    pending_payments_amount: Decimal
    revenue_this_month: Decimal
    revenue_last_30_days: Decimal


@dataclass(frozen=True)
class LowStockRow:
    id: uuid.UUID
    name: str
    manufacturer_code: str
    available_quantity: int
    low_stock_threshold: int


def _sql_word(value: StrEnum) -> ColumnElement[Any]:
    # Inlined rather than bound: the same expression appears in SELECT and GROUP BY,
    # and PostgreSQL only matches them when they carry no separate parameters.
    # The values come from our own enums, never from the request.
    return literal_column(f"'{value.value}'")


def _money(expression: ColumnElement[Any]) -> ColumnElement[Decimal]:
    return func.coalesce(expression, ZERO)


def _available() -> ColumnElement[int]:
    return Product.stock_quantity - Product.reserved_quantity


def _low_stock() -> list[ColumnElement[bool]]:
    return [Product.is_active.is_(True), _available() < Product.low_stock_threshold]


class ReportsRepository(Repository[Order]):
    model = Order

    async def organization_kind(self, organization_id: uuid.UUID) -> str | None:
        """The kind of the organization, or None when the caller may not see it."""
        result = await self.session.execute(
            select(Organization.kind).where(Organization.id == organization_id)
        )
        return result.scalar_one_or_none()

    async def sales_by_period(
        self, window: OrderWindow, unit: StrEnum, first_day: date, last_day: date
    ) -> list[PeriodRow]:
        """Every period from the one holding `first_day` to the one holding `last_day`,
        with zeros where nothing was sold (a chart needs the gaps too)."""
        word = _sql_word(unit)
        bucket = func.date_trunc(word, func.timezone(literal_column("'UTC'"), Order.created_at))
        sales = (
            select(
                bucket.label("bucket"),
                func.count().filter(COUNTED).label("orders"),
                func.sum(Order.total_amount).filter(COUNTED).label("revenue"),
                func.sum(Order.total_amount).filter(PAID).label("paid_revenue"),
                func.count().filter(Order.status == OrderStatus.cancelled.value).label("cancelled"),
            )
            .where(*window.conditions())
            .group_by(bucket)
            .cte("sales")
        )
        periods = (
            func.generate_series(
                func.date_trunc(word, cast(first_day, DateTime())),
                cast(last_day, DateTime()),
                literal_column(f"interval '1 {unit.value}'"),
            )
            .table_valued("bucket")
            .render_derived(name="periods")
        )
        statement = (
            select(
                cast(periods.c.bucket, Date()).label("period_start"),
                func.coalesce(sales.c.orders, 0).label("orders"),
                _money(sales.c.revenue).label("revenue"),
                _money(sales.c.paid_revenue).label("paid_revenue"),
                func.coalesce(sales.c.cancelled, 0).label("cancelled"),
            )
            .select_from(periods.outerjoin(sales, sales.c.bucket == periods.c.bucket))
            .order_by(periods.c.bucket)
        )
        rows = (await self.session.execute(statement)).all()
        return [
            PeriodRow(
                period_start=row.period_start,
                orders=int(row.orders),
                revenue=row.revenue,
                paid_revenue=row.paid_revenue,
                cancelled=int(row.cancelled),
            )
            for row in rows
        ]

    async def product_sales(
        self, window: OrderWindow, *, rank_by: Literal["revenue", "quantity"], limit: int
    ) -> list[ProductRow]:
        """Products sold in the window, best first.

        Lines of a deleted product (product_id set to NULL) are grouped by their
        name snapshot; others show the product's current name and category.
        """
        orphan_name = case((OrderItem.product_id.is_(None), OrderItem.product_name))
        quantity = func.sum(OrderItem.quantity)
        revenue = func.sum(OrderItem.subtotal)
        name = func.coalesce(func.max(Product.name), func.max(OrderItem.product_name))
        category = func.coalesce(
            func.max(cast(Product.category, String())), func.max(OrderItem.category)
        )
        primary, secondary = (revenue, quantity) if rank_by == "revenue" else (quantity, revenue)
        statement = (
            select(
                OrderItem.product_id,
                name.label("product_name"),
                category.label("category"),
                quantity.label("quantity"),
                revenue.label("revenue"),
                func.count(Order.id.distinct()).label("orders"),
            )
            .select_from(OrderItem)
            .join(Order, Order.id == OrderItem.order_id)
            .outerjoin(Product, Product.id == OrderItem.product_id)
            .where(*window.conditions(), COUNTED)
            .group_by(OrderItem.product_id, orphan_name)
            .order_by(primary.desc(), secondary.desc(), name, OrderItem.product_id)
            .limit(limit)
        )
        rows = (await self.session.execute(statement)).all()
        return [
            ProductRow(
                product_id=row.product_id,
                product_name=row.product_name,
                category=row.category,
                quantity=int(row.quantity),
                revenue=row.revenue,
                orders=int(row.orders),
            )
            for row in rows
        ]

    async def category_sales(self, window: OrderWindow) -> list[CategoryRow]:
        """Sales per category as it was when sold (the line's snapshot)."""
        revenue = func.sum(OrderItem.subtotal)
        statement = (
            select(
                OrderItem.category,
                func.sum(OrderItem.quantity).label("quantity"),
                revenue.label("revenue"),
                func.count(Order.id.distinct()).label("orders"),
            )
            .select_from(OrderItem)
            .join(Order, Order.id == OrderItem.order_id)
            .where(*window.conditions(), COUNTED)
            .group_by(OrderItem.category)
            .order_by(revenue.desc(), OrderItem.category)
        )
        rows = (await self.session.execute(statement)).all()
        return [
            CategoryRow(
                category=row.category,
                quantity=int(row.quantity),
                revenue=row.revenue,
                orders=int(row.orders),
            )
            for row in rows
        ]

    async def inquiry_summary(
        self, supplier_id: uuid.UUID, start: datetime, end: datetime
    ) -> InquirySummary:
        """Counts by status and priority, conversions and resolution time, in one pass."""
        resolved = Inquiry.resolved_at.is_not(None)
        columns: list[ColumnElement[Any]] = [
            func.count().label("total"),
            func.count().filter(Inquiry.order_id.is_not(None)).label("converted"),
            func.avg(extract("epoch", Inquiry.resolved_at - Inquiry.created_at))
            .filter(resolved)
            .label("resolution_seconds"),
        ]
        columns += [
            func.count().filter(Inquiry.status == s.value).label(f"status_{s.value}")
            for s in InquiryStatus
        ]
        columns += [
            func.count().filter(Inquiry.priority == p.value).label(f"priority_{p.value}")
            for p in InquiryPriority
        ]
        statement = select(*columns).where(
            Inquiry.supplier_id == supplier_id,
            Inquiry.created_at >= start,
            Inquiry.created_at < end,
        )
        row = (await self.session.execute(statement)).one()
        values = row._mapping
        seconds = values["resolution_seconds"]
        return InquirySummary(
            total=int(values["total"]),
            converted=int(values["converted"]),
            by_status={s.value: int(values[f"status_{s.value}"]) for s in InquiryStatus},
            by_priority={p.value: int(values[f"priority_{p.value}"]) for p in InquiryPriority},
            average_resolution_seconds=Decimal(seconds) if seconds is not None else None,
        )

    async def dashboard_counts(
        self,
        supplier_id: uuid.UUID,
        currency: str,
        *,
        month_start: datetime,
        days_30_start: datetime,
    ) -> DashboardCounts:
        """Every dashboard figure but the low-stock list, in one statement: the order
        aggregates over the supplier's orders, the rest as scalar subqueries."""
        of_supplier = Product.supplier_id == supplier_id
        active_products = (
            select(func.count()).where(of_supplier, Product.is_active.is_(True)).scalar_subquery()
        )
        low_stock_count = select(func.count()).where(of_supplier, *_low_stock()).scalar_subquery()
        open_inquiries = (
            select(func.count())
            .where(Inquiry.supplier_id == supplier_id, Inquiry.status.in_(OPEN_INQUIRY_STATUSES))
            .scalar_subquery()
        )
        in_currency = Order.currency == currency
        awaiting_payment = and_(
            in_currency,
            Order.status != OrderStatus.cancelled.value,
            Order.payment_status == PaymentStatus.pending.value,
        )
        sold = and_(in_currency, COUNTED)
        columns: list[ColumnElement[Any]] = [
            active_products.label("active_products"),
            low_stock_count.label("low_stock_count"),
            open_inquiries.label("open_inquiries"),
            func.count().filter(awaiting_payment).label("pending_payments"),
            _money(func.sum(Order.total_amount).filter(awaiting_payment)).label(
                "pending_payments_amount"
            ),
            _money(
                func.sum(Order.total_amount).filter(sold, Order.created_at >= month_start)
            ).label("revenue_this_month"),
            _money(
                func.sum(Order.total_amount).filter(sold, Order.created_at >= days_30_start)
            ).label("revenue_last_30_days"),
        ]
        columns += [
            func.count().filter(Order.status == s.value).label(f"orders_{s.value}")
            for s in OrderStatus
        ]
        statement = select(*columns).select_from(Order).where(Order.supplier_id == supplier_id)
        values = (await self.session.execute(statement)).one()._mapping
        return DashboardCounts(
            active_products=int(values["active_products"]),
            low_stock_count=int(values["low_stock_count"]),
            open_inquiries=int(values["open_inquiries"]),
            orders_by_status={s.value: int(values[f"orders_{s.value}"]) for s in OrderStatus},
            pending_payments=int(values["pending_payments"]),
            pending_payments_amount=values["pending_payments_amount"],
            revenue_this_month=values["revenue_this_month"],
            revenue_last_30_days=values["revenue_last_30_days"],
        )

    async def low_stock(self, supplier_id: uuid.UUID, limit: int) -> Sequence[LowStockRow]:
        available = _available()
        statement = (
            select(
                Product.id,
                Product.name,
                Product.manufacturer_code,
                available.label("available_quantity"),
                Product.low_stock_threshold,
            )
            .where(Product.supplier_id == supplier_id, *_low_stock())
            .order_by(available, Product.name, Product.id)
            .limit(limit)
        )
        rows = (await self.session.execute(statement)).all()
        return [
            LowStockRow(
                id=row.id,
                name=row.name,
                manufacturer_code=str(row.manufacturer_code),
                available_quantity=int(row.available_quantity),
                low_stock_threshold=int(row.low_stock_threshold),
            )
            for row in rows
        ]
