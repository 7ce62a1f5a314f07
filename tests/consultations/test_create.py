"""POST /consultations (from an appointment, or ad hoc) and the appointments domain's
seam, `open_for_appointment`: one consultation per appointment, whoever opens it first."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from medhub.authz.principal import AuthMethod, Principal
from medhub.consultations import service
from medhub.kit.db import Database
from medhub.kit.tenancy import TenantContext, bind_tenant
from medhub.models.appointments import Appointment
from medhub.models.consultations import Consultation
from tests.assertions import assert_error
from tests.consultations.helpers import (
    CONSULTATIONS,
    UNKNOWN,
    AdminSql,
    Clinic,
    ad_hoc,
    audit_count,
    delete_chart,
    from_appointment,
    instant,
    make_appointment,
    make_chart,
    now,
)
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory


def as_principal(account: Account, role: str | None = None) -> Principal:
    return Principal(
        role=role or account.role,
        organization_id=account.organization_id,
        method=AuthMethod.bearer,
        user_id=account.id,
    )


async def open_in_transaction(
    database: Database, appointment: Appointment, actor: Account
) -> Consultation:
    """What the appointments domain does when the appointment moves to in_progress: in
    its own unit of work, scoped to the actor like a request."""
    async with database.unit_of_work() as session:
        await bind_tenant(
            session,
            TenantContext(user_id=actor.id, organization_id=actor.organization_id, role=actor.role),
        )
        return await service.open_for_appointment(session, appointment, actor=as_principal(actor))


# From an appointment


async def test_an_appointments_consultation_is_made_once_and_then_returned(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    appointment = await make_appointment(factory.database, clinic.chart, clinic.doctor)
    made = await from_appointment(client, clinic.doctor, appointment)
    assert made["appointment_id"] == str(appointment.id)
    assert made["patient_id"] == str(clinic.chart.id)
    assert made["doctor_id"] == str(clinic.doctor.id)
    assert made["organization_id"] == str(clinic.id)
    assert made["type"] == "video"
    # The appointment has not started: the consultation waits for it.
    assert made["status"] == "scheduled"
    assert made["started_at"] is None
    assert instant(made["scheduled_at"]) == appointment.starts_at
    again = await from_appointment(client, clinic.doctor, appointment, 200)
    assert again["id"] == made["id"]
    assert audit_count(admin_sql, "consultation.created", made["id"]) == 1


async def test_the_consultation_of_a_started_appointment_is_in_progress(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    appointment = await make_appointment(
        factory.database, clinic.chart, clinic.doctor, status="in_progress", type="in_person"
    )
    made = await from_appointment(client, clinic.doctor, appointment)
    assert made["status"] == "in_progress"
    assert made["started_at"] is not None
    assert made["type"] == "in_person"


async def test_another_doctor_of_the_organization_opens_it_for_the_appointments_doctor(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Cover")
    appointment = await make_appointment(factory.database, clinic.chart, clinic.doctor)
    made = await from_appointment(client, colleague, appointment)
    assert made["doctor_id"] == str(clinic.doctor.id)


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
async def test_a_cancelled_or_missed_appointment_has_no_consultation(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, status: str
) -> None:
    appointment = await make_appointment(
        factory.database, clinic.chart, clinic.doctor, status=status
    )
    response = await client.post(
        CONSULTATIONS, json={"appointment_id": str(appointment.id)}, headers=clinic.doctor.headers
    )
    assert status in assert_error(response, 409, "CONFLICT")["message"]


async def test_another_organizations_appointment_is_not_found(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    theirs = await make_appointment(factory.database, other_clinic.chart, other_clinic.doctor)
    for appointment_id in (theirs.id, UNKNOWN):
        response = await client.post(
            CONSULTATIONS,
            json={"appointment_id": str(appointment_id)},
            headers=clinic.doctor.headers,
        )
        assert_error(response, 404, "NOT_FOUND")


async def test_concurrent_openings_of_one_appointment_make_one_consultation(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    appointment = await make_appointment(factory.database, clinic.chart, clinic.doctor)
    body = {"appointment_id": str(appointment.id)}
    responses = await asyncio.gather(
        *(client.post(CONSULTATIONS, json=body, headers=clinic.doctor.headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    rows = admin_sql(
        "SELECT count(*) FROM consultations WHERE appointment_id = %s", [appointment.id]
    )
    assert rows[0][0] == 1


# The appointments domain's seam


async def test_starting_an_appointment_opens_its_consultation_once(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    appointment = await make_appointment(
        factory.database, clinic.chart, clinic.doctor, status="in_progress"
    )
    first = await open_in_transaction(factory.database, appointment, clinic.doctor)
    second = await open_in_transaction(factory.database, appointment, clinic.doctor)
    assert first.id == second.id
    assert first.status == "in_progress"
    assert first.started_at is not None
    assert first.type == "video"
    assert first.scheduled_at == appointment.starts_at
    assert first.video_room is not None
    assert first.video_room.startswith("medhub-")
    # And POST /consultations {appointment_id} returns that one.
    posted = await from_appointment(client, clinic.doctor, appointment, 200)
    assert posted["id"] == str(first.id)
    assert posted["status"] == "in_progress"


async def test_starting_an_appointment_starts_the_consultation_opened_ahead(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    appointment = await make_appointment(factory.database, clinic.chart, clinic.doctor)
    ahead = await from_appointment(client, clinic.doctor, appointment)
    assert ahead["status"] == "scheduled"
    # The organization's admin may start appointments: the consultation opens all the same.
    opened = await open_in_transaction(factory.database, appointment, clinic.admin)
    assert str(opened.id) == ahead["id"]
    assert opened.status == "in_progress"
    assert opened.started_at is not None
    assert audit_count(admin_sql, "consultation.status_changed", opened.id) == 1


# Ad hoc


async def test_a_doctor_opens_an_ad_hoc_consultation_for_a_chart_of_the_organization(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    before = now()
    made = await ad_hoc(client, clinic.doctor, clinic.chart, chief_complaint="Sore throat")
    assert made["appointment_id"] is None
    assert made["status"] == "scheduled"
    assert made["type"] == "in_person"
    assert made["chief_complaint"] == "Sore throat"
    assert made["doctor_id"] == str(clinic.doctor.id)
    assert made["join_url"] is None
    assert made["icd10_codes"] == []
    assert before <= instant(made["scheduled_at"]) <= now()
    rows = admin_sql(
        "SELECT user_id, organization_id, metadata FROM activity_logs"
        " WHERE action = 'consultation.created' AND entity_id = %s",
        [made["id"]],
    )
    assert len(rows) == 1
    user_id, organization_id, metadata = rows[0]
    assert (user_id, organization_id) == (clinic.doctor.id, clinic.id)
    assert metadata["patient_id"] == str(clinic.chart.id)
    assert "Sore throat" not in str(metadata), "no clinical content in the audit log"


async def test_an_ad_hoc_consultation_may_be_planned(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    planned = (now() + timedelta(days=3)).replace(microsecond=0)
    made = await ad_hoc(
        client, clinic.doctor, clinic.chart, type="video", scheduled_at=planned.isoformat()
    )
    assert made["type"] == "video"
    assert instant(made["scheduled_at"]) == planned


async def test_an_ad_hoc_consultation_needs_a_chart_of_the_organization(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    deleted = await make_chart(factory.database, clinic.id)
    await delete_chart(factory.database, deleted.id)
    for patient_id in (other_clinic.chart.id, UNKNOWN, deleted.id):
        response = await client.post(
            CONSULTATIONS,
            json={"patient_id": str(patient_id), "type": "in_person"},
            headers=clinic.doctor.headers,
        )
        assert_error(response, 404, "NOT_FOUND")


async def test_a_doctor_without_a_profile_is_asked_for_one(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    doctor = await factory.user("doctor", organization_id=clinic.id)
    response = await client.post(
        CONSULTATIONS,
        json={"patient_id": str(clinic.chart.id), "type": "video"},
        headers=doctor.headers,
    )
    assert "/doctors/me/profile" in assert_error(response, 409, "CONFLICT")["message"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"patient_id"}),
        ({"type": "in_person"}, {"patient_id"}),
        ({"appointment_id": str(UNKNOWN), "patient_id": str(UNKNOWN)}, {"patient_id"}),
        (
            {"appointment_id": str(UNKNOWN), "type": "video", "chief_complaint": "x"},
            {"type", "chief_complaint"},
        ),
        ({"patient_id": "not-a-uuid"}, {"patient_id"}),
        ({"patient_id": str(UNKNOWN), "type": "phone"}, {"type"}),
        ({"patient_id": str(UNKNOWN), "chief_complaint": ""}, {"chief_complaint"}),
        ({"patient_id": str(UNKNOWN), "scheduled_at": "tomorrow"}, {"scheduled_at"}),
        ({"patient_id": str(UNKNOWN), "diagnosis": "flu"}, {"diagnosis"}),
    ],
)
async def test_bad_input_is_refused_with_details(
    client: httpx.AsyncClient, clinic: Clinic, body: dict[str, str], fields: set[str]
) -> None:
    response = await client.post(CONSULTATIONS, json=body, headers=clinic.doctor.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields=fields)


async def test_the_appointments_consultation_is_created_201_then_read_200(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    appointment = await make_appointment(factory.database, clinic.chart, clinic.doctor)
    first = await client.post(
        CONSULTATIONS, json={"appointment_id": str(appointment.id)}, headers=clinic.doctor.headers
    )
    assert first.status_code == 201
    assert first.json()["message"] == "Consultation created"
    second = await client.post(
        CONSULTATIONS, json={"appointment_id": str(appointment.id)}, headers=clinic.doctor.headers
    )
    assert data(second)["id"] == data(first, 201)["id"]
