"""Reading the email and job tables, and moving scheduled retries to now."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medhub.kit.db import Database
from medhub.kit.email import sample_context
from medhub.mail.service import queue_email

AdminSql = Callable[..., list[tuple[Any, ...]]]

SEND_EMAIL = "medhub.send_email"


@dataclass(frozen=True)
class EmailRow:
    id: uuid.UUID
    to_address: str
    template: str
    status: str
    attempts: int
    last_error: str | None
    job_id: int | None
    text_body: str
    html_body: str
    sent_at: datetime | None


@dataclass(frozen=True)
class JobRow:
    id: int
    task_name: str
    queue_name: str
    status: str
    attempts: int
    scheduled_at: datetime | None
    args: dict[str, Any]
    seconds_until_due: float | None


def email_rows(admin_sql: AdminSql) -> list[EmailRow]:
    rows = admin_sql(
        "SELECT id, to_address, template, status, attempts, last_error, job_id, text_body,"
        " html_body, sent_at FROM email_messages ORDER BY created_at, id"
    )
    return [EmailRow(*row) for row in rows]


def email_row(admin_sql: AdminSql, email_id: uuid.UUID) -> EmailRow:
    [row] = [row for row in email_rows(admin_sql) if row.id == email_id]
    return row


def job_rows(admin_sql: AdminSql, task_name: str | None = SEND_EMAIL) -> list[JobRow]:
    """Jobs of one task (periodic maintenance jobs a worker defers are left out)."""
    rows = admin_sql(
        "SELECT id, task_name, queue_name, status::text, attempts, scheduled_at, args,"
        " extract(epoch FROM scheduled_at - now())::float FROM procrastinate_jobs"
        " WHERE %(task)s::text IS NULL OR task_name = %(task)s ORDER BY id",
        {"task": task_name},
    )
    return [JobRow(*row) for row in rows]


def job_row(admin_sql: AdminSql, job_id: int) -> JobRow:
    [row] = [row for row in job_rows(admin_sql, None) if row.id == job_id]
    return row


def make_retries_due(admin_sql: AdminSql) -> int:
    """Time passes: every job waiting for its retry becomes due now."""
    rows = admin_sql(
        "UPDATE procrastinate_jobs SET scheduled_at = now() - interval '1 second'"
        " WHERE status = 'todo' AND scheduled_at > now() RETURNING id"
    )
    return len(rows)


async def queue_sample(
    database: Database, to: str, template: str = "welcome", **extra: Any
) -> uuid.UUID:
    """Queue one email with its template's sample context, committed."""
    async with database.unit_of_work() as session:
        return await queue_email(session, template, to, sample_context(template), **extra)
