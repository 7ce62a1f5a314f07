"""Paths, builders and readers shared by the reviews tests.

An appointment is reviewable once completed: the tests book it through the API (which
makes the patient's chart at the doctor's organization) and then mark it completed
directly, as the end of a consultation would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from medhub.kit.tenancy import set_system_context
from tests.appointments.helpers import Clinic, berlin, booked, in_days, make_clinic, make_patient
from tests.doctors.helpers import data
from tests.factories import Account, Factory

API = "/api/v1"
REVIEWS = f"{API}/reviews"
REPORTED = f"{REVIEWS}/reported"
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000f00d")

__all__ = ["data"]


def reviews_of(doctor: Account | uuid.UUID) -> str:
    doctor_id = doctor.id if isinstance(doctor, Account) else doctor
    return f"{API}/doctors/{doctor_id}/reviews"


async def appointment_with(
    client: httpx.AsyncClient,
    factory: Factory,
    patient: Account,
    doctor: Account,
    slot: int,
    *,
    completed: bool = True,
) -> str:
    """A booked appointment of `patient` with `doctor` (the `slot`th half hour of a day
    ahead), completed unless told otherwise; its id."""
    starts_at = berlin(in_days(10), "06:00") + timedelta(minutes=30 * slot)
    appointment: dict[str, Any] = await booked(client, patient, starts_at, doctor)
    if completed:
        async with factory.database.unit_of_work() as session:
            await set_system_context(session)
            await session.execute(
                text("UPDATE appointments SET status = 'completed' WHERE id = :id"),
                {"id": appointment["id"]},
            )
    return str(appointment["id"])


async def post_review(
    client: httpx.AsyncClient,
    patient: Account,
    doctor: Account | uuid.UUID,
    appointment_id: str,
    rating: Any = 5,
    **body: Any,
) -> httpx.Response:
    payload = {"appointment_id": appointment_id, "rating": rating, **body}
    return await client.post(reviews_of(doctor), json=payload, headers=patient.headers)


async def reviewed(
    client: httpx.AsyncClient,
    patient: Account,
    doctor: Account,
    appointment_id: str,
    rating: int = 5,
    **body: Any,
) -> dict[str, Any]:
    review: dict[str, Any] = data(
        await post_review(client, patient, doctor, appointment_id, rating, **body), 201
    )
    return review


async def rating_of(client: httpx.AsyncClient, doctor: Account) -> tuple[Decimal | None, int]:
    """The doctor's rating average and count, as the public profile shows them."""
    profile = data(await client.get(f"{API}/doctors/{doctor.id}"))
    average = profile["rating_average"]
    return (Decimal(str(average)) if average is not None else None), profile["rating_count"]


async def public_list(client: httpx.AsyncClient, doctor: Account, **params: Any) -> Any:
    return data(await client.get(reviews_of(doctor), params=params))


@dataclass
class Visits:
    """A clinic (a reviewed doctor and a colleague), another clinic, and two patients:
    Ann with a completed appointment with the doctor, one not completed yet and a
    completed one with the colleague; Bob with a completed one with the doctor."""

    clinic: Clinic
    other: Clinic
    ann: Account
    bob: Account
    ann_done: str
    ann_pending: str
    ann_with_colleague: str
    bob_done: str


async def make_visits(client: httpx.AsyncClient, factory: Factory) -> Visits:
    clinic = await make_clinic(client, factory)
    other = await make_clinic(client, factory, "clinic")
    ann = await make_patient(client, factory, "Ann Maria Lee")
    bob = await make_patient(client, factory, "Bob Roe")
    return Visits(
        clinic=clinic,
        other=other,
        ann=ann,
        bob=bob,
        ann_done=await appointment_with(client, factory, ann, clinic.doctor, 0),
        ann_pending=await appointment_with(client, factory, ann, clinic.doctor, 2, completed=False),
        ann_with_colleague=await appointment_with(client, factory, ann, clinic.colleague, 4),
        bob_done=await appointment_with(client, factory, bob, clinic.doctor, 6),
    )
