"""The shapes of the reports and the dashboard.

Money fields are `Money` (a JSON number rounded to cents); every sum behind them
is done in `Decimal`, in the database or in Python, never in floats. Ratios and
durations are plain numbers with their rounding stated on the field.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from medhub.kit.money import Money


class GroupBy(StrEnum):
    day = "day"
    week = "week"  # ISO weeks, starting on Monday
    month = "month"


class SalesPeriod(BaseModel):
    period_start: date = Field(description="First day of the period (Monday for weeks)")
    period_end: date = Field(
        description="Last day of the period; the first and last periods may extend beyond the "
        "requested range, but only orders inside the range are counted"
    )
    orders: int
    revenue: Money
    paid_revenue: Money


class SalesTotals(BaseModel):
    orders: int = Field(description="Orders that count as sales (not cancelled, not refunded)")
    revenue: Money = Field(description="Sum of their totals, paid or not yet paid")
    paid_revenue: Money = Field(description="The part of `revenue` already paid")
    average_order_value: Money = Field(description="revenue / orders (0 without orders)")
    cancelled_orders: int = Field(description="Orders placed in the range and later cancelled")
    currency: str


class ProductSales(BaseModel):
    product_id: uuid.UUID | None = Field(
        description="null when the product has since been deleted (the name is the snapshot)"
    )
    product_name: str
    category: str
    quantity: int
    revenue: Money = Field(description="Sum of the line subtotals")
    orders: int = Field(description="Distinct orders containing the product")


class CategorySales(BaseModel):
    category: str
    quantity: int
    revenue: Money
    orders: int


class SalesReport(BaseModel):
    supplier_id: uuid.UUID
    date_from: date
    date_to: date
    group_by: GroupBy
    currency: str
    totals: SalesTotals
    periods: list[SalesPeriod]
    by_product: list[ProductSales] = Field(description="Top products by revenue")
    by_category: list[CategorySales] = Field(description="Every category sold, by revenue")


class PopularProducts(BaseModel):
    supplier_id: uuid.UUID
    date_from: date
    date_to: date
    currency: str
    products: list[ProductSales] = Field(description="Ranked by quantity sold")


class InquiryStatusCounts(BaseModel):
    pending: int = 0
    in_progress: int = 0
    resolved: int = 0
    closed: int = 0


class InquiryPriorityCounts(BaseModel):
    low: int = 0
    normal: int = 0
    high: int = 0
    urgent: int = 0


class InquiryReport(BaseModel):
    supplier_id: uuid.UUID
    date_from: date
    date_to: date
    total: int
    by_status: InquiryStatusCounts
    by_priority: InquiryPriorityCounts
    converted: int = Field(description="Inquiries that became an order")
    conversion_rate: float = Field(description="converted / total, 4 decimals (0 when total is 0)")
    average_resolution_hours: float | None = Field(
        description="Mean time from submission to resolution, in hours (2 decimals), over the "
        "inquiries that were resolved; null when none was"
    )


class OrderStatusCounts(BaseModel):
    pending: int = 0
    confirmed: int = 0
    processing: int = 0
    shipped: int = 0
    delivered: int = 0
    cancelled: int = 0


class LowStockProduct(BaseModel):
    id: uuid.UUID
    name: str
    manufacturer_code: str
    available_quantity: int
    low_stock_threshold: int


class DashboardStats(BaseModel):
    supplier_id: uuid.UUID
    currency: str
    generated_at: datetime
    active_products: int
    orders_total: int
    orders_by_status: OrderStatusCounts
    open_inquiries: int = Field(description="Pending or in progress")
    pending_payments: int = Field(description="Orders not cancelled and still awaiting payment")
    pending_payments_amount: Money
    revenue_this_month: Money = Field(description="Since the first day of this month (UTC)")
    revenue_last_30_days: Money
    low_stock_count: int = Field(description="Active products below their threshold")
    low_stock: list[LowStockProduct] = Field(
        description="The 20 with the least available stock, lowest first"
    )
