"""Sales, product and inquiry reports for a supplier's staff, and the admin dashboard.

The routes carry their full paths (`/reports/...`, `/dashboard/stats`); the app
mounts the router under `/api/v1`.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from medhub.config import Settings
from medhub.kit.dates import DayRangeQueryWithLegacyNames
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, ok
from medhub.reports import service
from medhub.reports.auth import DashboardRead, ReportsRead
from medhub.reports.schemas import (
    DashboardStats,
    GroupBy,
    InquiryReport,
    PopularProducts,
    SalesReport,
)

router = APIRouter(tags=["reports"])

# The session is DbSession, not ReadSession: the tenant context that row-level
# security reads is set on the request's session when the caller is authenticated,
# and a separate read-only session would see no orders at all.

SupplierParam = Annotated[
    uuid.UUID | None,
    Query(description="Super admins: the supplier to report on (required). Others: their own"),
]


async def _currency(
    request: Request,
    currency: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Z]{3}$",
            description="Amounts cover orders in this currency only (default: the "
            "platform's default currency); currencies are never summed together",
        ),
    ] = None,
) -> str:
    settings: Settings = request.app.state.settings
    return currency or settings.DEFAULT_CURRENCY


Currency = Annotated[str, Depends(_currency)]


@router.get(
    "/reports/sales",
    response_model=Envelope[SalesReport],
    summary="Revenue and orders per day, week or month, by product and by category",
    description=(
        "Sales are orders placed in the range that are neither cancelled nor refunded, "
        "paid or still awaiting payment; `paid_revenue` is the part already paid. "
        "Every period of the range is listed, with zeros where nothing was sold."
    ),
)
async def sales_report(
    *,
    principal: ReportsRead,
    session: DbSession,
    currency: Currency,
    supplier_id: SupplierParam = None,
    days: DayRangeQueryWithLegacyNames,
    group_by: Annotated[GroupBy, Query(description="Period length")] = GroupBy.day,
    top: Annotated[
        int, Query(ge=1, le=100, description="How many products `by_product` lists")
    ] = 10,
) -> JSONResponse:
    report = await service.sales_report(
        session,
        principal,
        supplier_id=supplier_id,
        date_from=days.first,
        date_to=days.last,
        group_by=group_by,
        currency=currency,
        top=top,
    )
    return ok(report)


@router.get(
    "/reports/products/popular",
    response_model=Envelope[PopularProducts],
    summary="Products ranked by quantity sold (orders neither cancelled nor refunded)",
)
async def popular_products(
    *,
    principal: ReportsRead,
    session: DbSession,
    currency: Currency,
    supplier_id: SupplierParam = None,
    days: DayRangeQueryWithLegacyNames,
    limit: Annotated[int, Query(ge=1, le=100, description="How many products")] = 10,
) -> JSONResponse:
    report = await service.popular_products(
        session,
        principal,
        supplier_id=supplier_id,
        date_from=days.first,
        date_to=days.last,
        currency=currency,
        limit=limit,
    )
    return ok(report)


@router.get(
    "/reports/inquiries",
    response_model=Envelope[InquiryReport],
    summary="Inquiries received: by status and priority, conversion to orders, resolution time",
)
async def inquiry_report(
    *,
    principal: ReportsRead,
    session: DbSession,
    supplier_id: SupplierParam = None,
    days: DayRangeQueryWithLegacyNames,
) -> JSONResponse:
    report = await service.inquiry_report(
        session, principal, supplier_id=supplier_id, date_from=days.first, date_to=days.last
    )
    return ok(report)


@router.get(
    "/dashboard/stats",
    response_model=Envelope[DashboardStats],
    summary="The supplier at a glance: products, orders, inquiries, payments, revenue, low stock",
)
async def dashboard_stats(
    *,
    principal: DashboardRead,
    session: DbSession,
    currency: Currency,
    supplier_id: SupplierParam = None,
) -> JSONResponse:
    stats = await service.dashboard_stats(
        session, principal, supplier_id=supplier_id, currency=currency
    )
    return ok(stats)
