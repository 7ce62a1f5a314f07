"""Medical records under /patients/{id}/records: doctors of the chart's organization
write and read, the patient reads their own; every read is audited, content is
encrypted at rest, DELETE is soft."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.consultations.helpers import (
    UNKNOWN,
    AdminSql,
    Clinic,
    ad_hoc,
    audit_count,
    delete_chart,
    make_chart,
    records_of,
)
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory

LAB: dict[str, Any] = {
    "kind": "lab_result",
    "recorded_on": "2026-01-15",
    "title": "HbA1c",
    "content": "Glycated haemoglobin slightly raised: Quokka-secret-finding.",
    "data": {"value": 6.1, "unit": "%"},
}


def tomorrow_everywhere() -> str:
    """A date that is not yet today anywhere on earth."""
    return ((datetime.now(UTC) + timedelta(hours=14)).date() + timedelta(days=1)).isoformat()


async def add(
    client: httpx.AsyncClient, doctor: Account, clinic: Clinic, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        records_of(clinic.chart.id), json={**LAB, **overrides}, headers=doctor.headers
    )
    result: dict[str, Any] = data(response, 201)
    return result


def url(clinic: Clinic, record: dict[str, Any]) -> str:
    return f"{records_of(clinic.chart.id)}/{record['id']}"


async def test_a_doctor_adds_a_record_and_both_read_it(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    record = await add(client, clinic.doctor, clinic)
    assert record["kind"] == "lab_result"
    assert record["recorded_on"] == "2026-01-15"
    assert record["data"] == {"value": 6.1, "unit": "%"}
    assert record["patient_id"] == str(clinic.chart.id)
    assert record["organization_id"] == str(clinic.id)
    assert record["author_id"] == str(clinic.doctor.id)
    assert record["consultation_id"] is None
    # A single read also lists the record's files (none yet).
    detail = {**record, "files": []}
    assert data(await client.get(url(clinic, record), headers=clinic.doctor.headers)) == detail
    assert data(await client.get(url(clinic, record), headers=clinic.patient.headers)) == detail
    assert audit_count(admin_sql, "medical_record.created", record["id"]) == 1
    assert audit_count(admin_sql, "medical_record.read", record["id"]) == 2
    rows = admin_sql(
        "SELECT user_id, organization_id, metadata FROM activity_logs"
        " WHERE action = 'medical_record.read' ORDER BY created_at, id"
    )
    assert [(row[0], row[1]) for row in rows] == [
        (clinic.doctor.id, clinic.id),
        (clinic.patient.id, None),
    ]
    assert rows[0][2]["patient_id"] == str(clinic.chart.id)
    assert "Quokka" not in str(rows)


async def test_record_content_is_encrypted_at_rest(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    record = await add(client, clinic.doctor, clinic)
    title, content, extras = admin_sql(
        "SELECT title, content, data FROM medical_records WHERE id = %s", [record["id"]]
    )[0]
    stored = bytes(title) + bytes(content) + bytes(extras)
    for plaintext in (b"HbA1c", b"Quokka-secret-finding", b"unit"):
        assert plaintext not in stored


async def test_the_list_filters_pages_and_is_audited(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    old = await add(client, clinic.doctor, clinic, kind="allergy", recorded_on="2020-03-01")
    mid = await add(client, clinic.doctor, clinic, recorded_on="2025-06-30")
    new = await add(client, clinic.doctor, clinic, kind="note", recorded_on="2026-02-01")
    other_chart = await make_chart(factory.database, clinic.id, first_name="Sam")
    await client.post(records_of(other_chart.id), json=LAB, headers=clinic.doctor.headers)

    async def ids(account: Account = clinic.doctor, **params: Any) -> list[str]:
        response = await client.get(
            records_of(clinic.chart.id), params=params, headers=account.headers
        )
        return [r["id"] for r in data(response)["records"]]

    # Newest history first.
    assert await ids() == [new["id"], mid["id"], old["id"]]
    assert await ids(clinic.patient) == [new["id"], mid["id"], old["id"]]
    assert await ids(kind="allergy") == [old["id"]]
    assert await ids(**{"from": "2025-06-30"}) == [new["id"], mid["id"]]
    assert await ids(to="2025-06-30") == [mid["id"], old["id"]]
    assert await ids(limit=1, page=3) == [old["id"]]
    page = data(await client.get(records_of(clinic.chart.id), headers=clinic.doctor.headers))
    assert page["pagination"] == {"page": 1, "limit": 20, "total": 3, "total_pages": 1}
    rows = admin_sql(
        "SELECT entity_type, entity_id FROM activity_logs WHERE action = 'medical_record.list'"
    )
    assert len(rows) == 7
    assert set(rows) == {("patient", clinic.chart.id)}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "x_ray"}, "kind"),
        ({"from": "2026-1-1"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"page": "0"}, "page"),
    ],
)
async def test_bad_list_parameters_are_refused_with_details(
    client: httpx.AsyncClient, clinic: Clinic, params: dict[str, str], field: str
) -> None:
    response = await client.get(
        records_of(clinic.chart.id), params=params, headers=clinic.doctor.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "x_ray"}, "kind"),
        ({"kind": None}, "kind"),
        ({"recorded_on": "yesterday"}, "recorded_on"),
        ({"recorded_on": tomorrow_everywhere()}, "recorded_on"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"data": {"blob": "x" * 10_001}}, "data"),
        ({"data": ["not", "an", "object"]}, "data"),
        ({"consultation_id": "nope"}, "consultation_id"),
        ({"author_id": str(UNKNOWN)}, "author_id"),
    ],
)
async def test_bad_records_are_refused_with_details(
    client: httpx.AsyncClient, clinic: Clinic, body: dict[str, Any], field: str
) -> None:
    response = await client.post(
        records_of(clinic.chart.id), json={**LAB, **body}, headers=clinic.doctor.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", field)
    missing = await client.post(
        records_of(clinic.chart.id), json={"kind": "note"}, headers=clinic.doctor.headers
    )
    assert_error(missing, 400, "VALIDATION_ERROR", fields={"recorded_on", "title"})


async def test_today_is_not_the_future(client: httpx.AsyncClient, clinic: Clinic) -> None:
    today = date.today().isoformat()  # noqa: DTZ011 - any zone's today is accepted
    assert (await add(client, clinic.doctor, clinic, recorded_on=today))["recorded_on"] == today


async def test_a_record_cites_a_consultation_of_its_own_chart_only(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    consultation = await ad_hoc(client, clinic.doctor, clinic.chart)
    cited = await add(client, clinic.doctor, clinic, consultation_id=consultation["id"])
    assert cited["consultation_id"] == consultation["id"]

    other_chart = await make_chart(factory.database, clinic.id)
    neighbours = await ad_hoc(client, clinic.doctor, other_chart)
    elsewhere = await ad_hoc(client, other_clinic.doctor, other_clinic.chart)
    for consultation_id in (neighbours["id"], elsewhere["id"], str(UNKNOWN)):
        response = await client.post(
            records_of(clinic.chart.id),
            json={**LAB, "consultation_id": consultation_id},
            headers=clinic.doctor.headers,
        )
        assert_error(response, 400, "VALIDATION_ERROR", "consultation_id")
        changed = await client.put(
            url(clinic, cited),
            json={"consultation_id": consultation_id},
            headers=clinic.doctor.headers,
        )
        assert_error(changed, 400, "VALIDATION_ERROR", "consultation_id")


async def test_a_doctor_changes_a_record(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    record = await add(client, clinic.doctor, clinic)
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Two")
    changed = data(
        await client.put(
            url(clinic, record),
            json={"title": "HbA1c (repeat)", "content": None, "kind": "note"},
            headers=colleague.headers,
        )
    )
    assert (changed["title"], changed["content"], changed["kind"]) == (
        "HbA1c (repeat)",
        None,
        "note",
    )
    assert changed["data"] == LAB["data"]
    rows = admin_sql(
        "SELECT metadata FROM activity_logs WHERE action = 'medical_record.updated'"
        " AND entity_id = %s",
        [record["id"]],
    )
    assert rows[0][0]["fields"] == ["content", "kind", "title"]
    for body, field in (({"title": None}, "title"), ({"recorded_on": None}, "recorded_on")):
        response = await client.put(url(clinic, record), json=body, headers=clinic.doctor.headers)
        assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_delete_is_soft(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    record = await add(client, clinic.doctor, clinic)
    deleted = await client.delete(url(clinic, record), headers=clinic.doctor.headers)
    assert data(deleted) is None
    assert deleted.json()["message"] == "Medical record deleted"
    for method in ("GET", "DELETE"):
        response = await client.request(method, url(clinic, record), headers=clinic.doctor.headers)
        assert_error(response, 404, "NOT_FOUND")
    response = await client.put(
        url(clinic, record), json={"title": "x"}, headers=clinic.doctor.headers
    )
    assert_error(response, 404, "NOT_FOUND")
    listed = data(await client.get(records_of(clinic.chart.id), headers=clinic.patient.headers))
    assert listed["records"] == []
    # Still in the database: when it was removed, and by whom.
    rows = admin_sql(
        "SELECT deleted_at, deleted_by FROM medical_records WHERE id = %s", [record["id"]]
    )
    assert rows[0][0] is not None
    assert rows[0][1] == clinic.doctor.id
    assert audit_count(admin_sql, "medical_record.deleted", record["id"]) == 1


async def test_other_charts_and_their_records_are_not_found(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    record = await add(client, clinic.doctor, clinic)
    stranger = await factory.user("patient")
    for account in (other_clinic.doctor, other_clinic.patient, stranger):
        for response in (
            await client.get(records_of(clinic.chart.id), headers=account.headers),
            await client.get(url(clinic, record), headers=account.headers),
        ):
            assert_error(response, 404, "NOT_FOUND")
    for response in (
        await client.post(
            records_of(clinic.chart.id), json=LAB, headers=other_clinic.doctor.headers
        ),
        await client.put(
            url(clinic, record), json={"title": "x"}, headers=other_clinic.doctor.headers
        ),
        await client.delete(url(clinic, record), headers=other_clinic.doctor.headers),
        await client.get(records_of(UNKNOWN), headers=clinic.doctor.headers),
        await client.get(f"{records_of(clinic.chart.id)}/{UNKNOWN}", headers=clinic.doctor.headers),
    ):
        assert_error(response, 404, "NOT_FOUND")
    # A record is reached through its own chart only.
    other_chart = await make_chart(factory.database, clinic.id)
    response = await client.get(
        f"{records_of(other_chart.id)}/{record['id']}", headers=clinic.doctor.headers
    )
    assert_error(response, 404, "NOT_FOUND")


async def test_a_deleted_charts_records_are_not_found(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    record = await add(client, clinic.doctor, clinic)
    await delete_chart(factory.database, clinic.chart.id)
    for account in (clinic.doctor, clinic.patient):
        assert_error(
            await client.get(url(clinic, record), headers=account.headers), 404, "NOT_FOUND"
        )


# Who may ask at all


async def _account(factory: Factory, clinic: Clinic, who: str) -> Account:
    if who == "admin":
        return clinic.admin
    if who == "super_admin":
        return await factory.user("super_admin")
    if who == "pharmacist":
        pharmacy = await factory.organization("pharmacy")
        return await factory.user("pharmacist", organization_id=pharmacy.id)
    if who == "unapproved_doctor":
        return await factory.user("doctor", organization_id=clinic.id, approved=False)
    raise AssertionError(who)


def _calls(clinic: Clinic, record: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [
        ("GET", records_of(clinic.chart.id), None),
        ("POST", records_of(clinic.chart.id), LAB),
        ("GET", url(clinic, record), None),
        ("PUT", url(clinic, record), {"title": "x"}),
        ("DELETE", url(clinic, record), None),
    ]


@pytest.mark.parametrize("who", ["admin", "super_admin", "pharmacist", "unapproved_doctor"])
async def test_the_wrong_callers_are_refused(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, who: str
) -> None:
    record = await add(client, clinic.doctor, clinic)
    account = await _account(factory, clinic, who)
    for method, path, body in _calls(clinic, record):
        response = await client.request(method, path, json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_anonymous_callers_are_asked_to_authenticate(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    record = await add(client, clinic.doctor, clinic)
    for method, path, body in _calls(clinic, record):
        response = await client.request(method, path, json=body)
        assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_patients_read_but_do_not_write(client: httpx.AsyncClient, clinic: Clinic) -> None:
    record = await add(client, clinic.doctor, clinic)
    writes = [call for call in _calls(clinic, record) if call[0] != "GET"]
    for method, path, body in writes:
        response = await client.request(method, path, json=body, headers=clinic.patient.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
