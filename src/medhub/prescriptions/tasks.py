"""Prescription jobs: closing the ones whose time ran out."""

from __future__ import annotations

from procrastinate import JobContext

from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of
from medhub.prescriptions import lifecycle

EXPIRY_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(30))


# Every five minutes: an expired prescription already cannot be dispensed (the scan
# checks the token's expiry); this makes its status say so.
@jobs_app.periodic(cron="*/5 * * * *", periodic_id="expire-prescriptions")
@jobs_app.task(
    name="medhub.prescriptions.expire",
    queue="maintenance",
    pass_context=True,
    retry=EXPIRY_RETRY,
)
async def expire_prescriptions(context: JobContext, timestamp: int) -> int:
    """Mark the open prescriptions past their expiry `expired`; how many."""
    return await lifecycle.expire_due(runtime_of(context).database)
