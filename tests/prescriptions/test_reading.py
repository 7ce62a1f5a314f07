"""Reading prescriptions: the organization's list and one prescription
(`/doctors/prescriptions`), the patient's own across organizations
(`/patients/prescriptions`); who sees what, and the audit of clinical reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.consultations.helpers import AdminSql, Clinic, audit_count, make_chart, make_clinic
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory
from tests.prescriptions.helpers import (
    DOCTOR_PRESCRIPTIONS,
    PATIENT_PRESCRIPTIONS,
    UNKNOWN,
    Pharmacy,
    cancel_url,
    doctor_prescription_url,
    item,
    patient_prescription_url,
    prescribe,
    second_clinic_of,
)

# What presents a prescription at a pharmacy: the reference number to type, and what
# its QR code holds.
QR_ACCESS = {"reference_number", "qr_token", "verification_url"}


async def listed(
    client: httpx.AsyncClient, account: Account, path: str = DOCTOR_PRESCRIPTIONS, **params: Any
) -> dict[str, Any]:
    result: dict[str, Any] = data(await client.get(path, params=params, headers=account.headers))
    return result


def ids(page: dict[str, Any]) -> list[str]:
    return [row["id"] for row in page["prescriptions"]]


# GET /doctors/prescriptions


async def test_the_organizations_doctors_list_its_prescriptions_with_their_content(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Colleague")
    first = await prescribe(client, clinic)
    second = await prescribe(client, clinic, diagnosis="Otitis media")
    # Any doctor of the organization sees them all, newest first.
    page = await listed(client, colleague)
    assert ids(page) == [second["id"], first["id"]]
    assert page["pagination"] == {"page": 1, "limit": 20, "total": 2, "total_pages": 1}
    row = page["prescriptions"][1]
    assert row["prescription_number"] == first["prescription_number"]
    assert row["status"] == "issued"
    assert row["patient_id"] == str(clinic.chart.id)
    assert row["patient_name"] == "Pat Doe"
    assert row["doctor_id"] == str(clinic.doctor.id)
    assert row["doctor_name"] == "Dr. Ada Meyer"
    assert row["organization_name"] == clinic.organization.name
    assert row["diagnosis"] == "Acute sinusitis"
    assert row["item_count"] == 1
    assert row["items"][0]["medicine_name"] == "Amoxicillin"
    assert row["items"][0]["remaining_quantity"] == 21
    assert row["expires_at"] == first["expires_at"]
    # The QR code's content and the reference number are the patient's list's (and the
    # detail's), not the organization's list's.
    assert not QR_ACCESS & row.keys()
    assert ids(await listed(client, clinic.doctor, order="asc")) == [first["id"], second["id"]]


async def test_the_organizations_admin_lists_them_without_clinical_content(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    page = await listed(client, clinic.admin)
    assert ids(page) == [written["id"]]
    [row] = page["prescriptions"]
    assert row["diagnosis"] is None
    assert row["items"] is None
    assert not QR_ACCESS & row.keys()
    assert row["item_count"] == 1
    assert row["patient_name"] == "Pat Doe"
    assert "Amoxicillin" not in str(page)
    assert "sinusitis" not in str(page)
    # Nothing clinical was read: no clinical read audited for the admin.
    rows = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'prescription.list' AND user_id = %s",
        [clinic.admin.id],
    )
    assert rows == [(0,)]


async def test_filters_and_paging(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Colleague")
    neighbour = await make_chart(factory.database, clinic.id, first_name="Sam", last_name="Roe")
    mine = await prescribe(client, clinic)
    theirs = await prescribe(
        client,
        Clinic(clinic.organization, clinic.admin, colleague, clinic.patient, neighbour),
        patient_id=str(neighbour.id),
    )
    cancelled = await prescribe(client, clinic)
    data(
        await client.post(
            cancel_url(cancelled["id"]),
            json={"reason": "Wrong dose"},
            headers=clinic.doctor.headers,
        )
    )
    # One written ten days ago.
    old = await prescribe(client, clinic)
    admin_sql(
        "UPDATE prescriptions SET issued_at = issued_at - interval '10 days',"
        " expires_at = expires_at - interval '10 days' WHERE id = %s",
        [old["id"]],
    )
    doctor = clinic.doctor
    assert ids(await listed(client, doctor, status="cancelled")) == [cancelled["id"]]
    assert set(ids(await listed(client, doctor, status="issued"))) == {
        mine["id"],
        theirs["id"],
        old["id"],
    }
    assert ids(await listed(client, doctor, patient_id=str(neighbour.id))) == [theirs["id"]]
    assert ids(await listed(client, doctor, doctor_id=str(colleague.id))) == [theirs["id"]]
    today = datetime.now(UTC).date()
    ten_days_ago = (today - timedelta(days=10)).isoformat()
    assert ids(await listed(client, doctor, to=ten_days_ago)) == [old["id"]]
    recent = await listed(client, doctor, **{"from": today.isoformat()})
    assert old["id"] not in ids(recent)
    assert recent["pagination"]["total"] == 3
    both = await listed(client, doctor, **{"from": ten_days_ago, "to": today.isoformat()})
    assert both["pagination"]["total"] == 4
    # Paging: 4 rows, 3 a page.
    first_page = await listed(client, doctor, limit=3)
    second_page = await listed(client, doctor, limit=3, page=2)
    assert first_page["pagination"] == {"page": 1, "limit": 3, "total": 4, "total_pages": 2}
    assert len(ids(first_page)) == 3
    assert ids(second_page) == [old["id"]]
    assert set(ids(first_page)) | set(ids(second_page)) == {
        mine["id"],
        theirs["id"],
        cancelled["id"],
        old["id"],
    }


async def test_sorted_by_creation_expiry_or_number(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    # Written in this order (so numbered so), expiring in another.
    first = await prescribe(client, clinic, valid_days=10)
    second = await prescribe(client, clinic, valid_days=3)
    third = await prescribe(client, clinic, valid_days=20)
    doctor = clinic.doctor
    by_creation = [third["id"], second["id"], first["id"]]

    assert ids(await listed(client, doctor)) == by_creation
    assert ids(await listed(client, doctor, sort="created_at")) == by_creation
    assert ids(await listed(client, doctor, sort="created_at", order="asc")) == by_creation[::-1]
    assert ids(await listed(client, doctor, sort="expires_at", order="asc")) == [
        second["id"],
        first["id"],
        third["id"],
    ]
    assert ids(await listed(client, doctor, sort="expires_at")) == [
        third["id"],
        first["id"],
        second["id"],
    ]
    assert ids(await listed(client, doctor, sort="number", order="asc")) == by_creation[::-1]
    assert ids(await listed(client, doctor, sort="number")) == by_creation
    # The organization's admins sort the same list.
    assert (
        ids(await listed(client, clinic.admin, sort="expires_at", order="asc"))[0] == (second["id"])
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "diagnosis"}, "sort"),
        ({"sort": "issued_at"}, "sort"),
        ({"status": "lost"}, "status"),
        ({"patient_id": "nope"}, "patient_id"),
        ({"doctor_id": "nope"}, "doctor_id"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-02", "to": "2026-02-01"}, "from"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"page": 0}, "page"),
        ({"order": "sideways"}, "order"),
    ],
)
async def test_bad_filters_are_400(
    client: httpx.AsyncClient, clinic: Clinic, params: dict[str, Any], field: str
) -> None:
    response = await client.get(DOCTOR_PRESCRIPTIONS, params=params, headers=clinic.doctor.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_another_organization_sees_none_of_them(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    written = await prescribe(client, clinic)
    elsewhere = await make_clinic(client, factory, "clinic")
    for account in (elsewhere.doctor, elsewhere.admin):
        page = await listed(client, account)
        assert page["prescriptions"] == []
        assert page["pagination"]["total"] == 0
        # Not even when asking for the chart or the doctor by id.
        assert ids(await listed(client, account, patient_id=str(clinic.chart.id))) == []
        assert ids(await listed(client, account, doctor_id=str(clinic.doctor.id))) == []
    response = await client.get(
        doctor_prescription_url(written["id"]), headers=elsewhere.doctor.headers
    )
    assert_error(response, 404, "NOT_FOUND")


async def test_the_list_is_for_doctors_and_admins_only(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    assert_error(await client.get(DOCTOR_PRESCRIPTIONS), 401, "AUTHENTICATION_ERROR")
    customer = await factory.user("customer")
    waiting = await factory.user("doctor", organization_id=clinic.id, approved=False)
    for account in (pharmacy.pharmacist, clinic.patient, customer, waiting):
        response = await client.get(DOCTOR_PRESCRIPTIONS, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_admins_of_pharmacies_and_suppliers_are_refused_not_shown_an_empty_list(
    client: httpx.AsyncClient, factory: Factory, pharmacy: Pharmacy
) -> None:
    supplier = await factory.organization("supplier")
    supplier_admin = await factory.user("admin", organization_id=supplier.id)
    for admin in (pharmacy.admin, supplier_admin):
        response = await client.get(DOCTOR_PRESCRIPTIONS, headers=admin.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_a_doctors_list_read_is_audited_with_the_charts_it_showed(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    await prescribe(client, clinic)
    await listed(client, clinic.doctor)
    rows = admin_sql(
        "SELECT user_id, organization_id, metadata FROM activity_logs"
        " WHERE action = 'prescription.list'"
    )
    assert len(rows) == 1
    user_id, organization_id, metadata = rows[0]
    assert (user_id, organization_id) == (clinic.doctor.id, clinic.id)
    assert metadata["patient_ids"] == [str(clinic.chart.id)]
    assert metadata["count"] == 1
    assert "sinusitis" not in str(metadata)


# GET /doctors/prescriptions/{id}


async def test_a_doctor_reads_one_whole_and_the_read_is_audited(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Colleague")
    read = data(await client.get(doctor_prescription_url(written["id"]), headers=colleague.headers))
    assert read == written
    rows = admin_sql(
        "SELECT user_id, metadata FROM activity_logs"
        " WHERE action = 'prescription.read' AND entity_id = %s",
        [written["id"]],
    )
    assert len(rows) == 1
    assert rows[0][0] == colleague.id
    assert rows[0][1]["patient_id"] == str(clinic.chart.id)
    assert "sinusitis" not in str(rows[0][1])


async def test_one_prescription_is_for_the_organizations_doctors_only(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    url = doctor_prescription_url(written["id"])
    assert_error(await client.get(url), 401, "AUTHENTICATION_ERROR")
    # The organization's admin lists, but does not read the content.
    for account in (clinic.admin, clinic.patient, pharmacy.pharmacist):
        assert_error(await client.get(url, headers=account.headers), 403, "AUTHORIZATION_ERROR")
    elsewhere = await make_clinic(client, factory, "clinic")
    assert_error(await client.get(url, headers=elsewhere.doctor.headers), 404, "NOT_FOUND")
    unknown = doctor_prescription_url(UNKNOWN)
    assert_error(await client.get(unknown, headers=clinic.doctor.headers), 404, "NOT_FOUND")
    bad = doctor_prescription_url("not-a-uuid")
    assert_error(await client.get(bad, headers=clinic.doctor.headers), 400, "VALIDATION_ERROR")
    assert audit_count(admin_sql, "prescription.read", written["id"]) == 0


# The patient's own: GET /patients/prescriptions, /patients/prescriptions/{id}


async def test_a_patient_sees_their_own_across_organizations(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    other = await second_clinic_of(client, factory, clinic.patient)
    here = await prescribe(client, clinic)
    there = await prescribe(
        client, other, items=[item(medicine_name="Salbutamol", form="inhaler", quantity=1)]
    )
    page = await listed(client, clinic.patient, PATIENT_PRESCRIPTIONS)
    assert ids(page) == [there["id"], here["id"]]
    assert page["pagination"]["total"] == 2
    rows = {row["id"]: row for row in page["prescriptions"]}
    assert rows[there["id"]]["organization_name"] == other.organization.name
    assert rows[there["id"]]["doctor_name"] == "Dr. Bo Lind"
    assert rows[there["id"]]["items"][0]["medicine_name"] == "Salbutamol"
    assert rows[here["id"]]["diagnosis"] == "Acute sinusitis"
    assert rows[here["id"]]["items"][0]["remaining_quantity"] == 21
    # QR access from the list: what the detail gives to present it at a pharmacy (the
    # image is GET /qr-codes/{id}'s).
    for written in (here, there):
        row = rows[written["id"]]
        for field in QR_ACCESS:
            assert row[field] == written[field], field
        assert not {"image_png", "image_svg"} & row.keys()

    for written in (here, there):
        read = data(
            await client.get(
                patient_prescription_url(written["id"]), headers=clinic.patient.headers
            )
        )
        # Whole: with the QR token, the reference number, remaining quantities.
        assert read == written
    assert audit_count(admin_sql, "prescription.read", there["id"]) == 1

    # Their own status filter and dates.
    data(
        await client.post(
            cancel_url(there["id"]), json={"reason": "Not needed"}, headers=other.doctor.headers
        )
    )
    cancelled = await listed(client, clinic.patient, PATIENT_PRESCRIPTIONS, status="cancelled")
    assert ids(cancelled) == [there["id"]]
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    later = await listed(client, clinic.patient, PATIENT_PRESCRIPTIONS, **{"from": tomorrow})
    assert ids(later) == []


async def test_a_patient_never_sees_another_patients(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    neighbour_account = await factory.user("patient", full_name="Sam Roe")
    neighbour = await make_chart(
        factory.database, clinic.id, user_id=neighbour_account.id, first_name="Sam"
    )
    theirs = await prescribe(client, clinic, patient_id=str(neighbour.id))
    mine = await prescribe(client, clinic)
    assert ids(await listed(client, clinic.patient, PATIENT_PRESCRIPTIONS)) == [mine["id"]]
    assert ids(await listed(client, neighbour_account, PATIENT_PRESCRIPTIONS)) == [theirs["id"]]
    response = await client.get(
        patient_prescription_url(theirs["id"]), headers=clinic.patient.headers
    )
    assert_error(response, 404, "NOT_FOUND")
    unknown = await client.get(patient_prescription_url(UNKNOWN), headers=clinic.patient.headers)
    assert_error(unknown, 404, "NOT_FOUND")
    # A patient account with no chart anywhere has none.
    stranger = await factory.user("patient")
    assert ids(await listed(client, stranger, PATIENT_PRESCRIPTIONS)) == []


async def test_the_patients_routes_are_for_patients_only(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(client, clinic)
    one = patient_prescription_url(written["id"])
    for url in (PATIENT_PRESCRIPTIONS, one):
        assert_error(await client.get(url), 401, "AUTHENTICATION_ERROR")
        for account in (clinic.doctor, clinic.admin, pharmacy.pharmacist):
            response = await client.get(url, headers=account.headers)
            assert_error(response, 403, "AUTHORIZATION_ERROR")
    response = await client.get(
        PATIENT_PRESCRIPTIONS, params={"status": "lost"}, headers=clinic.patient.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", "status")
