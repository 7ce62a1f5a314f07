"""A `medhub worker` process SIGKILLed in the middle of its jobs: another worker puts the
jobs the dead one left `doing` back in the queue once its heartbeat is stale, and
completes each exactly once; periodic tasks fire once per period across the restart."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

from fastapi import FastAPI

from medhub.config import Settings
from medhub.jobs.periodic import retry_stalled_jobs
from medhub.kit.db import Database
from medhub.kit.email import sample_context
from medhub.kit.jobs import JobRuntime, defer, run_worker
from medhub.mail.service import queue_email
from tests.auth.helpers import serve
from tests.conftest import DatabaseUrls
from tests.faults.helpers import FaultySmtp, Workers, message_id, worker_env
from tests.mail.helpers import AdminSql, email_rows, job_rows
from tests.waiting import eventually

CONCURRENCY = 4
EMAILS = 6  # more than the first worker takes at once: some are still `todo` when it dies
STALLED_JOB_SECONDS = 10  # the lowest the settings accept
STRANDED = 20
RESCUES = 3


def periodic_jobs_per_period(admin_sql: AdminSql) -> list[tuple[str, int, int]]:
    """(task, period, jobs) for every job the periodic deferrers made."""
    rows = admin_sql(
        "SELECT j.task_name, d.defer_timestamp, count(*) FROM procrastinate_periodic_defers d"
        " JOIN procrastinate_jobs j ON j.id = d.job_id GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [(str(task), int(stamp), int(count)) for task, stamp, count in rows]


def periodic_jobs_by_arguments(admin_sql: AdminSql, tasks: list[str]) -> list[tuple[str, int]]:
    """(task, jobs with that task and `timestamp` argument) over all jobs of `tasks`."""
    rows = admin_sql(
        "SELECT task_name, count(*) FROM procrastinate_jobs WHERE task_name = ANY(%s)"
        " AND args ? 'timestamp' AND (args->>'timestamp')::bigint > 0"
        " GROUP BY task_name, args->>'timestamp'",
        (tasks,),
    )
    return [(str(task), int(count)) for task, count in rows]


async def test_jobs_of_a_killed_worker_are_rescued_and_completed_exactly_once(
    database: Database,
    database_urls: DatabaseUrls,
    admin_sql: AdminSql,
    sink: FaultySmtp,
    workers: Workers,
) -> None:
    env = worker_env(
        database_urls,
        workers.tmp_path / "worker-data",
        sink,
        # The worker blocks in the stalled SMTP session rather than timing out.
        SMTP_TIMEOUT_SECONDS="120",
        EMAIL_RETRY_BASE_SECONDS="0",
        STALLED_JOB_SECONDS=str(STALLED_JOB_SECONDS),
        LOG_LEVEL="DEBUG",  # procrastinate's periodic deferrer says what it skipped
    )
    sink.handler.stall()  # every delivery hangs, after connecting, before a message is taken
    queued: dict[uuid.UUID, str] = {}
    for n in range(EMAILS):
        to = f"kill{n}@example.org"
        async with database.unit_of_work() as session:
            queued[await queue_email(session, "welcome", to, sample_context("welcome"))] = to

    first = workers.start("first", env, concurrency=CONCURRENCY)

    def in_flight() -> list[tuple[int, int]]:
        assert first.alive(), first.output()
        rows = admin_sql(
            "SELECT id, worker_id FROM procrastinate_jobs"
            " WHERE task_name = 'medhub.send_email' AND status = 'doing'"
        )
        held = sink.handler.held == CONCURRENCY
        return rows if held and len(rows) == CONCURRENCY else []

    doing = await eventually(
        in_flight, seconds=30, message="the first worker did not get stuck in its deliveries"
    )
    [(first_worker,)] = admin_sql("SELECT id FROM procrastinate_workers")
    assert {worker for _job, worker in doing} == {first_worker}
    stranded = {job for job, _worker in doing}

    killed = time.monotonic()
    first.sigkill()
    assert first.process.returncode == -9
    sink.handler.release()  # the mail server recovers; the dead worker's sessions are gone
    assert sink.received == [], "nothing was accepted from the killed worker"

    second = workers.start("second", env, concurrency=CONCURRENCY)
    # The second worker delivers what was never started at once, but the dead worker's
    # jobs stay `doing` while its heartbeat is recent.
    await eventually(
        lambda: len(sink.received) >= EMAILS - CONCURRENCY,
        seconds=30,
        message=lambda: f"the second worker did not deliver the waiting emails: {second.output()}",
    )
    [(recent, still_doing)] = admin_sql(
        "SELECT last_heartbeat >= now() - make_interval(secs => %s),"
        " ARRAY(SELECT j.id FROM procrastinate_jobs j WHERE j.status = 'doing'"
        "       AND j.worker_id = w.id)"
        " FROM procrastinate_workers w WHERE w.id = %s",
        (STALLED_JOB_SECONDS, first_worker),
    )
    if recent:  # (on a slow machine it may be stale already, and its jobs rescued)
        assert set(still_doing) == stranded

    # The dead worker's heartbeat gets older than STALLED_JOB_SECONDS...
    await eventually(
        lambda: admin_sql(
            "SELECT 1 FROM procrastinate_workers WHERE id = %s"
            " AND last_heartbeat < now() - make_interval(secs => %s)",
            (first_worker, STALLED_JOB_SECONDS),
        ),
        seconds=STALLED_JOB_SECONDS + 15,
        message="the killed worker's heartbeat did not go stale",
    )
    stale = time.monotonic()
    # ... and the rescue's next tick comes (it is deferred every minute; a tick of our
    # own, timestamp 0, instead of waiting up to a minute for the clock).
    async with database.unit_of_work() as session:
        await defer(session, retry_stalled_jobs, timestamp=0)

    def all_sent() -> bool:
        assert second.alive(), second.output()
        return {row.status for row in email_rows(admin_sql)} == {"sent"}

    await eventually(
        all_sent,
        seconds=30,
        message=lambda: f"the stranded emails were not delivered: {email_rows(admin_sql)}",
    )
    done = time.monotonic()
    print(  # noqa: T201
        f"\nSIGKILL -> all {EMAILS} emails delivered: {done - killed:.2f} s"
        f" (heartbeat stale after {stale - killed:.2f} s, then {done - stale:.2f} s)"
    )
    await eventually(
        lambda: {job.status for job in job_rows(admin_sql)} == {"succeeded"},
        message="the delivery jobs did not all finish",
    )

    # Each email arrived once, though four were in the middle of delivery when killed.
    assert sink.handler.message_ids() == {message_id(email_id): 1 for email_id in queued}
    assert sink.handler.recipients() == dict.fromkeys(queued.values(), 1)
    rows = email_rows(admin_sql)
    assert {(row.status, row.attempts, row.last_error) for row in rows} == {("sent", 1, None)}
    for job in job_rows(admin_sql):
        # A rescued job counts the run that died with its worker.
        assert job.attempts == (2 if job.id in stranded else 1), job
    # Our tick ran too (the rescue may have been done by a periodic one just before it).
    await eventually(
        lambda: (
            admin_sql(
                "SELECT status::text FROM procrastinate_jobs"
                " WHERE task_name = 'medhub.retry_stalled_jobs' AND args->>'timestamp' = '0'"
            )
            == [("succeeded",)]
        ),
        message="the rescue's tick did not succeed",
    )

    # Both workers ran their periodic deferrer; each period's job was deferred once.
    per_period = periodic_jobs_per_period(admin_sql)
    assert per_period, "no periodic job was deferred"
    assert {count for _task, _stamp, count in per_period} == {1}, per_period
    tasks = sorted({task for task, _stamp, _count in per_period})
    assert "medhub.retry_stalled_jobs" in tasks
    assert {count for _task, count in periodic_jobs_by_arguments(admin_sql, tasks)} == {1}
    output = second.output()
    assert "deferred for timestamp" in output or "already deferred" in output, output[-3000:]
    assert second.stop() == 0


async def test_rescues_running_at_once_put_each_stalled_job_back_once(
    app: FastAPI, database: Database, admin_sql: AdminSql
) -> None:
    """After an outage the ticks of the rescue pile up (the dead worker's own, the new
    worker's) and run side by side: each stalled job goes back to the queue once, and no
    rescue fails on a job another one has already put back."""
    [(dead,)] = admin_sql(
        "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour')"
        " RETURNING id"
    )
    for n in range(STRANDED):
        async with database.unit_of_work() as session:
            await queue_email(
                session, "welcome", f"stranded{n}@example.org", sample_context("welcome")
            )
    admin_sql(
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s"
        " WHERE task_name = 'medhub.send_email'",
        (dead,),
    )
    async with database.unit_of_work() as session:
        for tick in range(1, RESCUES + 1):
            await defer(session, retry_stalled_jobs, timestamp=tick)

    runtime = JobRuntime(settings=app.state.settings, database=database)
    await run_worker(
        runtime,
        queues=["maintenance"],
        concurrency=RESCUES,
        wait=False,
        install_signal_handlers=False,
    )

    rescues = admin_sql(
        "SELECT status::text, attempts FROM procrastinate_jobs"
        " WHERE task_name = 'medhub.retry_stalled_jobs' AND (args->>'timestamp')::bigint <= %s",
        (RESCUES,),
    )
    assert rescues == [("succeeded", 1)] * RESCUES
    jobs = job_rows(admin_sql)
    assert len(jobs) == STRANDED
    assert {(job.status, job.attempts) for job in jobs} == {("todo", 1)}


async def test_a_live_worker_beats_well_within_the_stalled_job_limit(
    make_settings: Callable[..., Settings], admin_sql: AdminSql
) -> None:
    """With STALLED_JOB_SECONDS at its lowest, a live worker's heartbeat must never look
    that old, or the rescue would put back (and run twice) the jobs it is running."""
    settings = make_settings(STALLED_JOB_SECONDS=STALLED_JOB_SECONDS)
    async with serve(settings) as served:
        runtime = JobRuntime(settings=settings, database=served.app.state.database)
        running = asyncio.create_task(
            run_worker(runtime, queues=["nothing-here"], install_signal_handlers=False)
        )
        try:
            [(first_beat,)] = await eventually(
                lambda: admin_sql("SELECT last_heartbeat FROM procrastinate_workers"),
                seconds=10,
                message="the worker did not register",
            )
            # Beats at a third of the limit at most: late by a whole beat, still alive.
            await eventually(
                lambda: admin_sql(
                    "SELECT 1 FROM procrastinate_workers WHERE last_heartbeat > %s", (first_beat,)
                ),
                seconds=STALLED_JOB_SECONDS / 2,
                message="the worker did not send a heartbeat",
            )
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
