"""Clinics with a doctor, a patient account with a chart there, appointments: what the
consultations and records tests stand on.

Charts and appointments are inserted as rows (ORM, system context), not through the
patients and appointments APIs: these tests are about consultations and records, and
must not depend on how charts are registered or appointments booked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from medhub.kit.db import Database
from medhub.kit.tenancy import set_system_context
from medhub.models.appointments import Appointment
from medhub.models.identity import Organization
from medhub.models.patients import Patient
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory

API = "/api/v1"
CONSULTATIONS = f"{API}/consultations"
MEDICAL_VISITS = f"{API}/doctors/medical-visits"
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000dead")
AdminSql = Callable[..., list[tuple[Any, ...]]]


def records_of(patient_id: uuid.UUID) -> str:
    return f"{API}/patients/{patient_id}/records"


def now() -> datetime:
    return datetime.now(UTC)


def instant(text: str) -> datetime:
    """An API timestamp (`...Z`) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Clinic:
    organization: Organization
    admin: Account
    doctor: Account
    # A patient account whose chart here (`chart`) is linked to it.
    patient: Account
    chart: Patient

    @property
    def id(self) -> uuid.UUID:
        return self.organization.id


async def make_chart(
    database: Database,
    organization_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    first_name: str = "Pat",
    last_name: str = "Doe",
) -> Patient:
    async with database.unit_of_work() as session:
        await set_system_context(session)
        chart = Patient(
            organization_id=organization_id,
            mrn=f"T-{uuid.uuid4().hex[:12]}",
            user_id=user_id,
            first_name=first_name,
            last_name=last_name,
            date_of_birth=date(1980, 5, 17),
            sex="female",
        )
        session.add(chart)
        await session.flush()
    return chart


async def delete_chart(database: Database, patient_id: uuid.UUID) -> None:
    """Soft-delete a chart, as an admin's DELETE /patients/{id} does."""
    async with database.unit_of_work() as session:
        await set_system_context(session)
        await session.execute(
            text("UPDATE patients SET deleted_at = now() WHERE id = :id"), {"id": patient_id}
        )


async def make_appointment(
    database: Database,
    chart: Patient,
    doctor: Account,
    *,
    starts_at: datetime | None = None,
    minutes: int = 30,
    type: str = "video",
    status: str = "confirmed",
    video_room: str | None = None,
) -> Appointment:
    start = starts_at or now() + timedelta(days=2)
    async with database.unit_of_work() as session:
        await set_system_context(session)
        appointment = Appointment(
            organization_id=chart.organization_id,
            patient_id=chart.id,
            doctor_id=doctor.id,
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            timezone="Europe/Berlin",
            type=type,
            status=status,
            reason="Persistent cough",
            fee=Decimal("80.00"),
            currency="EUR",
            payment_status="unpaid",
            video_room=video_room,
        )
        session.add(appointment)
        await session.flush()
    return appointment


async def make_clinic(
    client: httpx.AsyncClient, factory: Factory, kind: str = "hospital"
) -> Clinic:
    organization = await factory.organization(kind)
    admin = await factory.user("admin", organization_id=organization.id)
    doctor = await doctor_with_profile(client, factory, organization.id)
    patient = await factory.user("patient", full_name="Pat Doe")
    chart = await make_chart(factory.database, organization.id, user_id=patient.id)
    return Clinic(organization, admin, doctor, patient, chart)


async def ad_hoc(
    client: httpx.AsyncClient, doctor: Account, chart: Patient, **body: Any
) -> dict[str, Any]:
    """An ad hoc consultation, made through the API."""
    payload = {"patient_id": str(chart.id), "type": "in_person", **body}
    result: dict[str, Any] = data(
        await client.post(CONSULTATIONS, json=payload, headers=doctor.headers), 201
    )
    return result


async def from_appointment(
    client: httpx.AsyncClient, doctor: Account, appointment: Appointment, status: int = 201
) -> dict[str, Any]:
    response = await client.post(
        CONSULTATIONS, json={"appointment_id": str(appointment.id)}, headers=doctor.headers
    )
    result: dict[str, Any] = data(response, status)
    return result


async def put(
    client: httpx.AsyncClient, account: Account, consultation_id: str, **body: Any
) -> httpx.Response:
    return await client.put(
        f"{CONSULTATIONS}/{consultation_id}", json=body, headers=account.headers
    )


def audit_count(admin_sql: AdminSql, action: str, entity_id: uuid.UUID | str | None = None) -> int:
    if entity_id is None:
        rows = admin_sql("SELECT count(*) FROM activity_logs WHERE action = %s", [action])
    else:
        rows = admin_sql(
            "SELECT count(*) FROM activity_logs WHERE action = %s AND entity_id = %s",
            [action, str(entity_id)],
        )
    return int(rows[0][0])
