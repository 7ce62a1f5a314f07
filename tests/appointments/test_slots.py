"""Booked time is busy time: the doctors' free slots (GET /doctors/{id}/slots and the
directory's `available_on`) leave out active appointments, and give them back when
they are cancelled. Booking lands on the right instant across daylight-saving changes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import httpx

from tests.appointments.helpers import (
    BERLIN,
    Clinic,
    berlin,
    book,
    booked,
    cancel,
    data,
    every_day,
    in_days,
    iso,
    slot_starts,
)
from tests.assertions import assert_error
from tests.doctors.helpers import MY_AVAILABILITY, availability_body, listed_ids
from tests.factories import Account


async def test_a_booked_slot_is_no_longer_offered_and_comes_back_when_cancelled(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    day = in_days(14)
    ten = iso(berlin(day, "10:00"))
    assert ten in await slot_starts(client, clinic.doctor, day)

    appointment = await booked(client, patient, berlin(day, "10:00"), clinic.doctor)

    offered = await slot_starts(client, clinic.doctor, day)
    assert ten not in offered
    assert iso(berlin(day, "09:30")) in offered
    assert iso(berlin(day, "10:30")) in offered
    # Another doctor's time is theirs: still free.
    assert ten in await slot_starts(client, clinic.colleague, day)

    data(await cancel(client, patient, appointment["id"]))

    assert ten in await slot_starts(client, clinic.doctor, day)


async def test_the_directory_leaves_out_a_doctor_whose_day_is_fully_booked(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    day = in_days(20)
    hours = availability_body((day.isoweekday(), "09:00", "10:00", 60), timezone="Europe/Berlin")
    data(await client.put(MY_AVAILABILITY, json=hours, headers=clinic.doctor.headers))
    assert str(clinic.doctor.id) in await listed_ids(client, available_on=day.isoformat())

    await booked(client, patient, berlin(day, "09:00"), clinic.doctor)

    assert str(clinic.doctor.id) not in await listed_ids(client, available_on=day.isoformat())


async def test_a_longer_booking_hides_every_slot_it_overlaps(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    """Slots of different lengths: booked as one hour, offered as half hours later."""
    day = in_days(21)
    hourly = every_day("09:00", "12:00", 60)
    data(await client.put(MY_AVAILABILITY, json=hourly, headers=clinic.doctor.headers))
    await booked(client, patient, berlin(day, "10:00"), clinic.doctor)
    half_hours = every_day("09:00", "12:00", 30)
    data(await client.put(MY_AVAILABILITY, json=half_hours, headers=clinic.doctor.headers))

    offered = await slot_starts(client, clinic.doctor, day)

    assert offered == [iso(berlin(day, clock)) for clock in ("09:00", "09:30", "11:00", "11:30")]
    response = await book(client, patient, berlin(day, "10:30"), clinic.doctor)
    assert_error(response, 409, "SLOT_UNAVAILABLE")


def next_dst_change(after: date) -> date:
    """The first date after `after` on which Berlin's UTC offset at noon differs from
    the day before's."""
    day = after
    while True:
        nxt = day + timedelta(days=1)
        before = datetime.combine(day, time(12), BERLIN).utcoffset()
        later = datetime.combine(nxt, time(12), BERLIN).utcoffset()
        if before != later:
            return nxt
        day = nxt


async def test_booking_across_a_dst_change_lands_on_the_right_utc_instant(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    change = next_dst_change(in_days(2))
    eve = change - timedelta(days=1)

    before = await booked(client, patient, berlin(eve, "09:00"), clinic.doctor)
    after = await booked(client, patient, berlin(change, "09:00"), clinic.doctor)

    # 09:00 on the doctor's clock both days; an hour apart in UTC.
    offsets = {day: datetime.combine(day, time(9), BERLIN).utcoffset() for day in (eve, change)}
    assert offsets[eve] != offsets[change]
    for appointment, day in ((before, eve), (after, change)):
        expected = datetime.combine(day, time(9), BERLIN)
        assert appointment["starts_at"] == iso(expected)
        assert datetime.fromisoformat(appointment["local_start"]) == expected
        assert datetime.fromisoformat(appointment["local_start"]).utcoffset() == offsets[day]
    gap = datetime.fromisoformat(after["starts_at"]) - datetime.fromisoformat(before["starts_at"])
    assert gap in {timedelta(hours=23), timedelta(hours=25)}
    assert before["ends_at"] == iso(
        datetime.fromisoformat(before["starts_at"]) + timedelta(minutes=30)
    )
