"""GET /consultations (the organization's for its doctors, a patient's own across
organizations), GET /consultations/{id} (audited) and MedConnect's
GET /doctors/medical-visits (the calling doctor's)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.consultations.helpers import (
    CONSULTATIONS,
    MEDICAL_VISITS,
    UNKNOWN,
    AdminSql,
    Clinic,
    ad_hoc,
    audit_count,
    delete_chart,
    make_chart,
    put,
)
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory


async def listed(
    client: httpx.AsyncClient, account: Account, path: str = CONSULTATIONS, **params: Any
) -> dict[str, Any]:
    result: dict[str, Any] = data(await client.get(path, params=params, headers=account.headers))
    return result


def ids(page: dict[str, Any]) -> set[str]:
    return {item["id"] for item in page["consultations"]}


# The list


async def test_doctors_list_their_organizations_consultations_with_filters(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Two")
    second_chart = await make_chart(factory.database, clinic.id, first_name="Sam")
    mine = await ad_hoc(client, clinic.doctor, clinic.chart, scheduled_at="2026-01-10T09:00:00Z")
    theirs = await ad_hoc(
        client, colleague, second_chart, type="video", scheduled_at="2026-01-12T09:00:00Z"
    )
    elsewhere = await ad_hoc(client, other_clinic.doctor, other_clinic.chart)
    data(await put(client, clinic.doctor, mine["id"], status="in_progress"))

    page = await listed(client, clinic.doctor)
    assert ids(page) == {mine["id"], theirs["id"]}
    assert elsewhere["id"] not in ids(page)
    assert page["pagination"] == {"page": 1, "limit": 20, "total": 2, "total_pages": 1}
    # Newest first by default.
    assert [c["id"] for c in page["consultations"]] == [theirs["id"], mine["id"]]
    ascending = await listed(client, clinic.doctor, order="asc")
    assert [c["id"] for c in ascending["consultations"]] == [mine["id"], theirs["id"]]

    assert ids(await listed(client, clinic.doctor, patient_id=str(second_chart.id))) == {
        theirs["id"]
    }
    assert ids(await listed(client, clinic.doctor, doctor_id=str(clinic.doctor.id))) == {mine["id"]}
    assert ids(await listed(client, clinic.doctor, status="in_progress")) == {mine["id"]}
    assert ids(await listed(client, clinic.doctor, **{"from": "2026-01-11"})) == {theirs["id"]}
    assert ids(await listed(client, clinic.doctor, to="2026-01-10")) == {mine["id"]}
    assert ids(
        await listed(client, clinic.doctor, **{"from": "2026-01-10", "to": "2026-01-12"})
    ) == {mine["id"], theirs["id"]}
    paged = await listed(client, clinic.doctor, limit=1, page=2)
    assert [c["id"] for c in paged["consultations"]] == [mine["id"]]
    assert paged["pagination"]["total_pages"] == 2


async def test_a_patient_lists_their_own_across_organizations_and_nothing_else(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    # The same person has a chart at the second organization too.
    their_second_chart = await make_chart(
        factory.database, other_clinic.id, user_id=clinic.patient.id
    )
    here = await ad_hoc(client, clinic.doctor, clinic.chart)
    there = await ad_hoc(client, other_clinic.doctor, their_second_chart)
    someone_else = await ad_hoc(client, other_clinic.doctor, other_clinic.chart)

    page = await listed(client, clinic.patient)
    assert ids(page) == {here["id"], there["id"]}
    assert someone_else["id"] not in ids(page)
    assert ids(await listed(client, clinic.patient, patient_id=str(their_second_chart.id))) == {
        there["id"]
    }
    # Another patient's chart, named in the filter, shows nothing.
    assert ids(await listed(client, clinic.patient, patient_id=str(other_clinic.chart.id))) == set()


async def test_a_deleted_charts_consultations_leave_the_list(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    await delete_chart(factory.database, clinic.chart.id)
    assert ids(await listed(client, clinic.doctor)) == set()
    response = await client.get(f"{CONSULTATIONS}/{made['id']}", headers=clinic.doctor.headers)
    assert_error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "10/01/2026"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"status": "done"}, "status"),
        ({"patient_id": "42"}, "patient_id"),
        ({"sort": "diagnosis"}, "sort"),
        ({"limit": "500"}, "limit"),
    ],
)
async def test_bad_list_parameters_are_refused_with_details(
    client: httpx.AsyncClient, clinic: Clinic, params: dict[str, str], field: str
) -> None:
    response = await client.get(CONSULTATIONS, params=params, headers=clinic.doctor.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_every_list_read_is_audited_with_the_charts_it_showed(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    await ad_hoc(client, clinic.doctor, clinic.chart)
    await listed(client, clinic.doctor)
    await listed(client, clinic.patient)
    rows = admin_sql(
        "SELECT user_id, organization_id, metadata FROM activity_logs"
        " WHERE action = 'consultation.list' ORDER BY created_at, id"
    )
    assert [(row[0], row[1]) for row in rows] == [
        (clinic.doctor.id, clinic.id),
        # A patient belongs to no organization: their rows name none.
        (clinic.patient.id, None),
    ]
    for _, _, metadata in rows:
        assert metadata["patient_ids"] == [str(clinic.chart.id)]
        assert metadata["count"] == 1


# One consultation


async def test_a_read_is_audited_every_time(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart, chief_complaint="Headache")
    url = f"{CONSULTATIONS}/{made['id']}"
    read = data(await client.get(url, headers=clinic.doctor.headers))
    assert read == made
    assert audit_count(admin_sql, "consultation.read", made["id"]) == 1
    as_patient = data(await client.get(url, headers=clinic.patient.headers))
    assert as_patient["chief_complaint"] == "Headache"
    assert audit_count(admin_sql, "consultation.read", made["id"]) == 2
    rows = admin_sql(
        "SELECT user_id, organization_id, entity_type, metadata FROM activity_logs"
        " WHERE action = 'consultation.read' ORDER BY created_at, id"
    )
    assert [row[:3] for row in rows] == [
        (clinic.doctor.id, clinic.id, "consultation"),
        (clinic.patient.id, None, "consultation"),
    ]
    assert rows[1][3] == {"patient_id": str(clinic.chart.id), "organization_id": str(clinic.id)}


async def test_others_consultations_are_not_found(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    url = f"{CONSULTATIONS}/{made['id']}"
    stranger = await factory.user("patient")
    for account in (other_clinic.doctor, other_clinic.patient, stranger):
        assert_error(await client.get(url, headers=account.headers), 404, "NOT_FOUND")
    assert_error(
        await client.get(f"{CONSULTATIONS}/{UNKNOWN}", headers=clinic.doctor.headers),
        404,
        "NOT_FOUND",
    )
    response = await client.get(f"{CONSULTATIONS}/not-an-id", headers=clinic.doctor.headers)
    assert_error(response, 400, "VALIDATION_ERROR", "consultation_id")


# MedConnect's medical visits


async def test_medical_visits_are_the_calling_doctors_own(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Two")
    second_chart = await make_chart(factory.database, clinic.id, first_name="Sam")
    first = await ad_hoc(client, clinic.doctor, clinic.chart, scheduled_at="2026-03-01T08:00:00Z")
    second = await ad_hoc(client, clinic.doctor, second_chart, scheduled_at="2026-03-05T08:00:00Z")
    await ad_hoc(client, colleague, clinic.chart)

    page = await listed(client, clinic.doctor, MEDICAL_VISITS)
    # The same items as /consultations, one page shape.
    assert [c["id"] for c in page["consultations"]] == [second["id"], first["id"]]
    assert page["consultations"][1] == first
    assert page["pagination"]["total"] == 2
    filtered = await listed(client, clinic.doctor, MEDICAL_VISITS, patient_id=str(second_chart.id))
    assert ids(filtered) == {second["id"]}
    assert ids(await listed(client, clinic.doctor, MEDICAL_VISITS, to="2026-03-02")) == {
        first["id"]
    }
    assert len(ids(await listed(client, colleague, MEDICAL_VISITS))) == 1


async def test_medical_visits_is_not_read_as_a_doctors_id(client: httpx.AsyncClient) -> None:
    # /doctors/{doctor_id} would answer 400 (not a UUID) if it took this path.
    assert_error(await client.get(MEDICAL_VISITS), 401, "AUTHENTICATION_ERROR")
    response = await client.post(MEDICAL_VISITS)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


async def test_medical_visits_are_for_doctors_only(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    for account in (clinic.patient, clinic.admin):
        response = await client.get(MEDICAL_VISITS, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_bad_medical_visit_filters_are_refused_with_details(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    response = await client.get(
        MEDICAL_VISITS, params={"from": "2026-13-01"}, headers=clinic.doctor.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", "from")
