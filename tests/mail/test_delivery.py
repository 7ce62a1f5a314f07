"""Delivery through a real SMTP server: the message as it arrives, and the row afterwards."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from email.message import Message

import httpx
from fastapi import FastAPI

from medhub.kit.db import Database
from medhub.kit.jobs import JobRuntime, defer, run_worker
from medhub.mail.service import queue_email
from medhub.mail.tasks import send_email
from tests.factories import run_jobs
from tests.mail.conftest import FRONTEND_URL
from tests.mail.helpers import AdminSql, email_rows, job_row, job_rows, queue_sample
from tests.mail.smtp import SmtpServer

API = "/api/v1"
SENDER = "noreply@medhub.local"


def part(message: Message, content_type: str) -> str:
    for item in message.walk():
        if item.get_content_type() == content_type:
            payload = item.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no {content_type} part")


async def test_registration_delivers_verification_and_welcome_over_smtp(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer, admin_sql: AdminSql
) -> None:
    response = await client.post(
        f"{API}/auth/register",
        json={
            "email": "ann.lee@example.org",
            "password": "Correct-Horse-42!",
            "full_name": "Ann Lee",
            "role": "patient",
        },
    )
    assert response.status_code == 201, response.text
    assert smtp_server.received == [], "nothing is sent before a worker runs the jobs"

    await run_jobs(app)

    assert [r.rcpt_tos for r in smtp_server.received] == [["ann.lee@example.org"]] * 2
    assert {r.mail_from for r in smtp_server.received} == {SENDER}
    rows = {row.template: row for row in email_rows(admin_sql)}
    assert set(rows) == {"verify_email", "welcome"}

    [verify] = smtp_server.to("ann.lee@example.org", "verify_email")
    assert verify.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in verify.walk()]
    assert parts == ["multipart/alternative", "text/plain", "text/html"]
    assert verify["From"] == "MedHub <noreply@medhub.local>"
    assert verify["To"] == "ann.lee@example.org"
    assert verify["Subject"] == "Verify your email address"
    assert verify["Message-ID"] == f"<{rows['verify_email'].id}@medhub.local>"
    assert verify["Date"]
    text, html = part(verify, "text/plain"), part(verify, "text/html")
    link = re.escape(f"{FRONTEND_URL}/verify-email?token=") + r"([A-Za-z0-9_\-]+)"
    token_in_text = re.search(link, text)
    token_in_html = re.search(link, html)
    assert token_in_text, text
    assert token_in_html, html
    assert token_in_text.group(1) == token_in_html.group(1)
    assert "Hello Ann Lee" in text
    assert "<p>Hello Ann Lee,</p>" in html

    [welcome] = smtp_server.to("ann.lee@example.org", "welcome")
    assert welcome["Subject"] == "Welcome to MedHub"
    assert welcome["Message-ID"] == f"<{rows['welcome'].id}@medhub.local>"
    assert f"{FRONTEND_URL}/login" in part(welcome, "text/plain")

    for row in rows.values():
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        assert row.sent_at is not None
        # The one-time link is not kept once it has been delivered.
        assert (row.text_body, row.html_body) == ("", "")
        assert job_row(admin_sql, row.job_id or 0).status == "succeeded"

    # The link works: the token that arrived by SMTP verifies the address.
    verified = await client.post(f"{API}/auth/verify-email", json={"token": token_in_text.group(1)})
    assert verified.status_code == 200, verified.text


async def test_html_is_escaped_and_inline_images_travel_as_related_parts(
    app: FastAPI, database: Database, smtp_server: SmtpServer
) -> None:
    image = b"\x89PNG\r\n\x1a\nnot-really-a-png"
    await queue_sample(
        database,
        "qr@example.org",
        attachments=[
            {
                "cid": "qr-code",
                "filename": "qr.png",
                "content_type": "image/png",
                "data_b64": base64.b64encode(image).decode(),
            }
        ],
    )
    async with database.unit_of_work() as session:
        await queue_email(
            session,
            "welcome",
            "xss@example.org",
            {"full_name": "<script>alert(1)</script>", "role": "patient", "pending_approval": 0},
        )
    await run_jobs(app)

    [message] = smtp_server.to("qr@example.org")
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    [png] = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert png["Content-ID"] == "<qr-code>"
    assert png.get_filename() == "qr.png"
    assert png.get_payload(decode=True) == image

    [escaped] = smtp_server.to("xss@example.org")
    html = part(escaped, "text/html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in part(escaped, "text/plain"), "text is not HTML"


async def test_a_job_that_runs_twice_sends_once(
    app: FastAPI, database: Database, smtp_server: SmtpServer, admin_sql: AdminSql
) -> None:
    email_id = await queue_sample(database, "twice@example.org")
    await run_jobs(app)
    [job] = job_rows(admin_sql)
    # procrastinate runs a job at least once: here its acknowledgement was lost.
    admin_sql(
        "UPDATE procrastinate_jobs SET status = 'todo', attempts = 0 WHERE id = %s", (job.id,)
    )
    await run_jobs(app)
    assert len(smtp_server.to("twice@example.org")) == 1
    assert job_row(admin_sql, job.id).status == "succeeded"
    [row] = email_rows(admin_sql)
    assert (row.id, row.status, row.attempts) == (email_id, "sent", 1)


async def test_a_second_job_for_one_email_does_not_send_it_again(
    app: FastAPI, database: Database, smtp_server: SmtpServer, admin_sql: AdminSql
) -> None:
    """Only the job the row names delivers it; others for it (deferred twice, run at the
    same moment by two workers) stop without sending."""
    email_ids = [await queue_sample(database, f"pair{n}@example.org") for n in range(5)]
    async with database.unit_of_work() as session:
        for email_id in email_ids:
            await defer(session, send_email, email_id=str(email_id))
    runtime = JobRuntime(settings=app.state.settings, database=database)
    await asyncio.gather(
        *(
            run_worker(runtime, wait=False, install_signal_handlers=False, concurrency=4)
            for _ in range(2)
        )
    )
    for n in range(5):
        assert len(smtp_server.to(f"pair{n}@example.org")) == 1, n
    assert len(smtp_server.received) == 5
    assert {(row.status, row.attempts) for row in email_rows(admin_sql)} == {("sent", 1)}
    assert [job.status for job in job_rows(admin_sql)] == ["succeeded"] * 10


async def test_a_missing_email_row_ends_its_job_quietly(
    app: FastAPI, database: Database, smtp_server: SmtpServer, admin_sql: AdminSql
) -> None:
    async with database.unit_of_work() as session:
        await defer(session, send_email, email_id=str(uuid.uuid4()))
    await run_jobs(app)
    [job] = job_rows(admin_sql)
    assert job.status == "succeeded"
    assert smtp_server.received == []
