"""Reminders 24 hours and 1 hour before (email and in-app), each exactly once: however
often the job runs, and with several runs at the same time; none for a cancelled
appointment."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from medhub.appointments import reminders
from medhub.appointments.tasks import send_reminders
from medhub.kit.db import Database
from medhub.kit.jobs import defer
from tests.appointments.helpers import (
    BERLIN,
    AdminSql,
    Clinic,
    berlin,
    booked,
    cancel,
    data,
    in_days,
    move_to,
    staff_chart,
)
from tests.factories import Account, run_jobs


def soon(minutes: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)


def reminder_titles(admin_sql: AdminSql, user: Account) -> list[str]:
    return [
        title
        for (title,) in admin_sql(
            "SELECT title FROM notifications WHERE user_id = %s AND title LIKE 'Reminder:%%'"
            " ORDER BY seq",
            [user.id],
        )
    ]


def reminder_emails(admin_sql: AdminSql) -> list[tuple[Any, ...]]:
    return admin_sql(
        "SELECT to_address, subject FROM email_messages WHERE template = 'appointment_reminder'"
        " ORDER BY created_at, id"
    )


async def test_each_reminder_goes_once_at_its_time(  # noqa: PLR0917
    client: httpx.AsyncClient,
    database: Database,
    clinic: Clinic,
    patient: Account,
    bob: Account,
    admin_sql: AdminSql,
) -> None:
    tomorrow = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    within_the_hour = await booked(client, bob, berlin(in_days(14), "11:00"), clinic.colleague)
    cancelled = await booked(client, bob, berlin(in_days(15), "11:00"), clinic.doctor)
    later = await booked(client, patient, berlin(in_days(16), "10:00"), clinic.doctor)
    move_to(admin_sql, tomorrow["id"], soon(23 * 60))
    move_to(admin_sql, within_the_hour["id"], soon(40))
    move_to(admin_sql, cancelled["id"], soon(22 * 60))
    move_to(admin_sql, later["id"], soon(3 * 24 * 60))
    data(await cancel(client, bob, cancelled["id"]))

    assert await reminders.send_due_reminders(database) == 2
    assert await reminders.send_due_reminders(database) == 0

    [ann_reminder] = reminder_titles(admin_sql, patient)
    assert ann_reminder.startswith("Reminder: appointment with Dr. Ada Meyer ")
    assert ann_reminder.endswith(soon(23 * 60).astimezone(BERLIN).strftime("at %H:%M"))
    [bob_reminder] = reminder_titles(admin_sql, bob)
    assert re.fullmatch(r"Reminder: appointment with Dr\. Bo Chen in \d\d minutes", bob_reminder)
    emails = reminder_emails(admin_sql)
    assert sorted(to for to, _ in emails) == sorted([patient.email, bob.email])
    [(sent_24h, sent_1h)] = admin_sql(
        "SELECT reminder_24h_sent_at IS NOT NULL, reminder_1h_sent_at IS NOT NULL"
        " FROM appointments WHERE id = %s",
        [tomorrow["id"]],
    )
    assert (sent_24h, sent_1h) == (True, False)

    # An hour before, the second reminder; then nothing more.
    move_to(admin_sql, tomorrow["id"], soon(50))
    assert await reminders.send_due_reminders(database) == 1
    assert await reminders.send_due_reminders(database) == 0
    assert len(reminder_titles(admin_sql, patient)) == 2
    assert len(reminder_emails(admin_sql)) == 3


async def test_runs_at_the_same_time_send_each_reminder_once(
    client: httpx.AsyncClient,
    database: Database,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
) -> None:
    chart = await staff_chart(client, clinic.admin, email="carl.moss@example.org")
    due = [
        await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor),
        await booked(client, patient, berlin(in_days(15), "10:00"), clinic.doctor),
        await booked(
            client,
            clinic.admin,
            berlin(in_days(16), "10:00"),
            clinic.doctor,
            patient_id=chart["id"],
        ),
    ]
    for n, appointment in enumerate(due):
        move_to(admin_sql, appointment["id"], soon(20 * 60 + 60 * n))

    counts = await asyncio.gather(
        *(reminders.send_due_reminders(database, batch=1) for _ in range(4))
    )

    assert sum(counts) == 3
    assert len(reminder_titles(admin_sql, patient)) == 2
    # A chart without an account is reminded by email only.
    assert sorted(to for to, _ in reminder_emails(admin_sql)) == sorted(
        [patient.email, patient.email, "carl.moss@example.org"]
    )


async def test_the_periodic_job_run_twice_sends_once(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    move_to(admin_sql, appointment["id"], soon(30))
    database: Database = app.state.database
    async with database.unit_of_work() as session:
        await defer(session, send_reminders, timestamp=1)
        await defer(session, send_reminders, timestamp=2)

    await run_jobs(app)

    assert len(reminder_titles(admin_sql, patient)) == 1
    [(status_counts,)] = admin_sql(
        "SELECT array_agg(status::text) FROM procrastinate_jobs"
        " WHERE task_name = 'medhub.appointments.send_reminders'"
    )
    assert set(status_counts) == {"succeeded"}


async def test_a_booking_at_short_notice_is_its_own_reminder(
    client: httpx.AsyncClient, database: Database, clinic: Clinic, patient: Account
) -> None:
    # The first free slot from now on (at least the minimum lead time ahead).
    starts_at = soon(2 * 60)
    starts_at = starts_at.replace(minute=0 if starts_at.minute < 30 else 30, second=0)
    starts_at += timedelta(minutes=30)

    await booked(client, patient, starts_at, clinic.doctor)

    # The booking's own email told the patient; the next reminder is the hour before.
    assert await reminders.send_due_reminders(database) == 0
