"""Periodic maintenance: stalled jobs of dead workers go back to the queue, finished jobs
are pruned, and each period's run is deferred once however many workers are up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from medhub.config import Settings
from medhub.jobs.periodic import prune_finished_jobs, retry_stalled_jobs
from medhub.kit.db import Database
from medhub.kit.jobs import JobRuntime, defer, run_worker
from tests.auth.helpers import serve
from tests.factories import mail_to, run_jobs
from tests.mail.helpers import AdminSql, email_row, email_rows, job_row, job_rows, queue_sample
from tests.waiting import eventually

RETRY_STALLED = "medhub.retry_stalled_jobs"
PRUNE = "medhub.prune_finished_jobs"


class _DeferrerPasses(logging.Handler):
    """Which periodic deferrers have finished a pass over the due tasks.

    Each worker runs its deferrer as an asyncio task that logs `wait_next_tick` once it
    has tried to defer everything due and goes to sleep: the task that logs it is the
    deferrer.
    """

    LOGGER = "procrastinate.periodic"

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.deferrers: set[asyncio.Task[Any]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        task = asyncio.current_task()
        if getattr(record, "action", None) == "wait_next_tick" and task is not None:
            self.deferrers.add(task)

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        logger = logging.getLogger(self.LOGGER)
        level = logger.level
        # The line is a DEBUG one; the session logs at INFO.
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)


async def run_maintenance(app: FastAPI) -> None:
    """Only the maintenance queue, so the jobs it rescues are left for the next pass."""
    runtime = JobRuntime(settings=app.state.settings, database=app.state.database)
    await run_worker(runtime, queues=["maintenance"], wait=False, install_signal_handlers=False)


def worker_row(admin_sql: AdminSql, heartbeat_age: str) -> int:
    [(worker_id,)] = admin_sql(
        "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - %s::interval)"
        " RETURNING id",
        (heartbeat_age,),
    )
    return int(worker_id)


def assign(admin_sql: AdminSql, job_id: int, worker_id: int) -> None:
    """The worker fetched the job (what procrastinate_fetch_job does) and then went quiet."""
    admin_sql(
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s",
        (worker_id, job_id),
    )


async def test_a_dead_workers_job_goes_back_to_the_queue_and_completes(
    app: FastAPI, database: Database, admin_sql: AdminSql
) -> None:
    dead = worker_row(admin_sql, "1 hour")
    alive = worker_row(admin_sql, "1 second")
    orphan = await queue_sample(database, "orphan@example.org")
    busy = await queue_sample(database, "busy@example.org")
    orphan_job = email_row(admin_sql, orphan).job_id or 0
    busy_job = email_row(admin_sql, busy).job_id or 0
    assign(admin_sql, orphan_job, dead)
    assign(admin_sql, busy_job, alive)
    async with database.unit_of_work() as session:
        await defer(session, retry_stalled_jobs, timestamp=int(time.time()))

    await run_maintenance(app)

    rescued = job_row(admin_sql, orphan_job)
    assert (rescued.status, rescued.attempts) == ("todo", 1)
    assert job_row(admin_sql, busy_job).status == "doing", "a live worker keeps its job"
    # Ours, and perhaps this minute's periodic one the worker deferred at start-up.
    ran = [job.status for job in job_rows(admin_sql, RETRY_STALLED) if job.status != "todo"]
    assert ran
    assert set(ran) == {"succeeded"}
    assert await mail_to(app, "orphan@example.org") != []  # runs the queue: delivered now
    assert job_row(admin_sql, orphan_job).status == "succeeded"
    assert email_row(admin_sql, orphan).status == "sent"
    assert email_row(admin_sql, busy).status == "queued"
    assert len(await mail_to(app, "orphan@example.org")) == 1


async def test_prune_forgets_old_finished_jobs_and_sent_emails_but_keeps_failures(
    app: FastAPI, database: Database, admin_sql: AdminSql
) -> None:
    old_sent, new_sent, old_failed = [
        await queue_sample(database, f"{name}@example.org")
        for name in ("old-sent", "new-sent", "old-failed")
    ]
    await run_jobs(app)
    failed_job = email_row(admin_sql, old_failed).job_id
    admin_sql(
        "UPDATE email_messages SET status = 'failed', sent_at = NULL, last_error = 'SMTP 550'"
        " WHERE id = %s",
        (old_failed,),
    )
    admin_sql("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s", (failed_job,))
    # Eight days pass for two of them (retention: JOB_RETENTION_HOURS = 168).
    for email_id in (old_sent, old_failed):
        job_id = email_row(admin_sql, email_id).job_id
        admin_sql(
            "UPDATE email_messages SET sent_at = now() - interval '8 days',"
            " created_at = now() - interval '8 days' WHERE id = %s AND status = 'sent'",
            (email_id,),
        )
        admin_sql(
            "UPDATE procrastinate_events SET at = now() - interval '8 days' WHERE job_id = %s",
            (job_id,),
        )
    old_sent_job = email_row(admin_sql, old_sent).job_id
    new_sent_job = email_row(admin_sql, new_sent).job_id

    async with database.unit_of_work() as session:
        await defer(session, prune_finished_jobs, timestamp=int(time.time()))
    await run_maintenance(app)

    assert {row.id: row.status for row in email_rows(admin_sql)} == {
        new_sent: "sent",
        old_failed: "failed",
    }
    remaining = {job.id: job.status for job in job_rows(admin_sql, "medhub.send_email")}
    assert old_sent_job not in remaining
    assert remaining[new_sent_job] == "succeeded"
    assert remaining[failed_job or 0] == "failed"
    # Ours, and this hour's periodic one if the worker started within ten minutes of :17.
    assert {job.status for job in job_rows(admin_sql, PRUNE)} == {"succeeded"}


async def test_two_workers_defer_each_period_once(
    make_settings: Callable[..., Settings], admin_sql: AdminSql
) -> None:
    """Both workers' periodic deferrers race for the same timestamps at start-up."""
    passes = _DeferrerPasses()
    async with serve(make_settings()) as served, passes.watching():
        runtime = JobRuntime(settings=served.app.state.settings, database=served.app.state.database)
        workers = [
            asyncio.create_task(
                run_worker(runtime, install_signal_handlers=False, name=f"worker-{n}")
            )
            for n in range(2)
        ]
        try:

            def periodic_job_ran() -> bool:
                registered = admin_sql("SELECT count(*) FROM procrastinate_workers")
                done = admin_sql(
                    "SELECT count(*) FROM procrastinate_jobs"
                    " WHERE task_name = %s AND status = 'succeeded'",
                    (RETRY_STALLED,),
                )
                return registered == [(2,)] and done[0][0] >= 1

            await eventually(periodic_job_ran, seconds=10, message="the periodic job did not run")
            # The race is over once the second deferrer has tried the timestamps too.
            await eventually(
                lambda: len(passes.deferrers) == 2, message="both deferrers did not finish a pass"
            )
        finally:
            for worker in workers:
                worker.cancel()
            for worker in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
    per_period = admin_sql(
        "SELECT task_name, args->>'timestamp', count(*) FROM procrastinate_jobs"
        " WHERE task_name = ANY(%s) GROUP BY 1, 2",
        ([RETRY_STALLED, PRUNE],),
    )
    assert per_period, "nothing was deferred"
    assert {count for _task, _stamp, count in per_period} == {1}, per_period
    assert RETRY_STALLED in {task for task, _stamp, _count in per_period}
    defers = admin_sql(
        "SELECT task_name, defer_timestamp, count(*) FROM procrastinate_periodic_defers"
        " GROUP BY 1, 2"
    )
    assert {count for _task, _stamp, count in defers} == {1}
    assert admin_sql("SELECT count(*) FROM procrastinate_workers") == [(0,)], "both unregistered"
