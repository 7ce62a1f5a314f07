"""Issue 15's access matrix from the pharmacy's side: pharmacists reach a prescription
only by presenting it (QR code or reference number) and act on just that one; they
never reach the doctors' or the patients' routes, nor patient lists, even for a
prescription they dispensed. Checked through the API and, for row-level security,
straight against the database as the application's role."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from medhub.kit.db import Database
from medhub.kit.tenancy import set_tenant_context
from tests.assertions import assert_error
from tests.consultations.helpers import Clinic
from tests.doctors.helpers import data
from tests.factories import Account
from tests.prescriptions.helpers import (
    API,
    DOCTOR_PRESCRIPTIONS,
    PATIENT_PRESCRIPTIONS,
    Pharmacy,
    cancel_url,
    dispense,
    line,
    lookup,
    prescribe,
    reject_url,
    scanned_and_validated,
    validated,
)


def _elsewhere(prescription_id: str, chart_id: uuid.UUID) -> list[tuple[str, str]]:
    """The doctors' and the patients' routes, and the patients' lists."""
    return [
        ("GET", DOCTOR_PRESCRIPTIONS),
        ("GET", f"{DOCTOR_PRESCRIPTIONS}/{prescription_id}"),
        ("POST", cancel_url(prescription_id)),
        ("GET", PATIENT_PRESCRIPTIONS),
        ("GET", f"{PATIENT_PRESCRIPTIONS}/{prescription_id}"),
        ("GET", f"{API}/qr-codes/{prescription_id}"),
        ("POST", f"{API}/qr-codes/email/{prescription_id}"),
        ("GET", f"{API}/patients"),
        ("GET", f"{API}/patients/{chart_id}"),
    ]


async def _refused_everywhere(
    client: httpx.AsyncClient, account: Account, prescription_id: str, chart_id: uuid.UUID
) -> None:
    for method, url in _elsewhere(prescription_id, chart_id):
        body = {"reason": "Not mine to cancel"} if method == "POST" else None
        response = await client.request(method, url, json=body, headers=account.headers)
        assert response.status_code == 403, (method, url, response.text)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_a_pharmacist_never_reaches_the_doctors_or_patients_routes(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(client, clinic)
    # Even for a prescription the pharmacy was shown and dispensed from.
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    data(
        await dispense(
            client, pharmacy.pharmacist, written["id"], line(written["items"][0]["id"], 3)
        )
    )

    await _refused_everywhere(client, pharmacy.pharmacist, written["id"], clinic.chart.id)
    # The pharmacy's admin reads its history and stock, no prescription and no chart.
    for method, url in _elsewhere(written["id"], clinic.chart.id)[:7]:
        body = {"reason": "Not mine to cancel"} if method == "POST" else None
        response = await client.request(method, url, json=body, headers=pharmacy.admin.headers)
        assert response.status_code == 403, (method, url, response.text)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    chart = await client.get(f"{API}/patients/{clinic.chart.id}", headers=pharmacy.admin.headers)
    assert chart.status_code in {403, 404}, chart.text


async def test_presenting_one_prescription_reaches_that_one_only(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, database: Database
) -> None:
    shown = await prescribe(client, clinic)
    # The same patient's other prescription, by the same doctor.
    hidden = await prescribe(client, clinic, diagnosis="Hypertension")
    await lookup(client, pharmacy.pharmacist, shown["reference_number"])

    responses = [
        await validated(client, pharmacy.pharmacist, hidden["id"]),
        await dispense(
            client, pharmacy.pharmacist, hidden["id"], line(hidden["items"][0]["id"], 1)
        ),
        await client.post(
            reject_url(hidden["id"]),
            json={"reason": "Never shown to us"},
            headers=pharmacy.pharmacist.headers,
        ),
    ]
    for response in responses:
        assert_error(response, 404, "NOT_FOUND")
    assert data(await validated(client, pharmacy.pharmacist, shown["id"]))["is_valid"] is True

    # Row-level security agrees: as the app's role in the pharmacist's context, the
    # pharmacy sees the prescription it was shown, its items, and no chart at all.
    async with database.unit_of_work() as session:
        await set_tenant_context(
            session,
            user_id=pharmacy.pharmacist.id,
            organization_id=pharmacy.id,
            role="pharmacist",
        )
        visible = (await session.execute(text("SELECT id::text FROM prescriptions"))).scalars()
        items = (
            await session.execute(
                text("SELECT DISTINCT prescription_id::text FROM prescription_items")
            )
        ).scalars()
        charts = (await session.execute(text("SELECT count(*) FROM patients"))).scalar_one()
        assert list(visible) == [shown["id"]]
        assert list(items) == [shown["id"]]
        assert charts == 0


async def test_the_prescriber_and_the_patient_see_what_the_pharmacy_did(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(client, clinic)
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    act = data(
        await dispense(
            client, pharmacy.pharmacist, written["id"], line(written["items"][0]["id"], 7)
        )
    )["dispensation"]

    as_doctor = data(
        await client.get(f"{DOCTOR_PRESCRIPTIONS}/{written['id']}", headers=clinic.doctor.headers)
    )
    as_patient = data(
        await client.get(f"{PATIENT_PRESCRIPTIONS}/{written['id']}", headers=clinic.patient.headers)
    )

    for view in (as_doctor, as_patient):
        assert view["status"] == "partially_dispensed"
        assert view["items"][0]["remaining_quantity"] == 14
        [seen] = view["dispensations"]
        assert (seen["id"], seen["pharmacy_name"]) == (act["id"], "Harbour Pharmacy")
