"""The email-queue admin endpoints (super admins only), on messages in every state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI

from medhub.kit.db import Database
from tests.auth.helpers import assert_error, detail_fields
from tests.factories import Account, Factory, run_jobs
from tests.mail.helpers import AdminSql, email_row, email_rows, job_rows, queue_sample
from tests.mail.smtp import SmtpServer

QUEUE = "/api/v1/events/email-queue"
STATUS_FIELDS = {
    "total_jobs",
    "pending_jobs",
    "processing_jobs",
    "completed_jobs",
    "failed_jobs",
    "is_healthy",
    "last_updated",
}
EMAIL_FIELDS = {
    "id",
    "to_address",
    "template",
    "subject",
    "status",
    "attempts",
    "last_error",
    "job_id",
    "created_at",
    "sent_at",
}


@dataclass
class Queue:
    failed: uuid.UUID
    sent: list[uuid.UUID]
    pending: uuid.UUID
    processing: uuid.UUID


@pytest.fixture
async def super_admin(factory: Factory) -> Account:
    return await factory.user("super_admin")


@pytest.fixture
async def queue(
    app: FastAPI, database: Database, smtp_server: SmtpServer, admin_sql: AdminSql
) -> Queue:
    """One failed (550), two sent, one waiting and one being sent right now."""
    smtp_server.handler.answer_data("550 5.1.1 Mailbox unavailable")
    failed = await queue_sample(database, "failed@example.org")
    await run_jobs(app)
    sent = [await queue_sample(database, f"sent{n}@example.org") for n in range(2)]
    await run_jobs(app)
    pending = await queue_sample(database, "pending@example.org")
    processing = await queue_sample(database, "processing@example.org")
    # A worker has fetched this one and is talking to the server.
    admin_sql(
        "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s",
        (email_row(admin_sql, processing).job_id,),
    )
    return Queue(failed=failed, sent=sent, pending=pending, processing=processing)


async def test_status_counts_each_state(
    client: httpx.AsyncClient, super_admin: Account, queue: Queue, admin_sql: AdminSql
) -> None:
    response = await client.get(f"{QUEUE}/status", headers=super_admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    # The seed's words (MedConnect "Email Queue Status").
    assert body["message"] == "Email queue status retrieved successfully"
    data = body["data"]
    assert set(data) == STATUS_FIELDS
    assert {key: value for key, value in data.items() if key.endswith("_jobs")} == {
        "total_jobs": 5,
        "pending_jobs": 1,
        "processing_jobs": 1,
        "completed_jobs": 2,
        "failed_jobs": 1,
    }
    [(now,)] = admin_sql("SELECT now()")
    assert abs((datetime.fromisoformat(data["last_updated"]) - now).total_seconds()) < 60
    # No worker is running (the tests run jobs on demand): not healthy.
    assert data["is_healthy"] is False


async def test_status_is_healthy_with_a_live_worker_and_nothing_overdue(
    client: httpx.AsyncClient, super_admin: Account, database: Database, admin_sql: AdminSql
) -> None:
    async def healthy() -> bool:
        response = await client.get(f"{QUEUE}/status", headers=super_admin.headers)
        assert response.status_code == 200, response.text
        value: bool = response.json()["data"]["is_healthy"]
        return value

    admin_sql("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now())")
    email_id = await queue_sample(database, "waiting@example.org")
    assert await healthy() is True
    # Due for ten minutes and still not started: something is wrong.
    admin_sql(
        "UPDATE email_messages SET created_at = now() - interval '10 minutes' WHERE id = %s",
        (email_id,),
    )
    assert await healthy() is False
    admin_sql("UPDATE email_messages SET created_at = now() WHERE id = %s", (email_id,))
    assert await healthy() is True
    # The only worker stopped sending heartbeats.
    admin_sql("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes'")
    assert await healthy() is False


async def test_list_shows_attempts_and_errors_newest_first(
    client: httpx.AsyncClient, super_admin: Account, queue: Queue
) -> None:
    response = await client.get(QUEUE, headers=super_admin.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["pagination"] == {"page": 1, "limit": 20, "total": 5, "total_pages": 1}
    emails = data["emails"]
    assert [e["id"] for e in emails] == [
        str(queue.processing),
        str(queue.pending),
        *(str(i) for i in reversed(queue.sent)),
        str(queue.failed),
    ]
    assert all(set(e) == EMAIL_FIELDS for e in emails)
    failed = emails[-1]
    assert (failed["to_address"], failed["template"], failed["subject"]) == (
        "failed@example.org",
        "welcome",
        "Welcome to MedHub",
    )
    assert (failed["status"], failed["attempts"], failed["sent_at"]) == ("failed", 1, None)
    assert "550" in failed["last_error"]
    assert "Mailbox unavailable" in failed["last_error"]
    sent = emails[2]
    assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 1, None)
    assert sent["sent_at"] is not None
    assert isinstance(sent["job_id"], int)


@pytest.mark.parametrize(("status", "count"), [("failed", 1), ("sent", 2), ("queued", 2)])
async def test_list_filters_by_status(
    client: httpx.AsyncClient, super_admin: Account, queue: Queue, status: str, count: int
) -> None:
    response = await client.get(QUEUE, params={"status": status}, headers=super_admin.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["pagination"]["total"] == count
    assert [e["status"] for e in data["emails"]] == [status] * count


async def test_list_pages(client: httpx.AsyncClient, super_admin: Account, queue: Queue) -> None:
    pages = []
    for page in (1, 2, 3):
        response = await client.get(
            QUEUE, params={"page": page, "limit": 2}, headers=super_admin.headers
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["pagination"] == {"page": page, "limit": 2, "total": 5, "total_pages": 3}
        pages.append([e["id"] for e in data["emails"]])
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len({i for p in pages for i in p}) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "delivered"}, "status"),
        ({"page": "0"}, "page"),
        ({"limit": "101"}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
async def test_list_rejects_bad_parameters(
    client: httpx.AsyncClient, super_admin: Account, params: dict[str, str], field: str
) -> None:
    response = await client.get(QUEUE, params=params, headers=super_admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR")
    assert field in detail_fields(response)


async def test_clear_completed_forgets_sent_messages_and_their_jobs_only(
    client: httpx.AsyncClient, super_admin: Account, queue: Queue, admin_sql: AdminSql
) -> None:
    sent_jobs = {email_row(admin_sql, i).job_id for i in queue.sent}
    response = await client.post(f"{QUEUE}/clear-completed", headers=super_admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"cleared": 2}
    remaining = {row.id: row.status for row in email_rows(admin_sql)}
    assert remaining == {
        queue.failed: "failed",
        queue.pending: "queued",
        queue.processing: "queued",
    }
    job_ids = {job.id for job in job_rows(admin_sql)}
    assert not sent_jobs & job_ids
    assert {email_row(admin_sql, i).job_id for i in remaining} <= job_ids, "others keep jobs"
    audited = admin_sql(
        "SELECT user_id, metadata->>'cleared' FROM activity_logs"
        " WHERE action = 'email_queue_cleared'"
    )
    assert audited == [(super_admin.id, "2")]

    again = await client.post(f"{QUEUE}/clear-completed", headers=super_admin.headers)
    assert again.json()["data"] == {"cleared": 0}


async def test_retry_refuses_what_is_not_a_dead_letter(
    client: httpx.AsyncClient, super_admin: Account, queue: Queue
) -> None:
    for email_id in (queue.sent[0], queue.pending, queue.processing):
        response = await client.post(f"{QUEUE}/{email_id}/retry", headers=super_admin.headers)
        error = assert_error(response, 409, "INVALID_STATE_TRANSITION")
        assert "Only failed emails can be retried" in error["message"]
    missing = await client.post(f"{QUEUE}/{uuid.uuid4()}/retry", headers=super_admin.headers)
    assert_error(missing, 404, "NOT_FOUND")
    malformed = await client.post(f"{QUEUE}/not-an-id/retry", headers=super_admin.headers)
    assert_error(malformed, 400, "VALIDATION_ERROR")
    assert "email_id" in detail_fields(malformed)


def endpoints(email_id: uuid.UUID) -> list[tuple[str, str]]:
    return [
        ("GET", f"{QUEUE}/status"),
        ("GET", QUEUE),
        ("POST", f"{QUEUE}/clear-completed"),
        ("POST", f"{QUEUE}/{email_id}/retry"),
    ]


async def test_anonymous_callers_get_401(
    client: httpx.AsyncClient, queue: Queue, admin_sql: AdminSql
) -> None:
    for method, url in endpoints(queue.failed):
        response = await client.request(method, url)
        assert_error(response, 401, "AUTHENTICATION_ERROR")
    assert email_row(admin_sql, queue.failed).status == "failed"
    assert len(email_rows(admin_sql)) == 5


@pytest.mark.parametrize("role", ["admin", "doctor", "customer"])
async def test_other_roles_get_403(
    client: httpx.AsyncClient, factory: Factory, queue: Queue, admin_sql: AdminSql, role: str
) -> None:
    organization = await factory.organization("hospital") if role != "customer" else None
    account = await factory.user(role, organization_id=organization.id if organization else None)
    for method, url in endpoints(queue.failed):
        response = await client.request(method, url, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert email_row(admin_sql, queue.failed).status == "failed"
    assert len(email_rows(admin_sql)) == 5
