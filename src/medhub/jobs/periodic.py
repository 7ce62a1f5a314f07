"""The platform's periodic maintenance. procrastinate defers each period's run once,
however many workers are up (a unique row per task and period).

A domain's own periodic work lives in its tasks module (order expiry in
`medhub.orders.tasks`, certificate notices in `medhub.catalog.tasks`), listed in
`medhub.kit.jobs.TASK_MODULES` like every task.
"""

from __future__ import annotations

from procrastinate import JobContext
from sqlalchemy import text

from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of

MAINTENANCE_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(30))
# Held by the rescue's transaction until it is over (see retry_stalled_jobs).
_RESCUE_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


@jobs_app.periodic(cron="* * * * *", periodic_id="retry-stalled-jobs")
@jobs_app.task(
    name="medhub.retry_stalled_jobs",
    queue="maintenance",
    pass_context=True,
    retry=MAINTENANCE_RETRY,
)
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    """Jobs left `doing` by a worker that stopped sending heartbeats go back to the queue.

    One rescue at a time: after an outage the ticks pile up (the dead worker's own, the
    new worker's) and run side by side; two would find the same jobs, and the second
    would fail on the first one already put back, or put back a job a live worker had
    fetched again in between (running it twice).
    """
    runtime = runtime_of(context)
    manager = context.app.job_manager
    async with runtime.database.unit_of_work() as session:
        await session.execute(_RESCUE_LOCK, {"key": "medhub.retry_stalled_jobs"})
        stalled = await manager.get_stalled_jobs(
            seconds_since_heartbeat=runtime.settings.STALLED_JOB_SECONDS
        )
        count = 0
        for job in stalled:
            await manager.retry_job(job)
            count += 1
    return count


@jobs_app.periodic(cron="17 * * * *", periodic_id="prune-finished-jobs")
@jobs_app.task(
    name="medhub.prune_finished_jobs",
    queue="maintenance",
    pass_context=True,
    retry=MAINTENANCE_RETRY,
)
async def prune_finished_jobs(context: JobContext, timestamp: int) -> int:
    """Finished jobs and delivered emails are kept JOB_RETENTION_HOURS, then forgotten.
    Failed ones stay until an admin retries or clears them."""
    runtime = runtime_of(context)
    hours = runtime.settings.JOB_RETENTION_HOURS
    async with runtime.database.unit_of_work() as session:
        emails = await session.execute(
            text(
                "DELETE FROM email_messages WHERE status = 'sent'"
                " AND sent_at < now() - make_interval(hours => :hours)"
            ),
            {"hours": hours},
        )
    await context.app.job_manager.delete_old_jobs(nb_hours=hours, include_failed=False)
    return int(getattr(emails, "rowcount", 0) or 0)
