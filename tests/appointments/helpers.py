"""Paths, builders and readers shared by the appointments tests.

Dates are chosen relative to today (the database's clock is never frozen): a doctor
works every day, around the clock unless told otherwise, so any future slot is on
offer and a test picks the one it needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from medhub.models.identity import Organization
from tests.doctors.helpers import availability_body, data, doctor_with_profile
from tests.factories import Account, Factory

API = "/api/v1"
APPOINTMENTS = f"{API}/appointments"
PROFILE = f"{API}/patients/profile"
PATIENTS = f"{API}/patients"
BERLIN = ZoneInfo("Europe/Berlin")
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000beef")
AdminSql = Callable[..., list[tuple[Any, ...]]]

__all__ = ["data"]


def every_day(start: str = "00:00", end: str = "24:00", minutes: int = 30) -> dict[str, Any]:
    """Availability: the same hours on all seven days, in Berlin."""
    return availability_body(*((weekday, start, end, minutes) for weekday in range(1, 8)))


def in_days(days: int) -> date:
    """A date `days` from today (UTC): far enough ahead to be bookable."""
    return datetime.now(UTC).date() + timedelta(days=days)


def berlin(day: date, clock: str) -> datetime:
    """`clock` on `day` in Berlin, as the UTC instant."""
    hours, minutes = (int(part) for part in clock.split(":"))
    return datetime.combine(day, time(hours, minutes), BERLIN).astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Clinic:
    """A care organization with an admin, a bookable doctor and a second one."""

    organization: Organization
    admin: Account
    doctor: Account
    colleague: Account

    @property
    def id(self) -> uuid.UUID:
        return self.organization.id


async def make_clinic(
    client: httpx.AsyncClient, factory: Factory, kind: str = "hospital", **profile: Any
) -> Clinic:
    organization = await factory.organization(kind, name=f"St. {factory.unique('Mary')}")
    admin = await factory.user("admin", organization_id=organization.id)
    doctor = await doctor_with_profile(
        client,
        factory,
        organization.id,
        full_name="Dr. Ada Meyer",
        availability=every_day(),
        **profile,
    )
    colleague = await doctor_with_profile(
        client, factory, organization.id, full_name="Dr. Bo Chen", availability=every_day()
    )
    return Clinic(organization, admin, doctor, colleague)


async def make_patient(
    client: httpx.AsyncClient, factory: Factory, full_name: str = "Ann Lee"
) -> Account:
    """A patient account with the date of birth a chart needs, logged in."""
    patient = await factory.user("patient", full_name=full_name)
    data(await client.put(PROFILE, json={"date_of_birth": "1985-02-03"}, headers=patient.headers))
    return patient


async def staff_chart(
    client: httpx.AsyncClient, staff: Account, *, email: str | None = None, **body: Any
) -> dict[str, Any]:
    """A chart the organization's staff create (no account linked)."""
    chart = {
        "first_name": "Carl",
        "last_name": "Moss",
        "date_of_birth": "1970-06-01",
        "sex": "male",
        **({"email": email} if email else {}),
        **body,
    }
    created: dict[str, Any] = data(
        await client.post(PATIENTS, json=chart, headers=staff.headers), 201
    )
    return created


async def book(
    client: httpx.AsyncClient,
    who: Account,
    starts_at: datetime | str,
    doctor: Account | uuid.UUID | None = None,
    **body: Any,
) -> httpx.Response:
    payload: dict[str, Any] = {
        "starts_at": starts_at if isinstance(starts_at, str) else iso(starts_at),
        **body,
    }
    if doctor is not None:
        payload["doctor_id"] = str(doctor.id if isinstance(doctor, Account) else doctor)
    return await client.post(APPOINTMENTS, json=payload, headers=who.headers)


async def booked(
    client: httpx.AsyncClient,
    who: Account,
    starts_at: datetime,
    doctor: Account | None = None,
    **body: Any,
) -> dict[str, Any]:
    result: dict[str, Any] = data(await book(client, who, starts_at, doctor, **body), 201)
    return result


async def update(
    client: httpx.AsyncClient, who: Account, appointment_id: str, **body: Any
) -> httpx.Response:
    return await client.put(f"{APPOINTMENTS}/{appointment_id}", json=body, headers=who.headers)


async def cancel(
    client: httpx.AsyncClient, who: Account, appointment_id: str, reason: str | None = None
) -> httpx.Response:
    return await client.request(
        "DELETE",
        f"{APPOINTMENTS}/{appointment_id}",
        json={"reason": reason} if reason is not None else None,
        headers=who.headers,
    )


async def slot_starts(client: httpx.AsyncClient, doctor: Account, day: date) -> list[str]:
    response = await client.get(
        f"{API}/doctors/{doctor.id}/slots",
        params={"from": day.isoformat(), "to": day.isoformat()},
    )
    return [slot["starts_at"] for slot in data(response)["slots"]]


def move_to(
    admin_sql: AdminSql, appointment_id: str, starts_at: datetime, minutes: int = 30
) -> None:
    """Time passes (set-up only): the appointment now starts at `starts_at`."""
    admin_sql(
        "UPDATE appointments SET starts_at = %s, ends_at = %s WHERE id = %s",
        [starts_at, starts_at + timedelta(minutes=minutes), appointment_id],
    )
