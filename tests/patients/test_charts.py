"""MedFlow's `/patients` and MedConnect's `/doctors/patients`: one chart service, for the
organization's admins and approved doctors; every read of a chart and every write
audited; deleted charts gone until an admin restores them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.factories import Account, Factory
from tests.patients.conftest import Tenant
from tests.patients.helpers import (
    DOCTOR_PATIENTS,
    PATIENTS,
    UNKNOWN,
    AdminSql,
    chart_body,
    create_chart,
    data,
    full_chart_body,
)

API_DOCTORS = "/api/v1/doctors"
AuditRows = Callable[[uuid.UUID], list[tuple[Any, ...]]]
PHI_VALUES = ("Ann", "Lee", "1980-04-02", "5550", "NID", "Penicillin", "Harbor")


def assert_no_phi(metadata: dict[str, Any]) -> None:
    text = repr(metadata)
    for value in PHI_VALUES:
        assert value not in text, metadata


async def test_a_doctor_registers_reads_and_updates_a_chart_with_every_field(
    client: httpx.AsyncClient, hospital: Tenant, audit_rows: AuditRows
) -> None:
    body = full_chart_body()
    chart = data(await client.post(PATIENTS, json=body, headers=hospital.doctor.headers), 201)

    assert chart["mrn"] == "MRN-000001"
    assert chart["organization_id"] == str(hospital.id)
    for field in (
        "first_name",
        "last_name",
        "date_of_birth",
        "sex",
        "email",
        "phone",
        "national_id",
        "insurance_number",
        "emergency_contact",
        "blood_type",
        "allergies",
        "chronic_conditions",
    ):
        assert chart[field] == body[field], field
    assert chart["address"] == body["address"]
    assert chart["linked"] is False
    assert chart["user_id"] is None
    assert chart["deleted_at"] is None

    read = data(await client.get(f"{PATIENTS}/{chart['id']}", headers=hospital.doctor.headers))
    assert read == chart

    changed = data(
        await client.put(
            f"{PATIENTS}/{chart['id']}",
            json={"phone": "+49 30 5550-9999", "national_id": None, "last_name": "Lee-Park"},
            headers=hospital.doctor.headers,
        )
    )
    assert changed["phone"] == "+49 30 5550-9999"
    assert changed["national_id"] is None
    assert changed["last_name"] == "Lee-Park"
    assert changed["first_name"] == "Ann"  # not sent, kept
    assert changed["allergies"] == body["allergies"]
    assert changed["updated_at"] > chart["updated_at"]

    rows = audit_rows(uuid.UUID(chart["id"]))
    actions = [action for action, *_ in rows]
    assert actions == ["patient.created", "patient.invited", "patient.read", "patient.updated"]
    for _action, organization_id, user_id, metadata in rows:
        assert organization_id == hospital.id
        assert user_id == hospital.doctor.id
        assert_no_phi(metadata)
    assert rows[-1][3] == {"fields": ["last_name", "national_id", "phone"]}


async def test_admins_manage_demographics_but_never_see_or_write_clinical_fields(
    client: httpx.AsyncClient, hospital: Tenant
) -> None:
    chart = data(
        await client.post(PATIENTS, json=full_chart_body(), headers=hospital.doctor.headers), 201
    )

    as_admin = data(await client.get(f"{PATIENTS}/{chart['id']}", headers=hospital.admin.headers))
    assert "allergies" not in as_admin
    assert "chronic_conditions" not in as_admin
    assert as_admin["national_id"] == chart["national_id"]

    for write in (
        client.post(PATIENTS, json=chart_body(allergies=["x"]), headers=hospital.admin.headers),
        client.put(
            f"{PATIENTS}/{chart['id']}",
            json={"chronic_conditions": None},
            headers=hospital.admin.headers,
        ),
    ):
        assert_error(await write, 403, "AUTHORIZATION_ERROR")

    by_admin = await create_chart(
        client, hospital.admin.headers, first_name="Front", last_name="Desk"
    )
    assert by_admin["mrn"] == "MRN-000002"
    assert "allergies" not in by_admin


async def test_the_medconnect_spelling_is_the_same_service_for_doctors(
    client: httpx.AsyncClient, hospital: Tenant
) -> None:
    chart = await create_chart(client, hospital.doctor.headers, path=DOCTOR_PATIENTS)
    assert chart["mrn"] == "MRN-000001"

    listed = data(await client.get(DOCTOR_PATIENTS, headers=hospital.doctor.headers))
    assert [p["id"] for p in listed["patients"]] == [chart["id"]]
    assert listed["pagination"] == {"page": 1, "limit": 20, "total": 1, "total_pages": 1}

    path = f"{DOCTOR_PATIENTS}/{chart['id']}"
    assert data(await client.get(path, headers=hospital.doctor.headers))["id"] == chart["id"]
    updated = data(await client.put(path, json={"sex": "other"}, headers=hospital.doctor.headers))
    assert updated["sex"] == "other"
    # The same chart through MedFlow's spelling.
    medflow = data(await client.get(f"{PATIENTS}/{chart['id']}", headers=hospital.admin.headers))
    assert medflow["sex"] == "other"


async def test_doctors_patients_is_not_read_as_a_doctor_id(
    client: httpx.AsyncClient, hospital: Tenant
) -> None:
    # Anonymous: `/doctors/{doctor_id}` is public, so were it tried first this would
    # be a 400 (not a UUID) rather than the chart route's 401.
    assert_error(await client.get(DOCTOR_PATIENTS), 401, "AUTHENTICATION_ERROR")
    listed = data(await client.get(DOCTOR_PATIENTS, headers=hospital.doctor.headers))
    assert listed["patients"] == []
    # The doctors router still answers its own paths.
    assert_error(await client.get(f"{API_DOCTORS}/{UNKNOWN}"), 404, "NOT_FOUND")


async def test_the_medconnect_spelling_is_for_doctors_only(
    client: httpx.AsyncClient, hospital: Tenant
) -> None:
    chart = await create_chart(client, hospital.admin.headers)
    for response in (
        await client.get(DOCTOR_PATIENTS, headers=hospital.admin.headers),
        await client.post(DOCTOR_PATIENTS, json=chart_body(), headers=hospital.admin.headers),
        await client.get(f"{DOCTOR_PATIENTS}/{chart['id']}", headers=hospital.admin.headers),
        await client.put(
            f"{DOCTOR_PATIENTS}/{chart['id']}", json={"sex": "male"}, headers=hospital.admin.headers
        ),
    ):
        assert_error(response, 403, "AUTHORIZATION_ERROR")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"first_name", "last_name", "date_of_birth"}),
        (chart_body(first_name="", last_name="   "), {"first_name", "last_name"}),
        (chart_body(date_of_birth="2999-01-01"), {"date_of_birth"}),
        (chart_body(date_of_birth="02/04/1980"), {"date_of_birth"}),
        (chart_body(sex="sometimes"), {"sex"}),
        (chart_body(blood_type="C+"), {"blood_type"}),
        (chart_body(email="not-an-email"), {"email"}),
        (chart_body(phone="call me maybe"), {"phone"}),
        (chart_body(phone="+1 23"), {"phone"}),
        (chart_body(phone="+1234567890123456"), {"phone"}),
        (chart_body(national_id="--"), {"national_id"}),
        (chart_body(address={"planet": "Mars"}), {"address.planet"}),
        (chart_body(emergency_contact={"relationship": "aunt"}), {"emergency_contact.name"}),
        (chart_body(allergies=[""]), {"allergies.0"}),
        (chart_body(mrn="MRN-999999"), {"mrn"}),
    ],
)
async def test_bad_charts_are_refused_with_the_fields_named(
    client: httpx.AsyncClient, hospital: Tenant, body: dict[str, Any], fields: set[str]
) -> None:
    response = await client.post(PATIENTS, json=body, headers=hospital.doctor.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields=fields)


async def test_an_update_may_not_clear_names_or_date_of_birth(
    client: httpx.AsyncClient, hospital: Tenant
) -> None:
    chart = await create_chart(client, hospital.doctor.headers)
    response = await client.put(
        f"{PATIENTS}/{chart['id']}",
        json={"first_name": None, "date_of_birth": None, "sex": "x"},
        headers=hospital.doctor.headers,
    )
    assert_error(response, 400, "VALIDATION_ERROR", fields={"first_name", "date_of_birth", "sex"})


def every_route(patient_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    one = f"{PATIENTS}/{patient_id}"
    doctors_one = f"{DOCTOR_PATIENTS}/{patient_id}"
    return [
        ("GET", PATIENTS, None),
        ("POST", PATIENTS, chart_body()),
        ("GET", one, None),
        ("PUT", one, {"sex": "male"}),
        ("DELETE", one, None),
        ("POST", f"{one}/restore", None),
        ("GET", DOCTOR_PATIENTS, None),
        ("POST", DOCTOR_PATIENTS, chart_body()),
        ("GET", doctors_one, None),
        ("PUT", doctors_one, {"sex": "male"}),
    ]


async def test_anonymous_callers_must_log_in(client: httpx.AsyncClient, hospital: Tenant) -> None:
    chart = await create_chart(client, hospital.admin.headers)
    for method, path, body in every_route(chart["id"]):
        response = await client.request(method, path, json=body)
        assert_error(response, 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("role", ["pharmacist", "customer", "sales", "super_admin", "patient"])
async def test_other_roles_reach_no_chart(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, role: str
) -> None:
    chart = await create_chart(client, hospital.admin.headers)
    organization_id = None if role in {"super_admin", "patient"} else hospital.id
    caller = await factory.user(role, organization_id=organization_id)
    for method, path, body in every_route(chart["id"]):
        response = await client.request(method, path, json=body, headers=caller.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_an_unapproved_doctor_or_one_without_organization_reaches_no_chart(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    chart = await create_chart(client, hospital.admin.headers)
    waiting = await factory.user("doctor", organization_id=hospital.id, approved=False)
    homeless = await factory.user("doctor")
    for caller in (waiting, homeless):
        for method, path, body in every_route(chart["id"]):
            response = await client.request(method, path, json=body, headers=caller.headers)
            error = assert_error(response, 403, "AUTHORIZATION_ERROR")
            if caller is waiting and not path.endswith("/restore") and method != "DELETE":
                assert "awaiting approval" in error["message"]


async def test_doctors_may_not_delete_or_restore(
    client: httpx.AsyncClient, hospital: Tenant
) -> None:
    chart = await create_chart(client, hospital.doctor.headers)
    path = f"{PATIENTS}/{chart['id']}"
    assert_error(await client.delete(path, headers=hospital.doctor.headers), 403)
    assert_error(await client.post(f"{path}/restore", headers=hospital.doctor.headers), 403)


def reaches_the_chart(staff: Account, tenant: Tenant, method: str, path: str) -> bool:
    """Whether `staff` gets as far as looking the chart up (else their role is refused
    first: doctors do not delete or restore, admins do not use the doctors' spelling);
    the collections are their own organization's."""
    if path in {PATIENTS, DOCTOR_PATIENTS}:
        return False
    if staff is tenant.doctor:
        return method != "DELETE" and not path.endswith("/restore")
    return not path.startswith(DOCTOR_PATIENTS)


async def test_another_organizations_chart_is_not_found(
    client: httpx.AsyncClient, hospital: Tenant, other_hospital: Tenant
) -> None:
    chart = await create_chart(client, hospital.admin.headers)
    for staff in (other_hospital.admin, other_hospital.doctor):
        for method, path, body in every_route(chart["id"]):
            if not reaches_the_chart(staff, other_hospital, method, path):
                continue
            response = await client.request(method, path, json=body, headers=staff.headers)
            assert_error(response, 404, "NOT_FOUND")
        listed = data(await client.get(PATIENTS, headers=staff.headers))
        assert listed["patients"] == []
    # Still there for its own organization.
    data(await client.get(f"{PATIENTS}/{chart['id']}", headers=hospital.admin.headers))


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, hospital: Tenant) -> None:
    headers = hospital.admin.headers
    assert_error(await client.get(f"{PATIENTS}/{UNKNOWN}", headers=headers), 404, "NOT_FOUND")
    response = await client.get(f"{PATIENTS}/not-a-uuid", headers=headers)
    assert_error(response, 400, "VALIDATION_ERROR", field="patient_id")


async def test_soft_delete_hides_the_chart_until_an_admin_restores_it(
    client: httpx.AsyncClient, hospital: Tenant, audit_rows: AuditRows
) -> None:
    chart = await create_chart(client, hospital.admin.headers)
    other = await create_chart(client, hospital.admin.headers, first_name="Bo")
    path = f"{PATIENTS}/{chart['id']}"
    admin, doctor = hospital.admin.headers, hospital.doctor.headers

    assert data(await client.delete(path, headers=admin)) is None
    assert_error(await client.delete(path, headers=admin), 409, "CONFLICT")
    for headers in (admin, doctor):
        assert_error(await client.get(path, headers=headers), 404, "NOT_FOUND")
        assert_error(await client.put(path, json={"sex": "male"}, headers=headers), 404)
        listed = data(await client.get(PATIENTS, headers=headers))
        assert [p["id"] for p in listed["patients"]] == [other["id"]]

    # Admins may look at deleted charts; doctors may not ask to.
    everything = data(await client.get(PATIENTS, params={"include_deleted": "true"}, headers=admin))
    deleted = {p["id"]: p["deleted_at"] for p in everything["patients"]}
    assert deleted[other["id"]] is None
    assert deleted[chart["id"]] is not None
    one = data(await client.get(path, params={"include_deleted": "true"}, headers=admin))
    assert one["deleted_at"] is not None
    for response in (
        await client.get(PATIENTS, params={"include_deleted": "true"}, headers=doctor),
        await client.get(path, params={"include_deleted": "true"}, headers=doctor),
    ):
        assert_error(response, 403, "AUTHORIZATION_ERROR", field="include_deleted")

    restored = data(await client.post(f"{path}/restore", headers=admin))
    assert restored["deleted_at"] is None
    assert restored["mrn"] == chart["mrn"]
    assert_error(await client.post(f"{path}/restore", headers=admin), 409, "CONFLICT")
    assert_error(
        await client.post(f"{PATIENTS}/{other['id']}/restore", headers=admin), 409, "CONFLICT"
    )
    data(await client.get(path, headers=doctor))

    actions = [action for action, *_ in audit_rows(uuid.UUID(chart["id"]))]
    assert actions == [
        "patient.created",
        "patient.deleted",
        "patient.read",  # the admin's look at the deleted chart
        "patient.restored",
        "patient.read",
    ]


async def test_restoring_is_refused_when_the_account_has_another_chart_meanwhile(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    patient = await factory.user("patient", login=False)
    first = await create_chart(client, hospital.admin.headers, email=patient.email)
    assert first["linked"] is True
    data(await client.delete(f"{PATIENTS}/{first['id']}", headers=hospital.admin.headers))
    second = await create_chart(client, hospital.admin.headers, email=patient.email)
    assert second["linked"] is True

    response = await client.post(
        f"{PATIENTS}/{first['id']}/restore", headers=hospital.admin.headers
    )
    assert_error(response, 409, "CONFLICT")
    assert admin_sql(
        "SELECT count(*) FROM patients WHERE user_id = %s AND deleted_at IS NULL", [patient.id]
    ) == [(1,)]


async def test_api_keys_of_the_organization_manage_charts(
    client: httpx.AsyncClient, hospital: Tenant
) -> None:
    created = await client.post(
        "/api/v1/api-keys",
        json={"name": "front desk", "role": "admin"},
        headers=hospital.admin.headers,
    )
    key = data(created, 201)["key"]
    chart = await create_chart(client, {"X-API-Key": key})
    assert chart["organization_id"] == str(hospital.id)
