"""`POST /api/v1/pharmacy/reject/{id}`: a pharmacy refuses a prescription it was shown,
with a reason; the prescriber and the patient are told, and no one dispenses it any
more."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.assertions import assert_error
from tests.consultations.helpers import Clinic
from tests.doctors.helpers import data
from tests.factories import Factory, mail_to, text_body
from tests.prescriptions.helpers import (
    HISTORY,
    AdminSql,
    Pharmacy,
    audit_actions,
    dispense,
    dispensed_quantities,
    line,
    make_pharmacy,
    prescribe,
    reject_url,
    scan,
    scanned_and_validated,
    validated,
)

REASON = "The dose exceeds the maximum for this patient's age"


async def _reject(
    client: httpx.AsyncClient, pharmacy: Pharmacy, prescription_id: str, reason: Any = REASON
) -> httpx.Response:
    return await client.post(
        reject_url(prescription_id), json={"reason": reason}, headers=pharmacy.pharmacist.headers
    )


def _notifications(admin_sql: AdminSql, user_id: object) -> list[tuple[str, str]]:
    rows = admin_sql(
        "SELECT title, body FROM notifications WHERE user_id = %s AND category = 'prescription'"
        " ORDER BY created_at, id",
        [user_id],
    )
    return [(str(title), str(body)) for title, body in rows]


async def test_a_rejection_closes_it_and_tells_the_doctor_and_the_patient(
    client: httpx.AsyncClient,
    app: FastAPI,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["qr_token"])

    answer = data(await _reject(client, pharmacy, written["id"]))

    assert answer["prescription"]["status"] == "rejected"
    assert (answer["is_valid"], answer["can_dispense"]) == (False, False)
    [act] = answer["prescription"]["dispensations"]
    assert (act["outcome"], act["reason"], act["items"]) == ("rejected", REASON, [])
    [(status, rejected_at, rejected_by, reason)] = admin_sql(
        "SELECT status, rejected_at, rejected_by, rejected_reason FROM prescriptions WHERE id = %s",
        [written["id"]],
    )
    assert (status, rejected_at is not None, rejected_by, reason) == (
        "rejected",
        True,
        pharmacy.id,
        REASON,
    )
    # Told from a job: run them (mail_to does).
    [email] = await mail_to(app, clinic.patient.email, "prescription_update")
    assert REASON in text_body(email)
    number = written["prescription_number"]
    assert _notifications(admin_sql, clinic.doctor.id) == [
        (f"Prescription {number} rejected by Harbour Pharmacy", f"Reason: {REASON}")
    ]
    assert _notifications(admin_sql, clinic.patient.id)[-1][0] == (
        f"Your prescription {number} was rejected by Harbour Pharmacy"
    )
    assert audit_actions(admin_sql, written["id"])[-1] == "prescription.rejected"


async def test_after_a_rejection_nothing_more_happens_to_it(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    item_id = written["items"][0]["id"]
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    data(await _reject(client, pharmacy, written["id"]))
    other = await make_pharmacy(factory, name="Corner Pharmacy")

    refused = [
        await validated(client, pharmacy.pharmacist, written["id"]),
        await dispense(client, pharmacy.pharmacist, written["id"], line(item_id, 1)),
        await _reject(client, pharmacy, written["id"], "Rejected once more"),
    ]
    shown_elsewhere = await scan(client, other.pharmacist, written["verification_url"])
    refused += [
        await validated(client, other.pharmacist, written["id"]),
        await dispense(client, other.pharmacist, written["id"], line(item_id, 1)),
    ]

    for response in refused:
        assert_error(response, 409, "INVALID_STATE_TRANSITION")
    assert shown_elsewhere["prescription"]["status"] == "rejected"
    assert (shown_elsewhere["is_valid"], shown_elsewhere["can_dispense"]) == (False, False)
    assert "rejected" in shown_elsewhere["reason"]
    assert dispensed_quantities(admin_sql, written["id"]) == [0]
    history = data(await client.get(HISTORY, headers=pharmacy.pharmacist.headers))
    [entry] = history["history"]
    assert (entry["outcome"], entry["reason"], entry["prescription_id"]) == (
        "rejected",
        REASON,
        written["id"],
    )
    assert history["totals"]["rejected"] == 1
    elsewhere = data(await client.get(HISTORY, headers=other.pharmacist.headers))
    assert elsewhere["history"] == []


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "no"}, {"reason": "x" * 501}, {"reason": None}],
)
async def test_a_reason_is_required(
    client: httpx.AsyncClient,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
    body: dict[str, Any],
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["qr_token"])

    response = await client.post(
        reject_url(written["id"]), json=body, headers=pharmacy.pharmacist.headers
    )

    assert_error(response, 400, "VALIDATION_ERROR", "reason")
    [(status,)] = admin_sql("SELECT status FROM prescriptions WHERE id = %s", [written["id"]])
    assert status == "scanned"


async def test_only_pharmacists_reject(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["qr_token"])
    customer = await factory.user("customer")
    body = {"reason": REASON}

    assert_error(
        await client.post(reject_url(written["id"]), json=body), 401, "AUTHENTICATION_ERROR"
    )
    for account in (clinic.doctor, clinic.patient, clinic.admin, pharmacy.admin, customer):
        response = await client.post(reject_url(written["id"]), json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")

    [(status,)] = admin_sql("SELECT status FROM prescriptions WHERE id = %s", [written["id"]])
    assert status == "scanned"
