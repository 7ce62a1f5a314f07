"""A patient with charts at two organizations, each with a named doctor, and the OTP
grant the medical history needs: what the medical-history and access-log tests stand on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from medhub.models.identity import Organization
from medhub.models.patients import Patient
from tests.auth.helpers import mailed_code
from tests.consultations.helpers import CONSULTATIONS, make_chart
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory

API = "/api/v1"
MEDICAL_HISTORY = f"{API}/patients/medical-history"
ACCESS_LOG = f"{API}/patients/me/access-log"


@dataclass
class Practice:
    """A care organization with a named admin and doctor."""

    organization: Organization
    admin: Account
    doctor: Account

    @property
    def id(self) -> uuid.UUID:
        return self.organization.id

    @property
    def name(self) -> str:
        return self.organization.name


async def make_practice(
    client: httpx.AsyncClient,
    factory: Factory,
    name: str,
    doctor_name: str,
    *,
    kind: str = "hospital",
    **profile: Any,
) -> Practice:
    organization = await factory.organization(kind, name=f"{name} {uuid.uuid4().hex[:6]}")
    admin = await factory.user("admin", organization_id=organization.id, full_name=f"{name} Admin")
    doctor = await doctor_with_profile(
        client, factory, organization.id, full_name=doctor_name, **profile
    )
    return Practice(organization, admin, doctor)


@dataclass
class TwoCharts:
    """One patient account with a linked chart at each of two organizations."""

    patient: Account
    first: Practice
    first_chart: Patient
    second: Practice
    second_chart: Patient


async def patient_at_two_practices(client: httpx.AsyncClient, factory: Factory) -> TwoCharts:
    first = await make_practice(client, factory, "Northside Hospital", "Dr. Hana Ito")
    # The second doctor is not in the public directory: the patient still learns their name.
    second = await make_practice(
        client, factory, "Lakeview Clinic", "Dr. Omar Reyes", kind="clinic", is_listed=False
    )
    patient = await factory.user("patient", full_name="Mia Chen")
    first_chart = await make_chart(
        factory.database, first.id, user_id=patient.id, first_name="Mia", last_name="Chen"
    )
    second_chart = await make_chart(
        factory.database, second.id, user_id=patient.id, first_name="Mia", last_name="Chen"
    )
    return TwoCharts(patient, first, first_chart, second, second_chart)


async def otp_token(
    client: httpx.AsyncClient, app: FastAPI, account: Account, purpose: str = "medical_history"
) -> str:
    """A live grant for `purpose`: a code requested, read from the email, verified."""
    requested = await client.post(
        f"{API}/auth/otp/request", json={"purpose": purpose}, headers=account.headers
    )
    data(requested)
    code = await mailed_code(app, account.email, "otp")
    verified = await client.post(
        f"{API}/auth/otp/verify",
        json={"purpose": purpose, "code": code},
        headers=account.headers,
    )
    token: str = data(verified)["otp_token"]
    return token


def with_otp(account: Account, token: str) -> dict[str, str]:
    return {**account.headers, "X-OTP-Token": token}


async def consultation(
    client: httpx.AsyncClient,
    doctor: Account,
    chart: Patient,
    *,
    scheduled_at: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An ad hoc consultation by `doctor`, then filled in with `fields` (diagnosis...)."""
    body = {"patient_id": str(chart.id), "type": "in_person", "chief_complaint": "Cough"}
    if scheduled_at is not None:
        body["scheduled_at"] = scheduled_at
    made: dict[str, Any] = data(
        await client.post(CONSULTATIONS, json=body, headers=doctor.headers), 201
    )
    if not fields:
        return made
    changed: dict[str, Any] = data(
        await client.put(f"{CONSULTATIONS}/{made['id']}", json=fields, headers=doctor.headers)
    )
    return changed


async def record(
    client: httpx.AsyncClient, doctor: Account, chart: Patient, **fields: Any
) -> dict[str, Any]:
    body = {"kind": "lab_result", "recorded_on": "2026-01-15", "title": "HbA1c", **fields}
    made: dict[str, Any] = data(
        await client.post(f"{API}/patients/{chart.id}/records", json=body, headers=doctor.headers),
        201,
    )
    return made
