"""Billing jobs: releasing held fees once the hold has passed, and cancelling
consultations left unpaid past the timeout."""

from __future__ import annotations

from procrastinate import JobContext

from medhub.billing import escrow
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of

BILLING_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(30))


# Every minute: each appointment is released (or cancelled) in its own transaction under
# its row lock, so two runs at once move each one once; a failed run is retried and
# picks up where it stopped.
@jobs_app.periodic(cron="* * * * *", periodic_id="release-escrow")
@jobs_app.task(
    name="medhub.billing.release_escrow",
    queue="maintenance",
    pass_context=True,
    retry=BILLING_RETRY,
)
async def release_escrow(context: JobContext, timestamp: int) -> int:
    """Release every held fee whose hold has passed (no open dispute); how many."""
    runtime = runtime_of(context)
    return await escrow.release_due(runtime.database, runtime.settings)


@jobs_app.periodic(cron="* * * * *", periodic_id="cancel-unpaid-appointments")
@jobs_app.task(
    name="medhub.billing.cancel_unpaid",
    queue="maintenance",
    pass_context=True,
    retry=BILLING_RETRY,
)
async def cancel_unpaid(context: JobContext, timestamp: int) -> int:
    """Cancel the appointments whose payment is still pending past its expiry; how many."""
    runtime = runtime_of(context)
    return await escrow.expire_unpaid(runtime.database, runtime.settings)
