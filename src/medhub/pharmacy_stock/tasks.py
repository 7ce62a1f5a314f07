"""Pharmacy stock jobs: the low-stock alerts that expiry alone causes."""

from __future__ import annotations

from procrastinate import JobContext

from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of
from medhub.pharmacy_stock import ledger

RECHECK_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(30))


# Hourly: a batch expires at the start of its expiry date (UTC) with no change to the
# stock, so no change evaluates the low-stock rule then; this does, within the hour
# (and catches up after a worker was down). Rows whose marker is right cost nothing.
@jobs_app.periodic(cron="7 * * * *", periodic_id="recheck-pharmacy-low-stock")
@jobs_app.task(
    name="medhub.pharmacy_stock.recheck_low_stock",
    queue="maintenance",
    pass_context=True,
    retry=RECHECK_RETRY,
)
async def recheck_low_stock(context: JobContext, timestamp: int) -> int:
    """Set right the low-stock markers that expired batches made stale (alerting the
    staff of each product that fell to its reorder point); how many."""
    return await ledger.recheck_low_stock(runtime_of(context).database)
