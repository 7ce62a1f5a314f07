"""The audit sealer: appended rows join the hash chain in batches, in the background;
and the anchorer, which signs the chain tip outside the database now and then."""

from __future__ import annotations

import structlog
from procrastinate import JobContext

from medhub.audit import anchors, service
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of

SEAL_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(10))

log = structlog.get_logger(__name__)


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


# Deferred every minute, but it anchors only on the minutes AUDIT_ANCHOR_INTERVAL_MINUTES
# divides (counted from the epoch): a cron expression cannot say "every N minutes" for
# every N, and the schedule must be the same on every worker. `medhub audit anchor`
# does the same on demand.
@jobs_app.periodic(cron="* * * * *", periodic_id="anchor-activity-logs")
@jobs_app.task(
    name="medhub.audit.anchor_activity_logs",
    queue="maintenance",
    pass_context=True,
    retry=SEAL_RETRY,
)
async def anchor_activity_logs(context: JobContext, timestamp: int) -> int | None:
    """Seal, then sign the chain tip into a checkpoint; the chain_seq anchored, or None
    when it was not time, the tip had not moved, or no anchor key is configured."""
    runtime = runtime_of(context)
    settings = runtime.settings
    if not anchors.is_due(timestamp, settings.AUDIT_ANCHOR_INTERVAL_MINUTES):
        return None
    if settings.AUDIT_ANCHOR_SIGNING_KEY is None:
        # Only tests get here: development generates the key, production requires it.
        log.warning("audit_anchor_skipped", reason="AUDIT_ANCHOR_SIGNING_KEY is not set")
        return None
    await service.seal_pending(runtime.database)
    result = await anchors.anchor(runtime.database, settings)
    if not result.written or result.tip is None:
        return None
    return result.tip.chain_seq
