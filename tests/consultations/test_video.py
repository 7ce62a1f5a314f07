"""Video rooms: an unguessable room per video consultation, and its `join_url` shown to
the two participants only, from 15 minutes before the start until the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from medhub.config import Settings
from medhub.consultations.video import JitsiProvider, NoVideo, joinable, provider_for
from tests.consultations.helpers import (
    CONSULTATIONS,
    AdminSql,
    Clinic,
    ad_hoc,
    from_appointment,
    make_appointment,
    now,
    put,
)
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory

JITSI = "https://meet.jit.si/"


async def join_url(client: httpx.AsyncClient, account: Account, consultation_id: str) -> Any:
    read = data(await client.get(f"{CONSULTATIONS}/{consultation_id}", headers=account.headers))
    return read["join_url"]


async def video_in(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, minutes: int
) -> dict[str, Any]:
    appointment = await make_appointment(
        factory.database, clinic.chart, clinic.doctor, starts_at=now() + timedelta(minutes=minutes)
    )
    return await from_appointment(client, clinic.doctor, appointment)


async def test_the_two_participants_get_the_room_from_15_minutes_before(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    soon = await video_in(client, factory, clinic, minutes=10)
    url = await join_url(client, clinic.doctor, soon["id"])
    assert url is not None
    assert url.startswith(JITSI + "medhub-")
    assert await join_url(client, clinic.patient, soon["id"]) == url
    # The room is the stored one, and long enough not to be guessed (192 random bits).
    room = admin_sql("SELECT video_room FROM consultations WHERE id = %s", [soon["id"]])[0][0]
    assert url == JITSI + room
    assert len(room.removeprefix("medhub-")) >= 32
    # The patient's list shows it too.
    listed = data(await client.get(CONSULTATIONS, headers=clinic.patient.headers))
    assert listed["consultations"][0]["join_url"] == url


async def test_an_appointments_consultation_meets_in_the_appointments_room(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    appointment = await make_appointment(
        factory.database,
        clinic.chart,
        clinic.doctor,
        starts_at=now() + timedelta(minutes=5),
        video_room="room-named-at-booking-0123456789abcdef",
    )
    made = await from_appointment(client, clinic.doctor, appointment)
    assert made["join_url"] == JITSI + "room-named-at-booking-0123456789abcdef"


async def test_every_video_consultation_has_its_own_room(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    first = await video_in(client, factory, clinic, minutes=5)
    second = await video_in(client, factory, clinic, minutes=60 * 24)
    started = data(await put(client, clinic.doctor, second["id"], status="in_progress"))
    assert started["join_url"] is not None
    assert started["join_url"] != await join_url(client, clinic.doctor, first["id"])


async def test_no_room_before_time_for_other_readers_or_after_the_end(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    later = await video_in(client, factory, clinic, minutes=60)
    assert later["join_url"] is None
    assert await join_url(client, clinic.patient, later["id"]) is None

    soon = await video_in(client, factory, clinic, minutes=10)
    # Another doctor of the organization reads the consultation but is not in it.
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Two")
    assert await join_url(client, colleague, soon["id"]) is None

    # Started early (it is in progress): the room opens at once.
    started = data(await put(client, clinic.doctor, later["id"], status="in_progress"))
    assert started["join_url"] is not None
    done = data(await put(client, clinic.doctor, later["id"], status="completed"))
    assert done["join_url"] is None
    assert await join_url(client, clinic.patient, later["id"]) is None


async def test_an_in_person_consultation_has_no_room(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart, type="in_person")
    assert made["join_url"] is None
    rooms = admin_sql("SELECT video_room FROM consultations WHERE id = %s", [made["id"]])
    assert rooms == [(None,)]
    video = await ad_hoc(client, clinic.doctor, clinic.chart, type="video")
    assert video["join_url"] is not None  # due now


# The providers


def test_the_provider_follows_the_settings() -> None:
    assert provider_for(Settings(_env_file=None)) == JitsiProvider("https://meet.jit.si")  # type: ignore[call-arg]
    custom = Settings(_env_file=None, VIDEO_BASE_URL="https://video.example.org/rooms/")  # type: ignore[call-arg]
    assert (
        provider_for(custom).join_url("medhub-a_b") == "https://video.example.org/rooms/medhub-a_b"
    )
    assert isinstance(provider_for(Settings(_env_file=None, VIDEO_PROVIDER="none")), NoVideo)  # type: ignore[call-arg]
    assert NoVideo().join_url("medhub-abc") is None


@pytest.mark.parametrize(
    ("kind", "status", "minutes_before", "expected"),
    [
        ("video", "scheduled", 16, False),
        ("video", "scheduled", 15, True),
        ("video", "scheduled", -30, True),
        ("video", "in_progress", 120, True),
        ("video", "completed", 0, False),
        ("video", "cancelled", 0, False),
        ("in_person", "in_progress", 0, False),
    ],
)
def test_the_join_window(kind: str, status: str, minutes_before: int, expected: bool) -> None:
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    due = at + timedelta(minutes=minutes_before)
    assert joinable(type=kind, status=status, scheduled_at=due, now=at) is expected
