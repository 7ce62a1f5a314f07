"""A prescription from the doctor to the pharmacy counter: written, seen by the
patient, scanned, validated, dispensed in two parts, in the pharmacy's history."""

from __future__ import annotations

import httpx

from tests.consultations.helpers import Clinic
from tests.doctors.helpers import data
from tests.prescriptions.helpers import (
    HISTORY,
    PATIENT_PRESCRIPTIONS,
    Pharmacy,
    dispense_url,
    item,
    prescribe,
    scan,
    scanned_and_validated,
)


async def test_written_seen_scanned_validated_dispensed_in_two_parts(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(client, clinic, items=[item(quantity=20)])
    assert written["status"] == "issued"
    assert written["prescription_number"].startswith("RX-")
    assert written["items"][0]["remaining_quantity"] == 20

    own = data(await client.get(PATIENT_PRESCRIPTIONS, headers=clinic.patient.headers))
    assert [row["id"] for row in own["prescriptions"]] == [written["id"]]
    assert own["prescriptions"][0]["items"][0]["medicine_name"] == "Amoxicillin"

    scanned = await scan(client, pharmacy.pharmacist, written["verification_url"])
    assert scanned["is_valid"] is True
    assert scanned["can_dispense"] is True
    assert scanned["prescription"]["status"] == "scanned"
    assert scanned["prescription"]["patient_name"] == "Pat Doe"
    assert scanned["prescription"]["qr_code"]["scan_count"] == 1

    validated = await scanned_and_validated(client, pharmacy.pharmacist, written)
    assert validated["prescription"]["status"] == "validated"
    item_id = written["items"][0]["id"]

    half = data(
        await client.post(
            dispense_url(written["id"]),
            json={
                "items": [
                    {
                        "item_id": item_id,
                        "quantity": 10,
                        "batch_number": "B-1",
                        "expiry_date": "2099-01-01",
                        "unit_price": "0.50",
                    }
                ]
            },
            headers=pharmacy.pharmacist.headers,
        )
    )
    assert half["prescription"]["status"] == "partially_dispensed"
    assert half["prescription"]["items"][0]["remaining_quantity"] == 10
    assert half["dispensation"]["total_amount"] == 5.0

    rest = data(
        await client.post(
            dispense_url(written["id"]),
            json={"items": [{"item_id": item_id, "quantity": 10}]},
            headers=pharmacy.pharmacist.headers,
        )
    )
    assert rest["prescription"]["status"] == "dispensed"

    over = await client.post(
        dispense_url(written["id"]),
        json={"items": [{"item_id": item_id, "quantity": 1}]},
        headers=pharmacy.pharmacist.headers,
    )
    assert over.status_code == 409, over.text

    history = data(await client.get(HISTORY, headers=pharmacy.pharmacist.headers))
    assert history["pagination"]["total"] == 2
    assert history["totals"]["dispensed"] == 2
    assert {row["prescription_number"] for row in history["history"]} == {
        written["prescription_number"]
    }
