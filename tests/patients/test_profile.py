"""`GET/PUT /patients/profile`: the patient's own data, and the organizations holding a
chart linked to them. `profile` (and `claim`) are never read as a chart id."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest

from medhub.kit.db import Database
from tests.assertions import assert_error
from tests.factories import Factory
from tests.patients.conftest import Tenant
from tests.patients.helpers import CLAIM, PATIENTS, PROFILE, AdminSql, create_chart, data
from tests.patients.test_service_api import booked_chart

EMPTY: dict[str, object] = {
    "date_of_birth": None,
    "sex": None,
    "timezone": "UTC",
    "phone": None,
    "emergency_contact": None,
    "allergies": None,
    "charts": [],
    "updated_at": None,
}


async def test_a_new_patient_reads_defaults_and_saves_only_what_they_send(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    patient = await factory.user("patient")
    assert data(await client.get(PROFILE, headers=patient.headers)) == EMPTY
    assert admin_sql("SELECT count(*) FROM patient_profiles") == [(0,)]  # a read writes nothing

    first = data(
        await client.put(
            PROFILE,
            json={
                "date_of_birth": "1990-05-17",
                "timezone": "Europe/Berlin",
                "phone": "+1 555 0100 22",
            },
            headers=patient.headers,
        )
    )
    assert first["date_of_birth"] == "1990-05-17"
    assert first["timezone"] == "Europe/Berlin"
    assert first["sex"] is None
    assert first["updated_at"] is not None

    second = data(
        await client.put(
            PROFILE,
            json={
                "sex": "female",
                "phone": None,
                "emergency_contact": {"name": "Bob Lee", "phone": "+1 617 555 0100"},
                "allergies": ["peanuts"],
            },
            headers=patient.headers,
        )
    )
    assert second == {
        "date_of_birth": "1990-05-17",
        "sex": "female",
        "timezone": "Europe/Berlin",
        "phone": None,
        "emergency_contact": {"name": "Bob Lee", "relationship": None, "phone": "+1 617 555 0100"},
        "allergies": ["peanuts"],
        "charts": [],
        "updated_at": second["updated_at"],
    }
    assert second["updated_at"] > first["updated_at"]
    assert data(await client.get(PROFILE, headers=patient.headers)) == second
    audited = admin_sql(
        "SELECT metadata FROM activity_logs WHERE action = 'patient_profile.updated'"
        " AND entity_id = %s ORDER BY created_at",
        [patient.id],
    )
    assert audited == [
        ({"fields": ["date_of_birth", "phone", "timezone"]},),
        ({"fields": ["allergies", "emergency_contact", "phone", "sex"]},),
    ]


async def test_the_profile_feeds_the_chart_made_on_first_booking(
    client: httpx.AsyncClient, database: Database, factory: Factory, hospital: Tenant
) -> None:
    patient = await factory.user("patient", full_name="Ann Lee")
    data(
        await client.put(
            PROFILE, json={"date_of_birth": "1990-05-17", "sex": "female"}, headers=patient.headers
        )
    )

    chart = await booked_chart(database, patient, hospital.id)

    assert chart.date_of_birth == date(1990, 5, 17)
    charts = data(await client.get(PROFILE, headers=patient.headers))["charts"]
    assert charts == [
        {
            "patient_id": str(chart.id),
            "organization_id": str(hospital.id),
            "organization_name": hospital.organization.name,
            "mrn": chart.mrn,
        }
    ]


async def test_charts_lists_only_the_callers_live_linked_charts(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, other_hospital: Tenant
) -> None:
    patient = await factory.user("patient")
    other = await factory.user("patient")
    ours = await create_chart(client, hospital.admin.headers, email=patient.email)
    theirs = await create_chart(client, other_hospital.admin.headers, email=patient.email)
    await create_chart(client, hospital.admin.headers, email=other.email)

    charts = data(await client.get(PROFILE, headers=patient.headers))["charts"]
    assert sorted(c["patient_id"] for c in charts) == sorted([ours["id"], theirs["id"]])
    assert {c["organization_name"] for c in charts} == {
        hospital.organization.name,
        other_hospital.organization.name,
    }

    data(await client.delete(f"{PATIENTS}/{theirs['id']}", headers=other_hospital.admin.headers))
    charts = data(await client.get(PROFILE, headers=patient.headers))["charts"]
    assert [c["patient_id"] for c in charts] == [ours["id"]]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"timezone": "Mars/Olympus"}, {"timezone"}),
        ({"timezone": None}, {"timezone"}),
        ({"date_of_birth": "2999-12-31"}, {"date_of_birth"}),
        ({"date_of_birth": 19900517}, {"date_of_birth"}),
        ({"sex": "sometimes"}, {"sex"}),
        ({"phone": "12"}, {"phone"}),
        ({"emergency_contact": {"phone": "+1 617 555 0100"}}, {"emergency_contact.name"}),
        ({"allergies": ["ok", ""]}, {"allergies.1"}),
        ({"allergies": ["x"] * 51}, {"allergies"}),
        ({"mrn": "MRN-1"}, {"mrn"}),
    ],
)
async def test_bad_profiles_are_refused_with_the_fields_named(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, object], fields: set[str]
) -> None:
    patient = await factory.user("patient")
    response = await client.put(PROFILE, json=body, headers=patient.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields=fields)


async def test_only_patients_have_a_profile(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    for method in ("GET", "PUT"):
        response = await client.request(method, PROFILE, json={"sex": "male"})
        assert_error(response, 401, "AUTHENTICATION_ERROR")
    pharmacist = await factory.user("pharmacist", organization_id=hospital.id)
    others = [
        hospital.admin,
        hospital.doctor,
        pharmacist,
        await factory.user("customer"),
        await factory.user("super_admin"),
    ]
    for caller in others:
        for method in ("GET", "PUT"):
            response = await client.request(
                method, PROFILE, json={"sex": "male"}, headers=caller.headers
            )
            # Not read as `/patients/{patient_id}` (that would be a 400 on the id).
            assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_literal_paths_are_not_taken_for_a_chart_id(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    patient = await factory.user("patient")
    # Methods the literal paths do not serve are 405s, not chart routes' 400s.
    for method, path, allow in [
        ("DELETE", PROFILE, "GET, PUT"),
        ("POST", PROFILE, "GET, PUT"),
        ("GET", CLAIM, "POST"),
        ("PUT", CLAIM, "POST"),
        ("DELETE", CLAIM, "POST"),
    ]:
        for caller in (patient, hospital.admin):
            response = await client.request(method, path, headers=caller.headers)
            assert_error(response, 405, "METHOD_NOT_ALLOWED")
            assert response.headers["allow"] == allow
    # A real id still reaches the chart routes.
    chart = await create_chart(client, hospital.admin.headers)
    data(await client.get(f"{PATIENTS}/{chart['id']}", headers=hospital.admin.headers))
    assert_error(
        await client.get(f"{PATIENTS}/{uuid.uuid4()}", headers=hospital.admin.headers), 404
    )
