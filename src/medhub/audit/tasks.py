"""The audit sealer: appended rows join the hash chain in batches, in the background."""

from __future__ import annotations

from procrastinate import JobContext

from medhub.audit import service
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of

SEAL_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(10))


# Every minute (cron's finest step); each run seals until nothing finished is left, so
# a burst is chained in one run. `medhub audit seal` does the same on demand.
@jobs_app.periodic(cron="* * * * *", periodic_id="seal-activity-logs")
@jobs_app.task(
    name="medhub.audit.seal_activity_logs",
    queue="maintenance",
    pass_context=True,
    retry=SEAL_RETRY,
)
async def seal_activity_logs(context: JobContext, timestamp: int) -> int:
    """Seal every unsealed row whose transaction is over; how many were sealed."""
    return await service.seal_pending(runtime_of(context).database)
