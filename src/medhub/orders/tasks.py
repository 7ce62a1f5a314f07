"""Order jobs: cancelling unpaid orders that ran out of time, forgetting old
idempotency records."""

from __future__ import annotations

from procrastinate import JobContext

from medhub.kit import idempotency
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of
from medhub.kit.tenancy import set_system_context
from medhub.orders import lifecycle

ORDER_JOB_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(30))
EXPIRY_BATCH = 200


@jobs_app.periodic(cron="* * * * *", periodic_id="expire-unpaid-orders")
@jobs_app.task(
    name="medhub.orders.expire_unpaid_orders",
    queue="maintenance",
    pass_context=True,
    retry=ORDER_JOB_RETRY,
)
async def expire_unpaid_orders(context: JobContext, timestamp: int) -> int:
    """Every minute, in batches (one transaction each), until none is left."""
    runtime = runtime_of(context)
    total = 0
    while True:
        async with runtime.database.unit_of_work() as session:
            await set_system_context(session)
            count = await lifecycle.expire_unpaid(session, limit=EXPIRY_BATCH)
        total += count
        if count < EXPIRY_BATCH:
            return total


@jobs_app.periodic(cron="41 * * * *", periodic_id="purge-idempotency-records")
@jobs_app.task(
    name="medhub.orders.purge_idempotency_records",
    queue="maintenance",
    pass_context=True,
    retry=ORDER_JOB_RETRY,
)
async def purge_idempotency_records(context: JobContext, timestamp: int) -> int:
    runtime = runtime_of(context)
    async with runtime.database.unit_of_work() as session:
        await set_system_context(session)
        return await idempotency.purge(session, runtime.settings.IDEMPOTENCY_RETENTION_HOURS)
