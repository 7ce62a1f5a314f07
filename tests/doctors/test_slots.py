"""GET /api/v1/doctors/{id}/slots?from=&to=: a doctor's free slots, for anyone.

Dates are the doctor's (their zone); slots come back in UTC with the local start. The
clock is fixed (`clock`) so that the dates of 2026's daylight-saving changes are
still ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from medhub.config import Settings
from tests.assertions import assert_error
from tests.doctors.conftest import Tenant
from tests.doctors.helpers import (
    DOCTORS,
    ISSUE_AVAILABILITY,
    MY_AVAILABILITY,
    UNKNOWN,
    AdminSql,
    availability_body,
    data,
    doctor_with_profile,
    free_slots,
    local_starts,
)
from tests.factories import Factory

Clock = Callable[[datetime], None]
NEW_YEAR_2026 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_free_slots_of_a_week_in_utc_with_the_local_start(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    clock(NEW_YEAR_2026)
    doctor = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        availability=availability_body((1, "09:00", "10:30", 30), (3, "14:00", "15:00", 60)),
    )

    # Monday 2026-01-05 .. Sunday 2026-01-11, Berlin in winter (UTC+1).
    result = await free_slots(client, doctor.id, "2026-01-05", "2026-01-11")

    assert result["doctor_id"] == str(doctor.id)
    assert result["timezone"] == "Europe/Berlin"
    assert result["from"] == "2026-01-05"
    assert result["to"] == "2026-01-11"
    assert result["slots"] == [
        {
            "starts_at": "2026-01-05T08:00:00Z",
            "ends_at": "2026-01-05T08:30:00Z",
            "local_start": "2026-01-05T09:00:00+01:00",
        },
        {
            "starts_at": "2026-01-05T08:30:00Z",
            "ends_at": "2026-01-05T09:00:00Z",
            "local_start": "2026-01-05T09:30:00+01:00",
        },
        {
            "starts_at": "2026-01-05T09:00:00Z",
            "ends_at": "2026-01-05T09:30:00Z",
            "local_start": "2026-01-05T10:00:00+01:00",
        },
        {
            "starts_at": "2026-01-07T13:00:00Z",
            "ends_at": "2026-01-07T14:00:00Z",
            "local_start": "2026-01-07T14:00:00+01:00",
        },
    ]


async def test_exceptions_take_a_day_off_or_replace_its_hours(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    clock(datetime(2026, 12, 1, tzinfo=UTC))
    doctor = await doctor_with_profile(
        client, factory, hospital.id, availability=ISSUE_AVAILABILITY
    )

    # 2026-12-21 is a Monday (rules), the 24th is off (a Thursday: no rule anyway), the
    # 27th a Sunday with extra hours 10:00-12:00 in 30-minute slots; the 28th a Monday.
    result = await free_slots(client, doctor.id, "2026-12-21", "2026-12-28")
    days = [start[:10] for start in local_starts(result)]
    assert days.count("2026-12-21") == 16
    assert days.count("2026-12-28") == 16
    assert [s for s in local_starts(result) if s.startswith("2026-12-27")] == [
        "2026-12-27T10:00:00+01:00",
        "2026-12-27T10:30:00+01:00",
        "2026-12-27T11:00:00+01:00",
        "2026-12-27T11:30:00+01:00",
    ]
    # A Monday off removes its rules.
    body = {**ISSUE_AVAILABILITY, "exceptions": [{"date": "2026-12-21", "available": False}]}
    data(await client.put(MY_AVAILABILITY, json=body, headers=doctor.headers))
    result = await free_slots(client, doctor.id, "2026-12-21", "2026-12-21")
    assert result["slots"] == []
    # Extra hours on a Monday replace that Monday's rules.
    body["exceptions"] = [
        {
            "date": "2026-12-21",
            "available": True,
            "start": "18:00",
            "end": "19:00",
            "slot_minutes": 20,
        }
    ]
    data(await client.put(MY_AVAILABILITY, json=body, headers=doctor.headers))
    result = await free_slots(client, doctor.id, "2026-12-21", "2026-12-21")
    assert local_starts(result) == [
        "2026-12-21T18:00:00+01:00",
        "2026-12-21T18:20:00+01:00",
        "2026-12-21T18:40:00+01:00",
    ]


async def test_the_past_and_the_minimum_lead_time_are_not_free(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    doctor = await doctor_with_profile(
        client, factory, hospital.id, availability=availability_body((1, "09:00", "12:00", 30))
    )
    # Monday 2026-01-05, 09:10 in Berlin: with 60 minutes' lead, 10:10 is the earliest start.
    clock(datetime(2026, 1, 5, 8, 10, tzinfo=UTC))
    result = await free_slots(client, doctor.id, "2026-01-04", "2026-01-05")
    assert local_starts(result) == [
        "2026-01-05T10:30:00+01:00",
        "2026-01-05T11:00:00+01:00",
        "2026-01-05T11:30:00+01:00",
    ]
    # A slot starting exactly at now + lead is still free.
    clock(datetime(2026, 1, 5, 8, 30, tzinfo=UTC))
    assert local_starts(await free_slots(client, doctor.id, "2026-01-05", "2026-01-05"))[0] == (
        "2026-01-05T10:30:00+01:00"
    )


class TestLeadTimeSetting:
    @pytest.fixture
    def settings(self, make_settings: Callable[..., Settings]) -> Settings:
        return make_settings(APPOINTMENT_MIN_LEAD_MINUTES=0)

    async def test_without_lead_time_the_next_slot_is_free(
        self, client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
    ) -> None:
        doctor = await doctor_with_profile(
            client, factory, hospital.id, availability=availability_body((1, "09:00", "12:00", 30))
        )
        clock(datetime(2026, 1, 5, 8, 10, tzinfo=UTC))
        assert local_starts(await free_slots(client, doctor.id, "2026-01-05", "2026-01-05"))[0] == (
            "2026-01-05T09:30:00+01:00"
        )


# Daylight-saving changes (all three dates are Sundays: ISO weekday 7).


async def _sunday_doctor(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant, timezone: str
) -> Any:
    return await doctor_with_profile(
        client,
        factory,
        tenant.id,
        timezone=timezone,
        availability=availability_body(
            (7, "01:00", "04:00", 30), (7, "09:00", "10:00", 60), timezone=timezone
        ),
    )


async def test_berlin_spring_forward_keeps_9_local_and_skips_the_missing_hour(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    clock(NEW_YEAR_2026)
    doctor = await _sunday_doctor(client, factory, hospital, "Europe/Berlin")

    result = await free_slots(client, doctor.id, "2026-03-22", "2026-03-29")

    before = [s for s in result["slots"] if s["local_start"].startswith("2026-03-22T09")]
    assert before == [
        {
            "starts_at": "2026-03-22T08:00:00Z",
            "ends_at": "2026-03-22T09:00:00Z",
            "local_start": "2026-03-22T09:00:00+01:00",
        }
    ]
    change_day = [s for s in result["slots"] if s["local_start"].startswith("2026-03-29")]
    # 02:00-03:00 does not exist that night: no slot starts in it.
    assert [s["local_start"] for s in change_day] == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-29T09:00:00+02:00",
    ]
    assert [s["starts_at"] for s in change_day] == [
        "2026-03-29T00:00:00Z",
        "2026-03-29T00:30:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-29T01:30:00Z",
        # Still 09:00 on the wall: 07:00 UTC now.
        "2026-03-29T07:00:00Z",
    ]
    assert change_day[1]["ends_at"] == "2026-03-29T01:00:00Z"


async def test_berlin_fall_back_offers_the_repeated_hour_once(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    clock(NEW_YEAR_2026)
    doctor = await _sunday_doctor(client, factory, hospital, "Europe/Berlin")

    result = await free_slots(client, doctor.id, "2026-10-25", "2026-10-25")

    assert local_starts(result) == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T01:30:00+02:00",
        # 02:00-03:00 happens twice that night; its slots are offered once, at the
        # first occurrence (still summer time).
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T03:30:00+01:00",
        "2026-10-25T09:00:00+01:00",
    ]
    starts = [s["starts_at"] for s in result["slots"]]
    assert len(starts) == len(set(starts))
    assert starts == [
        "2026-10-24T23:00:00Z",
        "2026-10-24T23:30:00Z",
        "2026-10-25T00:00:00Z",
        "2026-10-25T00:30:00Z",
        "2026-10-25T02:00:00Z",
        "2026-10-25T02:30:00Z",
        "2026-10-25T08:00:00Z",
    ]


async def test_new_york_spring_forward(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    clock(NEW_YEAR_2026)
    doctor = await _sunday_doctor(client, factory, hospital, "America/New_York")

    result = await free_slots(client, doctor.id, "2026-03-01", "2026-03-08")

    assert result["timezone"] == "America/New_York"
    march_1 = [s for s in result["slots"] if s["local_start"].startswith("2026-03-01T09")]
    assert march_1[0]["starts_at"] == "2026-03-01T14:00:00Z"
    change_day = [s for s in result["slots"] if s["local_start"].startswith("2026-03-08")]
    assert [s["local_start"] for s in change_day] == [
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-08T09:00:00-04:00",
    ]
    assert change_day[-1]["starts_at"] == "2026-03-08T13:00:00Z"


# Errors


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-01-10", "to": "2026-01-09"}, "from"),
        ({"from": "2026-01-01", "to": "2026-02-01"}, "to"),
        ({"from": "2026-01-01"}, "to"),
        ({"to": "2026-01-01"}, "from"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "01/02/2026", "to": "2026-03-01"}, "from"),
    ],
)
async def test_bad_ranges_are_refused_with_the_field_named(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    params: dict[str, str],
    field: str,
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id)
    response = await client.get(f"{DOCTORS}/{doctor.id}/slots", params=params)
    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_31_days_is_the_longest_range(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    clock(NEW_YEAR_2026)
    doctor = await doctor_with_profile(
        client, factory, hospital.id, availability=availability_body((4, "09:00", "10:00", 60))
    )
    result = await free_slots(client, doctor.id, "2026-01-01", "2026-01-31")
    # Thursdays of January 2026: the 1st, 8th, 15th, 22nd and 29th.
    assert len(result["slots"]) == 5


async def test_doctors_outside_the_directory_have_no_slots(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql, clock: Clock
) -> None:
    clock(NEW_YEAR_2026)
    availability = availability_body((1, "09:00", "12:00", 30))
    unapproved = await doctor_with_profile(
        client, factory, hospital.id, approved=False, availability=availability
    )
    unlisted = await doctor_with_profile(
        client, factory, hospital.id, is_listed=False, availability=availability
    )
    params = {"from": "2026-01-05", "to": "2026-01-05"}
    for doctor_id in (unapproved.id, unlisted.id, UNKNOWN, hospital.admin.id):
        response = await client.get(f"{DOCTORS}/{doctor_id}/slots", params=params)
        assert_error(response, 404, "NOT_FOUND")
    # The rows are there all the same: only the public view leaves them out.
    assert admin_sql(
        "SELECT count(*) FROM doctor_availability_rules WHERE doctor_id IN (%s, %s)",
        [unapproved.id, unlisted.id],
    ) == [(2,)]


async def test_a_doctor_without_availability_has_no_slots(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    clock(NEW_YEAR_2026)
    doctor = await doctor_with_profile(client, factory, hospital.id)
    assert (await free_slots(client, doctor.id, "2026-01-05", "2026-01-11"))["slots"] == []
