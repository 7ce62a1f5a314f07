"""No double booking, ever: truly concurrent bookings of one time, against the real
database.

To make sure every request is past the slot check before any of them writes (the
worst case: all of them saw the slot free), the table is held with a SHARE lock
(reads go on, inserts wait) until all the requests wait to write (the first at its
INSERT, the others behind it, taking turns per doctor and chart); then it is let go,
and the one to write first holds the time: every other is refused by the exclusion
constraints.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import psycopg
import pytest

from medhub.config import Settings
from tests.appointments.helpers import (
    AdminSql,
    Clinic,
    berlin,
    book,
    booked,
    data,
    every_day,
    in_days,
    make_patient,
    staff_chart,
)
from tests.assertions import assert_error
from tests.conftest import DatabaseUrls
from tests.doctors.helpers import MY_AVAILABILITY
from tests.factories import Account, Factory
from tests.waiting import eventually

CONCURRENT = 20


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # One pooled connection per request in flight: all of them in the database at once.
    return make_settings(DATABASE_POOL_SIZE=CONCURRENT + 5, DATABASE_POOL_TIMEOUT=60)


async def with_charts(client: httpx.AsyncClient, clinic: Clinic, *patients: Account) -> None:
    """Each patient's chart at the clinic, made by a first booking far from the raced
    time: a race then writes nothing but appointments (a first chart at an organization
    draws its MRN from a counter row that concurrent first bookings queue on)."""
    for n, patient in enumerate(patients):
        starts_at = berlin(in_days(40), "08:00") + timedelta(minutes=30 * n)
        await booked(client, patient, starts_at, clinic.colleague)


class Gate:
    def __init__(self, admin_sql: AdminSql) -> None:
        self.admin_sql = admin_sql

    def waiting(self) -> int:
        """Requests of this test's database waiting for a lock: at the held table, or
        behind another booking of the same doctor (which waits at the table)."""
        [(count,)] = self.admin_sql(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return int(count)

    async def until_waiting(self, count: int) -> None:
        await eventually(
            lambda: self.waiting() >= count,
            seconds=30,
            message=f"{count} requests did not reach their INSERT",
        )


@asynccontextmanager
async def inserts_held(database_urls: DatabaseUrls, admin_sql: AdminSql) -> AsyncIterator[Gate]:
    """Appointments can be read but not written until the block ends."""
    with psycopg.connect(database_urls.admin) as holder:
        holder.execute("LOCK TABLE appointments IN SHARE MODE")
        try:
            yield Gate(admin_sql)
        finally:
            holder.rollback()


async def test_twenty_concurrent_bookings_of_one_slot_make_one_appointment(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    admin_sql: AdminSql,
    database_urls: DatabaseUrls,
) -> None:
    patients = [await make_patient(client, factory, f"Pat {n}") for n in range(CONCURRENT)]
    await with_charts(client, clinic, *patients)
    starts_at = berlin(in_days(14), "10:00")

    async with inserts_held(database_urls, admin_sql) as gate:
        tasks = [
            asyncio.ensure_future(book(client, patient, starts_at, clinic.doctor))
            for patient in patients
        ]
        await gate.until_waiting(CONCURRENT)
    responses = await asyncio.gather(*tasks)

    assert Counter(r.status_code for r in responses) == {201: 1, 409: CONCURRENT - 1}
    refused = [r for r in responses if r.status_code == 409]
    assert {r.json()["error"]["code"] for r in refused} == {"SLOT_UNAVAILABLE"}
    [(rows, active)] = admin_sql(
        "SELECT count(*), count(*) FILTER (WHERE status <> 'cancelled') FROM appointments"
        " WHERE doctor_id = %s",
        [clinic.doctor.id],
    )
    assert (rows, active) == (1, 1)
    # The loser's transactions left nothing: no audit row, no email, no notification.
    [(audited,)] = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'appointment.booked'"
        " AND metadata->>'doctor_id' = %s",
        [str(clinic.doctor.id)],
    )
    assert audited == 1


async def test_without_a_gate_the_race_ends_the_same(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    """First bookings (each making its patient's chart as well), fired together."""
    patients = [await make_patient(client, factory, f"Pat {n}") for n in range(CONCURRENT)]
    starts_at = berlin(in_days(14), "11:00")

    responses = await asyncio.gather(
        *(book(client, patient, starts_at, clinic.doctor) for patient in patients)
    )

    assert Counter(r.status_code for r in responses) == {201: 1, 409: CONCURRENT - 1}
    [(active,)] = admin_sql(
        "SELECT count(*) FROM appointments WHERE doctor_id = %s AND status <> 'cancelled'",
        [clinic.doctor.id],
    )
    assert active == 1


async def test_overlapping_slots_of_different_lengths_make_one_appointment(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    bob: Account,
    admin_sql: AdminSql,
    database_urls: DatabaseUrls,
) -> None:
    """An hour at 10:00 on the old hours, half an hour at 10:30 on the new ones: each
    request sees its slot free; they overlap, and only one is written."""
    day = in_days(21)
    doctor = clinic.doctor
    await with_charts(client, clinic, patient, bob)
    data(
        await client.put(
            MY_AVAILABILITY, json=every_day("09:00", "12:00", 60), headers=doctor.headers
        )
    )

    async with inserts_held(database_urls, admin_sql) as gate:
        hour = asyncio.ensure_future(book(client, patient, berlin(day, "10:00"), doctor))
        await gate.until_waiting(1)
        data(
            await client.put(
                MY_AVAILABILITY, json=every_day("09:00", "12:00", 30), headers=doctor.headers
            )
        )
        half = asyncio.ensure_future(book(client, bob, berlin(day, "10:30"), doctor))
        await gate.until_waiting(2)
    responses = await asyncio.gather(hour, half)

    assert sorted(r.status_code for r in responses) == [201, 409]
    [loser] = [r for r in responses if r.status_code == 409]
    assert_error(loser, 409, "SLOT_UNAVAILABLE")
    rows = admin_sql(
        "SELECT starts_at, ends_at FROM appointments WHERE doctor_id = %s", [doctor.id]
    )
    assert len(rows) == 1


async def test_one_patient_cannot_hold_two_appointments_at_once(
    client: httpx.AsyncClient, clinic: Clinic, other_clinic: Clinic, patient: Account
) -> None:
    starts_at = berlin(in_days(14), "10:00")
    await booked(client, patient, starts_at, clinic.doctor)

    same_clinic = await book(client, patient, starts_at, clinic.colleague)
    # A chart at another organization is another row: the account's own check sees it.
    elsewhere = await book(client, patient, starts_at, other_clinic.doctor)

    assert_error(same_clinic, 409, "PATIENT_ALREADY_BOOKED", "starts_at")
    assert_error(elsewhere, 409, "PATIENT_ALREADY_BOOKED", "starts_at")


async def test_the_chart_constraint_decides_a_race_for_one_patient(
    client: httpx.AsyncClient,
    clinic: Clinic,
    admin_sql: AdminSql,
    database_urls: DatabaseUrls,
) -> None:
    """A chart without an account, booked by the front desk with two doctors at the
    same time, concurrently: the per-chart exclusion constraint lets one through."""
    chart = await staff_chart(client, clinic.admin)
    starts_at = berlin(in_days(14), "10:00")

    async with inserts_held(database_urls, admin_sql) as gate:
        tasks = [
            asyncio.ensure_future(
                book(client, clinic.admin, starts_at, doctor, patient_id=chart["id"])
            )
            for doctor in (clinic.doctor, clinic.colleague)
        ]
        await gate.until_waiting(2)
    responses = await asyncio.gather(*tasks)

    assert sorted(r.status_code for r in responses) == [201, 409]
    [loser] = [r for r in responses if r.status_code == 409]
    assert_error(loser, 409, "PATIENT_ALREADY_BOOKED")
    [(active,)] = admin_sql(
        "SELECT count(*) FROM appointments WHERE patient_id = %s AND status <> 'cancelled'",
        [chart["id"]],
    )
    assert active == 1


async def test_a_reschedule_racing_a_booking_for_the_same_slot(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    bob: Account,
    admin_sql: AdminSql,
    database_urls: DatabaseUrls,
) -> None:
    day = in_days(14)
    await with_charts(client, clinic, bob)
    mine = await booked(client, patient, berlin(day, "09:00"), clinic.doctor)
    target = berlin(day, "12:00")

    async with inserts_held(database_urls, admin_sql) as gate:
        move = asyncio.ensure_future(
            client.put(
                f"/api/v1/appointments/{mine['id']}",
                json={"starts_at": target.isoformat()},
                headers=patient.headers,
            )
        )
        take = asyncio.ensure_future(book(client, bob, target, clinic.doctor))
        await gate.until_waiting(2)
    responses = await asyncio.gather(move, take)

    statuses = {r.status_code for r in responses}
    assert statuses in ({200, 409}, {201, 409}), [r.text for r in responses]
    [(holders,)] = admin_sql(
        "SELECT count(*) FROM appointments WHERE doctor_id = %s AND starts_at = %s"
        " AND status <> 'cancelled'",
        [clinic.doctor.id, target],
    )
    assert holders == 1
