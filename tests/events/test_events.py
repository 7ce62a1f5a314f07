"""emit(): the event and one job per handler in the caller's transaction; handlers run once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.events.registry import EventView
from medhub.events.service import emit
from medhub.events.tasks import dispatch_event
from medhub.kit.db import Database
from medhub.kit.email import sample_context
from medhub.kit.jobs import defer
from medhub.mail.service import queue_email
from tests.events.conftest import Register
from tests.factories import mail_to, run_jobs, text_body
from tests.mail.helpers import AdminSql, email_rows, job_rows, make_retries_due

DISPATCH = "medhub.dispatch_event"
WELCOME_HANDLER = "medhub.events.handlers.send_welcome_email"


class Boom(Exception):
    pass


def events(admin_sql: AdminSql) -> list[tuple[object, ...]]:
    return admin_sql(
        "SELECT id, name, payload, actor_id, organization_id FROM domain_events ORDER BY created_at"
    )


def receipts(admin_sql: AdminSql) -> list[tuple[object, ...]]:
    return admin_sql("SELECT event_id, handler FROM event_deliveries ORDER BY handler")


async def test_emit_records_the_event_and_defers_one_job_per_handler(
    app: FastAPI, database: Database, admin_sql: AdminSql, register_probe: Register
) -> None:
    first, second = register_probe("tests.probe"), register_probe("tests.probe")
    actor, organization = uuid.uuid4(), uuid.uuid4()
    async with database.unit_of_work() as session:
        event_id = await emit(
            session,
            "tests.probe",
            {"order": "A-1", "lines": [1, 2]},
            actor_id=actor,
            organization_id=organization,
        )
    assert events(admin_sql) == [
        (event_id, "tests.probe", {"order": "A-1", "lines": [1, 2]}, actor, organization)
    ]
    jobs = job_rows(admin_sql, DISPATCH)
    assert [(job.queue_name, job.status) for job in jobs] == [("events", "todo")] * 2
    assert sorted(job.args["handler"] for job in jobs) == sorted([first.key, second.key])
    assert {job.args["event_id"] for job in jobs} == {str(event_id)}

    await run_jobs(app)
    for probe in (first, second):
        assert probe.calls == [
            EventView(
                id=event_id,
                name="tests.probe",
                payload={"order": "A-1", "lines": [1, 2]},
                actor_id=actor,
                organization_id=organization,
            )
        ]
    assert set(receipts(admin_sql)) == {(event_id, first.key), (event_id, second.key)}
    assert {job.status for job in job_rows(admin_sql, DISPATCH)} == {"succeeded"}


async def test_a_rolled_back_emit_leaves_no_event_and_no_job(
    app: FastAPI, database: Database, admin_sql: AdminSql, register_probe: Register
) -> None:
    probe = register_probe("tests.probe")

    async def emit_then_fail() -> None:
        async with database.unit_of_work() as session:
            await emit(session, "tests.probe", {"n": 1})
            raise Boom

    with pytest.raises(Boom):
        await emit_then_fail()
    assert events(admin_sql) == []
    assert job_rows(admin_sql, None) == []
    await run_jobs(app)
    assert probe.calls == []


async def test_an_event_nobody_handles_is_recorded_without_jobs(
    database: Database, admin_sql: AdminSql
) -> None:
    async with database.unit_of_work() as session:
        event_id = await emit(session, "tests.unhandled", {})
    assert [row[0] for row in events(admin_sql)] == [event_id]
    assert job_rows(admin_sql, None) == []


async def test_a_handler_whose_job_runs_twice_does_its_work_once(
    app: FastAPI, database: Database, admin_sql: AdminSql, register_probe: Register
) -> None:
    async def send(session: AsyncSession, event: EventView) -> None:
        await queue_email(session, "welcome", "once@example.org", sample_context("welcome"))

    probe = register_probe("tests.probe", work=send)
    async with database.unit_of_work() as session:
        event_id = await emit(session, "tests.probe", {})
        # The same delivery again, as after a crash between the work and the job's ack.
        await defer(session, dispatch_event, event_id=str(event_id), handler=probe.key)
    await run_jobs(app)
    assert len(probe.calls) == 1
    assert receipts(admin_sql) == [(event_id, probe.key)]
    assert [row.to_address for row in email_rows(admin_sql)] == ["once@example.org"]
    assert [job.status for job in job_rows(admin_sql, DISPATCH)] == ["succeeded"] * 2
    assert len(await mail_to(app, "once@example.org")) == 1


async def test_a_failing_handler_keeps_nothing_and_is_retried(
    app: FastAPI, database: Database, admin_sql: AdminSql, register_probe: Register
) -> None:
    """The receipt and the handler's work commit together, or neither does."""

    async def send(session: AsyncSession, event: EventView) -> None:
        await queue_email(session, "welcome", "flaky@example.org", sample_context("welcome"))

    probe = register_probe("tests.probe", work=send, fail_times=1)
    async with database.unit_of_work() as session:
        event_id = await emit(session, "tests.probe", {})
    await run_jobs(app)
    assert len(probe.calls) == 1
    [job] = job_rows(admin_sql, DISPATCH)
    assert (job.status, job.attempts) == ("todo", 1)
    assert job.seconds_until_due is not None
    assert 0 < job.seconds_until_due <= 5, "retried with backoff, not at once"
    assert receipts(admin_sql) == []
    assert email_rows(admin_sql) == [], "the failed run's email was rolled back with it"

    assert make_retries_due(admin_sql) == 1
    await run_jobs(app)
    assert len(probe.calls) == 2
    assert receipts(admin_sql) == [(event_id, probe.key)]
    assert [row.to_address for row in email_rows(admin_sql)] == ["flaky@example.org"]
    assert [job.status for job in job_rows(admin_sql, DISPATCH)] == ["succeeded"]


async def test_jobs_for_a_vanished_event_or_handler_end_quietly(
    app: FastAPI, database: Database, admin_sql: AdminSql, register_probe: Register
) -> None:
    probe = register_probe("tests.probe")
    async with database.unit_of_work() as session:
        event_id = await emit(session, "tests.probe", {})
        await defer(session, dispatch_event, event_id=str(uuid.uuid4()), handler=probe.key)
        await defer(session, dispatch_event, event_id=str(event_id), handler="gone.handler")
    await run_jobs(app)
    assert len(probe.calls) == 1
    assert {job.status for job in job_rows(admin_sql, DISPATCH)} == {"succeeded"}
    assert receipts(admin_sql) == [(event_id, probe.key)]


async def test_user_registered_sends_the_welcome_email_once(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "dr.who@example.org",
            "password": "Correct-Horse-42!",
            "full_name": "Doctor Who",
            "role": "doctor",
        },
    )
    assert response.status_code == 201, response.text
    user_id = uuid.UUID(response.json()["data"]["user_id"])
    [(event_id, name, payload, actor, _org)] = events(admin_sql)
    assert (name, payload, actor) == (
        "user.registered",
        {"user_id": str(user_id), "role": "doctor"},
        user_id,
    )
    [job] = job_rows(admin_sql, DISPATCH)
    assert job.args == {"event_id": str(event_id), "handler": WELCOME_HANDLER}

    [welcome] = await mail_to(app, "dr.who@example.org", "welcome")
    body = text_body(welcome)
    assert "Hello Doctor Who" in body
    assert "account (doctor) has been created" in body
    assert "reviewed by an administrator" in body, "a doctor waits for approval"
    assert receipts(admin_sql) == [(event_id, WELCOME_HANDLER)]
    [row] = [row for row in email_rows(admin_sql) if row.template == "welcome"]
    assert row.status == "sent"

    # Running the delivery again changes nothing.
    async with app.state.database.unit_of_work() as session:
        await defer(session, dispatch_event, event_id=str(event_id), handler=WELCOME_HANDLER)
    assert len(await mail_to(app, "dr.who@example.org", "welcome")) == 1
