"""GET /patients/me/access-log: who read or changed the patient's charts and their
clinical content, across organizations, from the audit log; never another patient's
rows, never an address or device; the patient's own actions marked `is_self`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from medhub.kit.tenancy import set_tenant_context
from tests.assertions import assert_error
from tests.consultations.helpers import (
    AdminSql,
    delete_chart,
    make_appointment,
    make_chart,
)
from tests.doctors.helpers import data
from tests.factories import Account, Factory
from tests.records.helpers import (
    ACCESS_LOG,
    API,
    MEDICAL_HISTORY,
    TwoCharts,
    consultation,
    otp_token,
    patient_at_two_practices,
    record,
    with_otp,
)

ENTRY_KEYS = {
    "occurred_at",
    "action",
    "entity_type",
    "entity_id",
    "actor_kind",
    "actor_name",
    "actor_role",
    "organization_id",
    "organization_name",
    "is_self",
}


async def entries(
    client: httpx.AsyncClient, account: Account, **params: Any
) -> list[dict[str, Any]]:
    page = data(
        await client.get(ACCESS_LOG, params={"limit": 100, **params}, headers=account.headers)
    )
    found: list[dict[str, Any]] = page["entries"]
    return found


def seen(found: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(action, actor name, actor role, organization name, is_self), oldest first."""
    return [
        (e["action"], e["actor_name"], e["actor_role"], e["organization_name"], e["is_self"])
        for e in reversed(found)
    ]


async def accessed(client: httpx.AsyncClient, app: FastAPI, factory: Factory) -> dict[str, Any]:
    """The patient's charts read and written by a doctor at each organization and by
    the first one's admin, an appointment cancelled, the patient's own reads; and
    another patient's chart read beside them."""
    care = await patient_at_two_practices(client, factory)
    first, second = care.first, care.second
    data(await client.get(f"{API}/patients/{care.first_chart.id}", headers=first.doctor.headers))
    data(await client.get(f"{API}/patients/{care.first_chart.id}", headers=first.admin.headers))
    visit = await consultation(client, first.doctor, care.first_chart, diagnosis="Flu")
    data(await client.get(f"{API}/consultations", headers=first.doctor.headers))
    data(
        await client.get(
            f"{API}/doctors/patients/{care.second_chart.id}", headers=second.doctor.headers
        )
    )
    scan = await record(client, second.doctor, care.second_chart, kind="imaging", title="X-ray")
    records = f"{API}/patients/{care.second_chart.id}/records"
    data(await client.get(f"{records}/{scan['id']}", headers=care.patient.headers))
    appointment = await make_appointment(factory.database, care.second_chart, second.doctor)
    data(await client.delete(f"{API}/appointments/{appointment.id}", headers=second.doctor.headers))
    # Another patient at the first organization, read by the same doctor.
    stranger = await factory.user("patient", full_name="Other Person")
    stranger_chart = await make_chart(factory.database, first.id, user_id=stranger.id)
    data(await client.get(f"{API}/patients/{stranger_chart.id}", headers=first.doctor.headers))
    return {"care": care, "visit": visit, "scan": scan, "stranger": stranger, "app": app}


async def test_the_patient_sees_who_read_and_changed_their_charts(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    made = await accessed(client, app, factory)
    care: TwoCharts = made["care"]
    first, second = care.first, care.second
    found = await entries(client, care.patient)
    for entry in found:
        assert set(entry) == ENTRY_KEYS
    times = [entry["occurred_at"] for entry in found]
    assert times == sorted(times, reverse=True)
    assert seen(found) == [
        ("patient.read", "Dr. Hana Ito", "doctor", first.name, False),
        ("patient.read", "Northside Hospital Admin", "admin", first.name, False),
        ("consultation.created", "Dr. Hana Ito", "doctor", first.name, False),
        ("consultation.updated", "Dr. Hana Ito", "doctor", first.name, False),
        ("consultation.list", "Dr. Hana Ito", "doctor", first.name, False),
        ("patient.read", "Dr. Omar Reyes", "doctor", second.name, False),
        ("medical_record.created", "Dr. Omar Reyes", "doctor", second.name, False),
        # The patient's own read: their organization is the chart's.
        ("medical_record.read", "Mia Chen", "patient", second.name, True),
        ("appointment.cancelled", "Dr. Omar Reyes", "doctor", second.name, False),
    ]
    by_action = {entry["action"]: entry for entry in found}
    assert by_action["consultation.created"]["entity_id"] == made["visit"]["id"]
    assert by_action["medical_record.read"]["entity_id"] == made["scan"]["id"]
    assert by_action["patient.read"]["organization_id"] == str(first.id)
    assert all(entry["actor_kind"] == "user" for entry in found)
    # Nothing about the other patient's chart, and they see only their own.
    theirs = await entries(client, made["stranger"])
    assert seen(theirs) == [("patient.read", "Dr. Hana Ito", "doctor", first.name, False)]


async def test_the_medical_history_read_is_listed_as_the_patients_own(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    care = await patient_at_two_practices(client, factory)
    token = await otp_token(client, app, care.patient)
    data(await client.get(MEDICAL_HISTORY, headers=with_otp(care.patient, token)))
    [entry] = await entries(client, care.patient)
    assert entry["action"] == "medical_history.read"
    assert (entry["actor_name"], entry["actor_role"], entry["is_self"]) == (
        "Mia Chen",
        "patient",
        True,
    )
    # It spans organizations: none in particular.
    assert (entry["organization_id"], entry["organization_name"]) == (None, None)


async def test_paging_and_filters(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    made = await accessed(client, app, factory)
    care: TwoCharts = made["care"]
    everything = await entries(client, care.patient)
    assert len(everything) == 9

    page = data(
        await client.get(ACCESS_LOG, params={"limit": 4, "page": 2}, headers=care.patient.headers)
    )
    assert page["pagination"] == {"page": 2, "limit": 4, "total": 9, "total_pages": 3}
    assert page["entries"] == everything[4:8]
    beyond = data(
        await client.get(ACCESS_LOG, params={"page": 5, "limit": 4}, headers=care.patient.headers)
    )
    assert beyond["entries"] == []
    assert beyond["pagination"]["total"] == 9

    reads = await entries(client, care.patient, action="patient.read")
    assert [e["actor_role"] for e in reads] == ["doctor", "admin", "doctor"]
    assert await entries(client, care.patient, action="nothing.like.this") == []

    middle = everything[4]["occurred_at"]
    assert await entries(client, care.patient, to=middle) == everything[4:]
    assert await entries(client, care.patient, **{"from": middle}) == everything[:5]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await entries(client, care.patient, **{"from": tomorrow}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ({"action": "x" * 101}, "action"),
        ({"limit": "101"}, "limit"),
    ],
)
async def test_bad_parameters_are_refused_with_details(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, str], field: str
) -> None:
    patient = await factory.user("patient")
    response = await client.get(ACCESS_LOG, params=params, headers=patient.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_a_deleted_chart_leaves_the_log(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    made = await accessed(client, app, factory)
    care: TwoCharts = made["care"]
    await delete_chart(factory.database, care.second_chart.id)
    found = await entries(client, care.patient)
    assert {entry["organization_name"] for entry in found} == {care.first.name}


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(ACCESS_LOG), 401, "AUTHENTICATION_ERROR")


async def test_only_patients_have_an_access_log(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    care = await patient_at_two_practices(client, factory)
    pharmacy = await factory.organization("pharmacy")
    for account in (
        care.first.doctor,
        care.first.admin,
        await factory.user("pharmacist", organization_id=pharmacy.id),
        await factory.user("super_admin"),
    ):
        response = await client.get(ACCESS_LOG, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_the_path_is_not_read_as_a_chart_id(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    care = await patient_at_two_practices(client, factory)
    assert data(await client.get(ACCESS_LOG, headers=care.patient.headers))["entries"] == []
    for method in ("PUT", "DELETE", "POST"):
        response = await client.request(method, ACCESS_LOG, headers=care.patient.headers)
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
    chart = f"{API}/patients/{care.first_chart.id}"
    assert data(await client.get(chart, headers=care.first.doctor.headers))["id"] == str(
        care.first_chart.id
    )


async def test_the_database_window_answers_for_the_callers_own_charts_only(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    """The function behind the route, as the application's role: nothing without a
    patient in the context, and no address or device in what it returns."""
    made = await accessed(client, app, factory)
    care: TwoCharts = made["care"]
    # The rows do hold addresses and devices (the window returns neither).
    traced = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE ip_address IS NOT NULL AND user_agent IS NOT NULL"
    )
    assert traced[0][0] > 0
    query = text("SELECT * FROM patient_access_log(NULL, NULL, NULL, 100, 0)")
    for user_id, organization_id, role, expected in (
        (None, None, "patient", 0),
        (care.first.doctor.id, care.first.id, "doctor", 0),
        (care.first.admin.id, care.first.id, "admin", 0),
        (care.patient.id, None, "patient", 9),
    ):
        async with factory.database.unit_of_work() as session:
            await set_tenant_context(
                session, user_id=user_id, organization_id=organization_id, role=role
            )
            result = await session.execute(query)
            rows = result.mappings().all()
            assert len(rows) == expected, role
            assert set(result.keys()) == ENTRY_KEYS | {"total"}
    # The application role reads the log only through the window: a patient's own
    # context shows none of the doctors' rows directly.
    async with factory.database.unit_of_work() as session:
        await set_tenant_context(
            session, user_id=care.patient.id, organization_id=None, role="patient"
        )
        direct = await session.execute(
            text("SELECT count(*) FROM activity_logs WHERE user_id <> :me"), {"me": care.patient.id}
        )
        assert direct.scalar_one() == 0
