"""POST /doctors/prescriptions/{id}/cancel: with a reason, before anything was
dispensed; the patient is told; a cancelled prescription stays closed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.assertions import assert_error
from tests.consultations.helpers import AdminSql, Clinic, audit_count, make_clinic
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Factory, mail_to, run_jobs, text_body
from tests.prescriptions.helpers import (
    NOTIFICATIONS,
    UNKNOWN,
    Pharmacy,
    cancel_url,
    chart_with_email,
    dispense_some,
    instant,
    item,
    prescribe,
    scan,
)

REASON = "Interaction with the patient's other medication"


async def cancel(
    client: httpx.AsyncClient, clinic: Clinic, prescription: dict[str, Any], **body: Any
) -> httpx.Response:
    return await client.post(
        cancel_url(prescription["id"]),
        json=body or {"reason": REASON},
        headers=clinic.doctor.headers,
    )


async def test_a_doctor_cancels_and_the_patient_is_told(
    client: httpx.AsyncClient, app: FastAPI, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    await run_jobs(app)  # the prescription email, out of the way
    cancelled = data(await cancel(client, clinic, written))
    assert cancelled["id"] == written["id"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_reason"] == REASON
    assert instant(cancelled["cancelled_at"]) >= instant(written["issued_at"])
    assert cancelled["qr_code"]["is_used"] is False

    # In the app, and by email.
    page = data(
        await client.get(
            NOTIFICATIONS, params={"category": "prescription"}, headers=clinic.patient.headers
        )
    )
    titles = [row["title"] for row in page["notifications"]]
    assert f"Your prescription {written['prescription_number']} was cancelled" in titles
    [email] = await mail_to(app, clinic.patient.email, "prescription_update")
    assert written["prescription_number"] in email["Subject"]
    body = text_body(email)
    assert REASON in body
    assert "cancelled" in body

    rows = admin_sql(
        "SELECT user_id, metadata FROM activity_logs"
        " WHERE action = 'prescription.cancelled' AND entity_id = %s",
        [written["id"]],
    )
    assert len(rows) == 1
    assert rows[0][0] == clinic.doctor.id
    assert rows[0][1]["previous"] == "issued"
    assert REASON not in str(rows[0][1])


async def test_a_chart_without_an_account_is_told_at_its_address(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, clinic: Clinic
) -> None:
    chart = await chart_with_email(factory.database, clinic.id, "nora.field@example.org")
    written = await prescribe(client, clinic, patient_id=str(chart.id))
    data(await cancel(client, clinic, written))
    [email] = await mail_to(app, "nora.field@example.org", "prescription_update")
    assert REASON in text_body(email)


async def test_a_scanned_prescription_may_still_be_cancelled_and_no_longer_dispensed(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["verification_url"])
    assert data(await cancel(client, clinic, written))["status"] == "cancelled"
    scanned = await scan(client, pharmacy.pharmacist, written["verification_url"])
    assert scanned["prescription"]["status"] == "cancelled"
    assert scanned["can_dispense"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": REASON, "notify": False}, "notify"),
    ],
)
async def test_a_reason_is_required(
    client: httpx.AsyncClient, clinic: Clinic, body: dict[str, Any], field: str
) -> None:
    written = await prescribe(client, clinic)
    response = await client.post(
        cancel_url(written["id"]), json=body, headers=clinic.doctor.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", field)
    read = await client.get(
        f"/api/v1/doctors/prescriptions/{written['id']}", headers=clinic.doctor.headers
    )
    assert data(read)["status"] == "issued"


async def test_cancelling_twice_is_409(
    client: httpx.AsyncClient, app: FastAPI, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    data(await cancel(client, clinic, written))
    again = await cancel(client, clinic, written, reason="Once more")
    assert_error(again, 409, "INVALID_STATE_TRANSITION")
    assert audit_count(admin_sql, "prescription.cancelled", written["id"]) == 1
    assert len(await mail_to(app, clinic.patient.email, "prescription_update")) == 1


async def test_nothing_dispensed_is_the_condition(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    partly = await prescribe(client, clinic, items=[item(quantity=20)])
    dispensed = await dispense_some(client, pharmacy, partly, 5)
    assert dispensed["prescription"]["status"] == "partially_dispensed"
    refused = await cancel(client, clinic, partly)
    assert_error(refused, 409, "INVALID_STATE_TRANSITION")
    # Whole: closed.
    whole = await prescribe(client, clinic, items=[item(quantity=4)])
    assert (await dispense_some(client, pharmacy, whole, 4))["prescription"]["status"] == (
        "dispensed"
    )
    assert_error(await cancel(client, clinic, whole), 409, "INVALID_STATE_TRANSITION")
    read = await client.get(
        f"/api/v1/doctors/prescriptions/{partly['id']}", headers=clinic.doctor.headers
    )
    assert data(read)["status"] == "partially_dispensed"


async def test_a_rejected_prescription_cannot_be_cancelled(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["verification_url"])
    rejected = await client.post(
        f"/api/v1/pharmacy/reject/{written['id']}",
        json={"reason": "Illegible dose"},
        headers=pharmacy.pharmacist.headers,
    )
    assert data(rejected)["prescription"]["status"] == "rejected"
    assert_error(await cancel(client, clinic, written), 409, "INVALID_STATE_TRANSITION")


async def test_only_the_organizations_doctors_cancel(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    url = cancel_url(written["id"])
    body = {"reason": REASON}
    assert_error(await client.post(url, json=body), 401, "AUTHENTICATION_ERROR")
    for account in (clinic.admin, clinic.patient, pharmacy.pharmacist):
        response = await client.post(url, json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    elsewhere = await make_clinic(client, factory, "clinic")
    response = await client.post(url, json=body, headers=elsewhere.doctor.headers)
    assert_error(response, 404, "NOT_FOUND")
    response = await client.post(cancel_url(UNKNOWN), json=body, headers=clinic.doctor.headers)
    assert_error(response, 404, "NOT_FOUND")
    assert audit_count(admin_sql, "prescription.cancelled") == 0
    # A colleague of the organization may.
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Colleague")
    response = await client.post(url, json=body, headers=colleague.headers)
    assert data(response)["status"] == "cancelled"
