"""SMTP failures: temporary ones retry with backoff, permanent ones dead-letter at once."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from medhub.config import Settings
from medhub.kit.db import Database
from tests.auth.helpers import serve
from tests.factories import Factory, run_jobs
from tests.mail.helpers import (
    AdminSql,
    email_row,
    job_row,
    make_retries_due,
    queue_sample,
)
from tests.mail.smtp import SmtpServer, smtp_overrides

API = "/api/v1"
MakeSettings = Callable[..., Settings]
BASE_SECONDS = 60


async def test_smtp_down_retries_with_backoff_then_delivers_exactly_once(
    make_settings: MakeSettings, smtp_server: SmtpServer, admin_sql: AdminSql
) -> None:
    settings = make_settings(
        **smtp_overrides(smtp_server, EMAIL_RETRY_BASE_SECONDS=BASE_SECONDS, EMAIL_MAX_ATTEMPTS=5)
    )
    async with serve(settings) as served:
        database: Database = served.app.state.database
        smtp_server.stop()
        email_id = await queue_sample(database, "patient@example.org")
        job_id = email_row(admin_sql, email_id).job_id or 0

        # First failure: due again in base seconds. Second: twice that.
        for attempt, wait in ((1, BASE_SECONDS), (2, 2 * BASE_SECONDS)):
            await run_jobs(served.app)
            job = job_row(admin_sql, job_id)
            assert (job.status, job.attempts) == ("todo", attempt)
            assert job.seconds_until_due is not None
            assert wait - 5 < job.seconds_until_due <= wait
            row = email_row(admin_sql, email_id)
            assert (row.status, row.attempts) == ("queued", attempt)
            assert row.last_error is not None
            assert "Connect call failed" in row.last_error or "refused" in row.last_error, (
                row.last_error
            )
            # Not due yet: another worker pass does not touch it.
            await run_jobs(served.app)
            assert job_row(admin_sql, job_id).attempts == attempt
            assert make_retries_due(admin_sql) == 1

        smtp_server.start()
        for _ in range(3):
            await run_jobs(served.app)
            make_retries_due(admin_sql)
        assert len(smtp_server.to("patient@example.org")) == 1
        job = job_row(admin_sql, job_id)
        assert (job.status, job.attempts) == ("succeeded", 3)
        row = email_row(admin_sql, email_id)
        assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
        assert row.sent_at is not None


@pytest.mark.parametrize(
    "answer",
    [
        ("data", "451 4.3.0 Temporary local problem, try later"),
        ("data", "421 4.7.0 Too many connections, closing"),
        ("rcpt", "450 4.2.1 Mailbox busy"),
    ],
)
async def test_a_temporary_answer_is_retried_and_then_delivered(
    app: FastAPI, smtp_server: SmtpServer, admin_sql: AdminSql, answer: tuple[str, str]
) -> None:
    command, reply = answer
    database: Database = app.state.database
    if command == "data":
        smtp_server.handler.answer_data(reply)
    else:
        smtp_server.handler.answer_rcpt(reply)
    email_id = await queue_sample(database, "retry@example.org")
    # EMAIL_RETRY_BASE_SECONDS=0: the retry is due at once, in the same worker pass.
    await run_jobs(app)
    assert len(smtp_server.to("retry@example.org")) == 1
    row = email_row(admin_sql, email_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    job = job_row(admin_sql, row.job_id or 0)
    assert (job.status, job.attempts) == ("succeeded", 2)


@pytest.mark.parametrize(
    "answer",
    [
        ("data", "554 5.7.1 Message rejected as spam"),
        ("data", "550 5.7.1 Relaying denied"),
        ("rcpt", "550 5.1.1 No such user here"),
    ],
)
async def test_a_permanent_answer_fails_at_once_as_a_dead_letter(
    app: FastAPI, smtp_server: SmtpServer, admin_sql: AdminSql, answer: tuple[str, str]
) -> None:
    command, reply = answer
    code = reply[:3]
    database: Database = app.state.database
    if command == "data":
        smtp_server.handler.answer_data(reply)
    else:
        smtp_server.handler.answer_rcpt(reply)
    email_id = await queue_sample(database, "refused@example.org")
    await run_jobs(app)
    row = email_row(admin_sql, email_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None
    assert code in row.last_error
    assert reply.split(" ", 2)[2] in row.last_error
    job = job_row(admin_sql, row.job_id or 0)
    assert (job.status, job.attempts) == ("failed", 1)
    # No retry is waiting: the next passes leave it alone (the server would accept now).
    await run_jobs(app)
    assert smtp_server.received == []
    assert job_row(admin_sql, row.job_id or 0).attempts == 1


async def test_exhausted_attempts_dead_letter_then_an_admin_retry_delivers(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    smtp_server: SmtpServer,
    admin_sql: AdminSql,
) -> None:
    database: Database = app.state.database
    smtp_server.stop()
    email_id = await queue_sample(database, "later@example.org")
    first_job = email_row(admin_sql, email_id).job_id or 0
    await run_jobs(app)  # three attempts, each due at once: EMAIL_MAX_ATTEMPTS=3
    row = email_row(admin_sql, email_id)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error
    job = job_row(admin_sql, first_job)
    assert (job.status, job.attempts) == ("failed", 3)

    smtp_server.start()
    await run_jobs(app)
    assert smtp_server.received == [], "a dead letter is not retried by itself"

    admin = await factory.user("super_admin")
    response = await client.post(
        f"{API}/events/email-queue/{email_id}/retry", headers=admin.headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["id"], data["status"], data["attempts"]) == (str(email_id), "queued", 3)
    assert data["job_id"] not in (None, first_job)
    assert job_row(admin_sql, data["job_id"]).status == "todo"

    await run_jobs(app)
    assert len(smtp_server.to("later@example.org")) == 1
    row = email_row(admin_sql, email_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 4, None)
    assert job_row(admin_sql, data["job_id"]).status == "succeeded"
    assert admin_sql(
        "SELECT user_id, entity_id FROM activity_logs WHERE action = 'email_retried'"
    ) == [(admin.id, email_id)]

    again = await client.post(f"{API}/events/email-queue/{email_id}/retry", headers=admin.headers)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "INVALID_STATE_TRANSITION"


async def test_a_retried_dead_letter_gets_a_fresh_set_of_attempts(
    make_settings: MakeSettings,
    smtp_server: SmtpServer,
    admin_sql: AdminSql,
) -> None:
    """While its new job still has retries left, the message shows as queued, not failed
    (so nobody retries it a second time beside the running job)."""
    settings = make_settings(**smtp_overrides(smtp_server, EMAIL_RETRY_BASE_SECONDS=BASE_SECONDS))
    async with serve(settings) as served:
        database: Database = served.app.state.database
        smtp_server.stop()
        email_id = await queue_sample(database, "flaky@example.org")
        for _ in range(3):
            await run_jobs(served.app)
            make_retries_due(admin_sql)
        assert email_row(admin_sql, email_id).status == "failed"

        factory = Factory(served.app, served.client)
        admin = await factory.user("super_admin")
        url = f"{API}/events/email-queue/{email_id}/retry"
        response = await served.client.post(url, headers=admin.headers)
        assert response.status_code == 200, response.text
        new_job = response.json()["data"]["job_id"]

        await run_jobs(served.app)  # the server is still down
        row = email_row(admin_sql, email_id)
        assert (row.status, row.attempts) == ("queued", 4)
        job = job_row(admin_sql, new_job)
        assert (job.status, job.attempts) == ("todo", 1)
        second = await served.client.post(url, headers=admin.headers)
        assert second.status_code == 409, second.text

        smtp_server.start()
        make_retries_due(admin_sql)
        await run_jobs(served.app)
        assert len(smtp_server.to("flaky@example.org")) == 1
        assert email_row(admin_sql, email_id).status == "sent"
