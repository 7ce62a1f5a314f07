"""Bodies, readers and builders shared by the doctors tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.factories import DEFAULT_PASSWORD, Account, Factory

API = "/api/v1"
DOCTORS = f"{API}/doctors"
MY_PROFILE = f"{DOCTORS}/me/profile"
MY_AVAILABILITY = f"{DOCTORS}/me/availability"
USERS = f"{API}/admin/users"
TENANTS = f"{API}/admin/tenants"
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000dead")
AdminSql = Callable[..., list[tuple[Any, ...]]]

# The issue's example, verbatim.
ISSUE_AVAILABILITY: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "rules": [{"weekday": 1, "start": "09:00", "end": "17:00", "slot_minutes": 30}],
    "exceptions": [
        {"date": "2026-12-24", "available": False},
        {"date": "2026-12-27", "available": True, "start": "10:00", "end": "12:00"},
    ],
}


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def profile_body(**overrides: Any) -> dict[str, Any]:
    return {
        "specialty": "Cardiology",
        "license_number": "LIC-12345",
        "qualifications": ["MD", "FESC"],
        "years_of_experience": 12,
        "bio": "Heart rhythm specialist.",
        "languages": ["en", "de"],
        "consultation_fee": "80.00",
        "currency": "EUR",
        "offers_video": True,
        "is_listed": True,
        "timezone": "Europe/Berlin",
        **overrides,
    }


def availability_body(
    *rules: tuple[int, str, str, int], timezone: str = "Europe/Berlin", **overrides: Any
) -> dict[str, Any]:
    return {
        "timezone": timezone,
        "rules": [
            {"weekday": weekday, "start": start, "end": end, "slot_minutes": minutes}
            for weekday, start, end, minutes in rules
        ],
        "exceptions": [],
        **overrides,
    }


async def doctor_with_profile(
    client: httpx.AsyncClient,
    factory: Factory,
    organization_id: uuid.UUID | None,
    *,
    full_name: str = "Dr. Ada Meyer",
    approved: bool = True,
    availability: dict[str, Any] | None = None,
    **profile: Any,
) -> Account:
    """A doctor of `organization_id`, logged in, with a profile (and availability)."""
    doctor = await factory.user(
        "doctor", organization_id=organization_id, full_name=full_name, approved=approved
    )
    data(await client.put(MY_PROFILE, json=profile_body(**profile), headers=doctor.headers), 201)
    if availability is not None:
        data(await client.put(MY_AVAILABILITY, json=availability, headers=doctor.headers))
    return doctor


async def directory(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(await client.get(DOCTORS, params=params))
    return result


async def listed_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [d["id"] for d in (await directory(client, limit=100, **params))["doctors"]]


async def free_slots(
    client: httpx.AsyncClient, doctor_id: uuid.UUID, first: str, last: str
) -> dict[str, Any]:
    response = await client.get(f"{DOCTORS}/{doctor_id}/slots", params={"from": first, "to": last})
    result: dict[str, Any] = data(response)
    return result


def local_starts(slots: dict[str, Any]) -> list[str]:
    return [slot["local_start"] for slot in slots["slots"]]


async def register_doctor(client: httpx.AsyncClient, full_name: str = "Sam Solo") -> Account:
    """A doctor who signed up alone through the public registration (no organization,
    not yet approved), logged in."""
    email = f"dr-{uuid.uuid4().hex[:10]}@example.org"
    body = {"email": email, "password": DEFAULT_PASSWORD, "full_name": full_name, "role": "doctor"}
    registered = data(await client.post(f"{API}/auth/register", json=body), 201)
    doctor = Account(
        id=uuid.UUID(registered["user_id"]),
        email=email,
        password=DEFAULT_PASSWORD,
        role="doctor",
        organization_id=None,
    )
    logged_in = data(
        await client.post(f"{API}/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    )
    doctor.access_token = logged_in["access_token"]
    doctor.refresh_token = logged_in["refresh_token"]
    return doctor


async def set_approval(
    client: httpx.AsyncClient, doctor_id: uuid.UUID, by: Account, approved: bool = True
) -> httpx.Response:
    """PUT /admin/users/{id} {"is_approved": ...}: where doctors are approved."""
    return await client.put(
        f"{USERS}/{doctor_id}", json={"is_approved": approved}, headers=by.headers
    )
