"""Document jobs: removing stored files no document points to."""

from __future__ import annotations

from procrastinate import JobContext

from medhub.documents import service
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of

SWEEP_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(60))


# Hourly: an orphaned file only costs space, and must be older than
# UPLOAD_ORPHAN_GRACE_MINUTES anyway. Idempotent: a second run finds nothing to remove.
@jobs_app.periodic(cron="41 * * * *", periodic_id="sweep-orphaned-files")
@jobs_app.task(
    name="medhub.documents.sweep_orphaned_files",
    queue="maintenance",
    pass_context=True,
    retry=SWEEP_RETRY,
)
async def sweep_orphaned_files(context: JobContext, timestamp: int) -> int:
    """Remove the stored files without a document row; how many."""
    runtime = runtime_of(context)
    return await service.sweep_orphaned_files(runtime.database, runtime.settings)
