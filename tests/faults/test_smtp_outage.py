"""The mail server goes away for a while, or refuses for a while: every queued email is
still delivered exactly once, by the job's own retries, and ends `sent`."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from medhub.config import Settings
from medhub.kit.db import Database
from medhub.kit.email import sample_context
from medhub.kit.jobs import JobRuntime, run_worker
from medhub.mail.service import queue_email
from tests.auth.helpers import serve
from tests.faults.helpers import FaultySmtp, message_id
from tests.mail.helpers import AdminSql, email_rows, job_rows
from tests.mail.smtp import smtp_overrides
from tests.waiting import eventually

MakeSettings = Callable[..., Settings]
EMAILS = 5


async def queue_batch(database: Database, prefix: str, count: int) -> dict[uuid.UUID, str]:
    """`count` emails queued through the mail service, one request's transaction each."""
    queued: dict[uuid.UUID, str] = {}
    for n in range(count):
        to = f"{prefix}{n}@example.org"
        async with database.unit_of_work() as session:
            queued[await queue_email(session, "welcome", to, sample_context("welcome"))] = to
    return queued


@contextlib.asynccontextmanager
async def worker(app: FastAPI) -> AsyncIterator[None]:
    """A job worker running in the background (as `medhub serve` runs one), stopped after."""
    runtime = JobRuntime(settings=app.state.settings, database=app.state.database)
    running = asyncio.create_task(
        run_worker(runtime, install_signal_handlers=False, concurrency=4, name="faults")
    )
    try:
        yield
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 30)


def assert_delivered_exactly_once(
    sink: FaultySmtp, admin_sql: AdminSql, queued: dict[uuid.UUID, str]
) -> None:
    assert sink.handler.message_ids() == {message_id(email_id): 1 for email_id in queued}
    assert sink.handler.recipients() == dict.fromkeys(queued.values(), 1)
    rows = {row.id: row for row in email_rows(admin_sql)}
    assert {email_id: rows[email_id].status for email_id in queued} == dict.fromkeys(queued, "sent")
    assert {row.last_error for row in rows.values()} == {None}
    assert {job.status for job in job_rows(admin_sql)} == {"succeeded"}


async def test_smtp_down_then_up_delivers_every_queued_email_exactly_once(
    make_settings: MakeSettings, sink: FaultySmtp, admin_sql: AdminSql
) -> None:
    base = 1.0
    settings = make_settings(
        **smtp_overrides(sink, EMAIL_RETRY_BASE_SECONDS=base, EMAIL_MAX_ATTEMPTS=8)
    )
    sink.stop()  # connection refused from now on
    async with serve(settings) as served:
        queued = await queue_batch(served.app.state.database, "outage", EMAILS)
        async with worker(served.app):

            def all_failed_twice() -> bool:
                rows = [row for row in email_rows(admin_sql) if row.id in queued]
                return len(rows) == EMAILS and all(row.attempts >= 2 for row in rows)

            await eventually(
                all_failed_twice,
                seconds=20,
                message=lambda: f"not every email was tried twice: {email_rows(admin_sql)}",
            )
            # Each failure was recorded and put back in the queue for later, with the
            # backoff of the retry policy: base·2^(failures-1) seconds after it.
            for row in email_rows(admin_sql):
                assert row.status == "queued", row
                assert row.last_error is not None
                assert "refused" in row.last_error or "Connect call failed" in row.last_error
            for job in job_rows(admin_sql):
                assert job.status in ("todo", "doing"), job
                if job.status == "todo" and job.seconds_until_due is not None:
                    assert job.seconds_until_due <= base * 2 ** (job.attempts - 1), job
            assert sink.received == []

            up = time.monotonic()
            sink.start()  # the same port again
            await eventually(
                lambda: {row.status for row in email_rows(admin_sql)} == {"sent"},
                seconds=30,
                message=lambda: f"not every email was delivered: {email_rows(admin_sql)}",
            )
            recovery = time.monotonic() - up
            print(f"\nSMTP up -> all {EMAILS} delivered: {recovery:.2f} s")  # noqa: T201
            # Whatever was still retrying has finished: nothing is left to send twice.
            await eventually(
                lambda: {job.status for job in job_rows(admin_sql)} == {"succeeded"},
                seconds=10,
                message="the delivery jobs did not all finish",
            )
    assert_delivered_exactly_once(sink, admin_sql, queued)
    for row in email_rows(admin_sql):
        assert row.attempts >= 3, row  # two refusals at least, then the delivery
        assert row.sent_at is not None


async def test_temporary_refusals_mid_transaction_are_retried_and_delivered_once(
    make_settings: MakeSettings, sink: FaultySmtp, admin_sql: AdminSql
) -> None:
    """The server takes the connection and the message, then answers 451 (its disk is
    full, say) for a while: each refused message is sent again, and once."""
    refusals = 2 * EMAILS + 1
    sink.handler.answer_data("451 4.3.0 Temporary local problem, try later", times=refusals)
    settings = make_settings(
        **smtp_overrides(sink, EMAIL_RETRY_BASE_SECONDS=0, EMAIL_MAX_ATTEMPTS=8)
    )
    async with serve(settings) as served:
        queued = await queue_batch(served.app.state.database, "busy", EMAILS)
        async with worker(served.app):
            await eventually(
                lambda: {job.status for job in job_rows(admin_sql)} == {"succeeded"},
                seconds=30,
                message=lambda: f"the delivery jobs did not all finish: {job_rows(admin_sql)}",
            )
    assert_delivered_exactly_once(sink, admin_sql, queued)
    rows = email_rows(admin_sql)
    # Every refusal cost exactly one more attempt, recorded on the message and its job.
    assert sum(row.attempts for row in rows) == EMAILS + refusals
    assert sum(job.attempts for job in job_rows(admin_sql)) == EMAILS + refusals
