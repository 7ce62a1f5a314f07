"""Report use cases: whose figures (the supplier), over which days, then the queries.

Days are UTC calendar days, the API's only time zone: `from`..`to` covers
[from 00:00, to + 1 day 00:00) UTC, both ends inclusive (default: the last 30 days).
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.kit.errors import ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from medhub.kit.money import to_cents
from medhub.models.identity import OrganizationKind
from medhub.reports.repository import (
    CategoryRow,
    OrderWindow,
    ProductRow,
    ReportsRepository,
)
from medhub.reports.schemas import (
    CategorySales,
    DashboardStats,
    GroupBy,
    InquiryPriorityCounts,
    InquiryReport,
    InquiryStatusCounts,
    LowStockProduct,
    OrderStatusCounts,
    PopularProducts,
    ProductSales,
    SalesPeriod,
    SalesReport,
    SalesTotals,
)

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 366
LOW_STOCK_LIST_SIZE = 20
RATE_PLACES = Decimal("0.0001")
HOURS_PLACES = Decimal("0.01")
SECONDS_PER_HOUR = Decimal(3600)


class SupplierNotFound(NotFound):
    default_message = "Supplier not found"


@dataclass(frozen=True)
class DateRange:
    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=UTC)


def today() -> date:
    return datetime.now(UTC).date()


def resolve_range(date_from: date | None, date_to: date | None) -> DateRange:
    """The requested days; by default the last 30 days up to today (UTC)."""
    last_day = date_to or today()
    first_day = date_from or last_day - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if first_day > last_day:
        raise ValidationFailed(
            "The date range is empty",
            details=[ErrorDetail(field="from", message="must not be later than 'to'")],
        )
    days = (last_day - first_day).days + 1
    if days > MAX_RANGE_DAYS:
        # A bound on the work one request can ask of the database.
        raise ValidationFailed(
            "The date range is too long",
            details=[
                ErrorDetail(
                    field="to",
                    message=f"the range may cover at most {MAX_RANGE_DAYS} days (got {days})",
                )
            ],
        )
    return DateRange(first_day, last_day)


async def resolve_supplier(
    session: AsyncSession, principal: Principal, supplier_id: uuid.UUID | None
) -> uuid.UUID:
    """Whose figures: the caller's own supplier; a super admin must name one."""
    repository = ReportsRepository(session)
    if principal.is_super_admin:
        if supplier_id is None:
            raise ValidationFailed(
                "Choose the supplier to report on",
                details=[ErrorDetail(field="supplier_id", message="required for super admins")],
            )
        if await repository.organization_kind(supplier_id) != OrganizationKind.supplier.value:
            raise SupplierNotFound()
        return supplier_id
    own = principal.organization_id
    if own is None:
        raise PermissionDenied("Reports cover a supplier's business; you belong to none")
    if supplier_id is not None and supplier_id != own:
        # Another supplier is simply not there for this caller, like any other tenant's row.
        raise SupplierNotFound()
    if await repository.organization_kind(own) != OrganizationKind.supplier.value:
        raise PermissionDenied("Reports cover a supplier's business; your organization is not one")
    return own


def _period_end(start: date, group_by: GroupBy) -> date:
    if group_by is GroupBy.day:
        return start
    if group_by is GroupBy.week:
        return start + timedelta(days=6)
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _product(row: ProductRow) -> ProductSales:
    return ProductSales(
        product_id=row.product_id,
        product_name=row.product_name,
        category=row.category,
        quantity=row.quantity,
        revenue=row.revenue,
        orders=row.orders,
    )


def _category(row: CategoryRow) -> CategorySales:
    return CategorySales(
        category=row.category, quantity=row.quantity, revenue=row.revenue, orders=row.orders
    )


async def sales_report(
    session: AsyncSession,
    principal: Principal,
    *,
    supplier_id: uuid.UUID | None,
    date_from: date | None,
    date_to: date | None,
    group_by: GroupBy,
    currency: str,
    top: int,
) -> SalesReport:
    days = resolve_range(date_from, date_to)
    supplier = await resolve_supplier(session, principal, supplier_id)
    window = OrderWindow(supplier, currency, days.start, days.end)
    repository = ReportsRepository(session)
    period_rows = await repository.sales_by_period(window, group_by, days.first_day, days.last_day)
    products = await repository.product_sales(window, rank_by="revenue", limit=top)
    categories = await repository.category_sales(window)

    # The periods partition the window, so their sums are the totals.
    orders = sum(row.orders for row in period_rows)
    revenue = sum((row.revenue for row in period_rows), Decimal(0))
    paid = sum((row.paid_revenue for row in period_rows), Decimal(0))
    totals = SalesTotals(
        orders=orders,
        revenue=revenue,
        paid_revenue=paid,
        average_order_value=to_cents(revenue / orders) if orders else Decimal(0),
        cancelled_orders=sum(row.cancelled for row in period_rows),
        currency=currency,
    )
    return SalesReport(
        supplier_id=supplier,
        date_from=days.first_day,
        date_to=days.last_day,
        group_by=group_by,
        currency=currency,
        totals=totals,
        periods=[
            SalesPeriod(
                period_start=row.period_start,
                period_end=_period_end(row.period_start, group_by),
                orders=row.orders,
                revenue=row.revenue,
                paid_revenue=row.paid_revenue,
            )
            for row in period_rows
        ],
        by_product=[_product(row) for row in products],
        by_category=[_category(row) for row in categories],
    )


async def popular_products(
    session: AsyncSession,
    principal: Principal,
    *,
    supplier_id: uuid.UUID | None,
    date_from: date | None,
    date_to: date | None,
    currency: str,
    limit: int,
) -> PopularProducts:
    days = resolve_range(date_from, date_to)
    supplier = await resolve_supplier(session, principal, supplier_id)
    window = OrderWindow(supplier, currency, days.start, days.end)
    rows = await ReportsRepository(session).product_sales(window, rank_by="quantity", limit=limit)
    return PopularProducts(
        supplier_id=supplier,
        date_from=days.first_day,
        date_to=days.last_day,
        currency=currency,
        products=[_product(row) for row in rows],
    )


async def inquiry_report(
    session: AsyncSession,
    principal: Principal,
    *,
    supplier_id: uuid.UUID | None,
    date_from: date | None,
    date_to: date | None,
) -> InquiryReport:
    days = resolve_range(date_from, date_to)
    supplier = await resolve_supplier(session, principal, supplier_id)
    summary = await ReportsRepository(session).inquiry_summary(supplier, days.start, days.end)
    rate = (
        (Decimal(summary.converted) / Decimal(summary.total)).quantize(
            RATE_PLACES, rounding=ROUND_HALF_UP
        )
        if summary.total
        else Decimal(0)
    )
    seconds = summary.average_resolution_seconds
    hours = (
        (seconds / SECONDS_PER_HOUR).quantize(HOURS_PLACES, rounding=ROUND_HALF_UP)
        if seconds is not None
        else None
    )
    return InquiryReport(
        supplier_id=supplier,
        date_from=days.first_day,
        date_to=days.last_day,
        total=summary.total,
        by_status=InquiryStatusCounts.model_validate(summary.by_status),
        by_priority=InquiryPriorityCounts.model_validate(summary.by_priority),
        converted=summary.converted,
        # Rounded in Decimal; only the rendering is a float.
        conversion_rate=float(rate),
        average_resolution_hours=float(hours) if hours is not None else None,
    )


async def dashboard_stats(
    session: AsyncSession,
    principal: Principal,
    *,
    supplier_id: uuid.UUID | None,
    currency: str,
) -> DashboardStats:
    supplier = await resolve_supplier(session, principal, supplier_id)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    repository = ReportsRepository(session)
    counts = await repository.dashboard_counts(
        supplier,
        currency,
        month_start=month_start,
        days_30_start=now - timedelta(days=30),
    )
    low_stock = await repository.low_stock(supplier, LOW_STOCK_LIST_SIZE)
    return DashboardStats(
        supplier_id=supplier,
        currency=currency,
        generated_at=now,
        active_products=counts.active_products,
        orders_total=sum(counts.orders_by_status.values()),
        orders_by_status=OrderStatusCounts.model_validate(counts.orders_by_status),
        open_inquiries=counts.open_inquiries,
        pending_payments=counts.pending_payments,
        pending_payments_amount=counts.pending_payments_amount,
        revenue_this_month=counts.revenue_this_month,
        revenue_last_30_days=counts.revenue_last_30_days,
        low_stock_count=counts.low_stock_count,
        low_stock=[
            LowStockProduct(
                id=row.id,
                name=row.name,
                manufacturer_code=row.manufacturer_code,
                available_quantity=row.available_quantity,
                low_stock_threshold=row.low_stock_threshold,
            )
            for row in low_stock
        ],
    )
