"""An email and its delivery job are written in the caller's transaction, or not at all."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jinja2
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from medhub.events import service as events_service
from medhub.kit.db import Database
from medhub.kit.email import sample_context
from medhub.kit.errors import Conflict
from medhub.mail.service import queue_email
from tests.factories import Factory, run_jobs
from tests.mail.helpers import AdminSql, email_rows, job_rows
from tests.mail.smtp import SmtpServer

API = "/api/v1"


class Boom(Exception):
    pass


async def test_a_committed_request_leaves_one_email_row_and_one_job(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user("customer", login=False)
    response = await client.post(f"{API}/auth/forgot-password", json={"email": account.email})
    assert response.status_code == 200, response.text
    [email] = email_rows(admin_sql)
    assert (email.to_address, email.template, email.status, email.attempts) == (
        account.email,
        "password_reset",
        "queued",
        0,
    )
    # The whole job table: nothing else was deferred, and the one job names this email.
    [job] = job_rows(admin_sql, task_name=None)
    assert (job.task_name, job.queue_name, job.status, job.attempts) == (
        "medhub.send_email",
        "email",
        "todo",
        0,
    )
    assert job.args == {"email_id": str(email.id)}
    assert email.job_id == job.id


async def test_a_rolled_back_unit_of_work_leaves_neither_email_nor_job(
    database: Database, admin_sql: AdminSql
) -> None:

    async def queue_then_fail() -> None:
        async with database.unit_of_work() as session:
            await queue_email(session, "welcome", "gone@example.org", sample_context("welcome"))
            # Both rows exist inside the transaction, on its own connection ...
            inside = await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM email_messages),"
                    " (SELECT count(*) FROM procrastinate_jobs)"
                )
            )
            assert inside.one() == (1, 1)
            assert job_rows(admin_sql, task_name=None) == [], "invisible before the commit"
            raise Boom

    with pytest.raises(Boom):
        await queue_then_fail()
    # ... and neither outlives its rollback.
    assert email_rows(admin_sql) == []
    assert job_rows(admin_sql, task_name=None) == []

    async with database.unit_of_work() as session:
        kept = await queue_email(session, "welcome", "kept@example.org", sample_context("welcome"))
    assert [row.id for row in email_rows(admin_sql)] == [kept]
    assert len(job_rows(admin_sql, task_name=None)) == 1


async def test_a_registration_rejected_after_its_email_was_queued_sends_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The user row and the verification email are written, then the request fails."""

    async def emit_then_refuse(*args: Any, **kwargs: Any) -> uuid.UUID:
        assert email_rows(admin_sql) == [], "uncommitted rows are invisible to others"
        raise Conflict("refused after the email was queued")

    monkeypatch.setattr(events_service, "emit", emit_then_refuse)
    response = await client.post(
        f"{API}/auth/register",
        json={
            "email": "late.refusal@example.org",
            "password": "Correct-Horse-42!",
            "full_name": "Late Refusal",
            "role": "customer",
        },
    )
    assert response.status_code == 409, response.text
    assert admin_sql("SELECT count(*) FROM users WHERE email = 'late.refusal@example.org'") == [
        (0,)
    ]
    assert email_rows(admin_sql) == []
    assert job_rows(admin_sql, task_name=None) == []
    await run_jobs(app)
    assert smtp_server.received == []


async def test_a_rolled_back_savepoint_takes_its_email_and_job_with_it(
    database: Database, admin_sql: AdminSql
) -> None:
    async with database.unit_of_work() as session:
        kept = await queue_email(session, "welcome", "kept@example.org", sample_context("welcome"))
        savepoint = await session.begin_nested()
        await queue_email(session, "welcome", "dropped@example.org", sample_context("welcome"))
        await savepoint.rollback()
    [email] = email_rows(admin_sql)
    assert (email.id, email.to_address) == (kept, "kept@example.org")
    [job] = job_rows(admin_sql, task_name=None)
    assert job.args == {"email_id": str(kept)}


async def test_a_template_error_fails_the_caller_and_stores_nothing(
    database: Database, admin_sql: AdminSql
) -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        async with database.unit_of_work() as session:
            await queue_email(session, "no_such_template", "x@example.org", {})
    with pytest.raises(jinja2.UndefinedError):
        async with database.unit_of_work() as session:
            # StrictUndefined: a missing context value is an error, not an empty string.
            await queue_email(session, "verify_email", "x@example.org", {"full_name": "X"})
    assert email_rows(admin_sql) == []
    assert job_rows(admin_sql, task_name=None) == []
