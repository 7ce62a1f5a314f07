"""Catalog jobs: the low-stock alert and the daily certificate-expiry watch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from procrastinate import JobContext
from sqlalchemy import select

from medhub.catalog import certifications
from medhub.catalog.repository import CertificationRepository
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of
from medhub.kit.tenancy import set_system_context
from medhub.models.catalog import Product
from medhub.models.identity import Role
from medhub.notifications import service as notifications
from medhub.organizations import service as organizations

ALERT_RETRY = Backoff(max_attempts=lambda: 5, base_seconds=constant(30))


@jobs_app.task(
    name="medhub.catalog.alert_low_stock", queue="default", pass_context=True, retry=ALERT_RETRY
)
async def alert_low_stock(context: JobContext, product_id: str) -> int:
    """Tell the supplier's admins that a product is running low. Deferred in the
    transaction that crossed the threshold; re-checks, so a stock-in that lands
    before the job runs cancels the alert."""
    runtime = runtime_of(context)
    async with runtime.database.unit_of_work() as session:
        await set_system_context(session)
        product = await session.scalar(select(Product).where(Product.id == uuid.UUID(product_id)))
        if product is None or not product.is_active or not product.low_stock_alerted:
            return 0
        admins = await organizations.staff_ids(session, product.supplier_id, [Role.admin])
        available = product.available_quantity
        for admin_id in admins:
            await notifications.notify(
                session,
                admin_id,
                "stock",
                f"Low stock: {product.name}",
                f"{product.name} ({product.manufacturer_code}) has {available} units available,"
                f" below the threshold of {product.low_stock_threshold}.",
                {
                    "link": f"/products/{product.id}",
                    "product_id": str(product.id),
                    "available_quantity": available,
                    "threshold": product.low_stock_threshold,
                },
            )
        return len(admins)


@jobs_app.periodic(cron="0 7 * * *", periodic_id="certificate-expiry-notices")
@jobs_app.task(
    name="medhub.catalog.certificate_expiry_notices",
    queue="maintenance",
    pass_context=True,
    retry=ALERT_RETRY,
)
async def certificate_expiry_notices(context: JobContext, timestamp: int) -> int:
    """Each day: certificates reaching 60, 30 or 7 days before expiry (settings) are
    announced to their supplier's admins, each threshold once per certificate."""
    runtime = runtime_of(context)
    notice_days = sorted(set(runtime.settings.CERTIFICATE_EXPIRY_NOTICE_DAYS), reverse=True)
    if not notice_days:
        return 0
    today = datetime.now(UTC).date()
    sent = 0
    async with runtime.database.unit_of_work() as session:
        await set_system_context(session)
        rows = await CertificationRepository(session).expiring(today, max(notice_days))
        for certification, supplier_id, product_name in rows:
            days_left = (certification.expiry_date - today).days
            due = certifications.notice_due(
                days_left, notice_days, certification.expiry_notice_days
            )
            if due is None:
                continue
            certification.expiry_notice_days = due
            for admin_id in await organizations.staff_ids(session, supplier_id, [Role.admin]):
                await notifications.notify(
                    session,
                    admin_id,
                    "stock",
                    f"{certification.certification_type} certificate expires in {days_left}"
                    f" day{'s' if days_left != 1 else ''}",
                    f"The {certification.certification_type} certificate"
                    f" {certification.certificate_number or ''} of {product_name} expires on"
                    f" {certification.expiry_date.isoformat()}. Upload the renewal before then.",
                    {
                        "link": f"/products/{certification.product_id}",
                        "certification_id": str(certification.id),
                        "expiry_date": certification.expiry_date.isoformat(),
                        "days_left": days_left,
                    },
                )
                sent += 1
    return sent
