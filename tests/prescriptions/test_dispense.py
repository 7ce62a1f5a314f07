"""`POST /api/v1/pharmacy/dispense/{id}` for items that are not catalog products (the
pharmacist records the batch they handed out): partial dispensing, never more than
remains, all or nothing, expired batches refused, a warning for a batch that expires
before the treatment ends, and the patient told."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.assertions import assert_error
from tests.consultations.helpers import Clinic
from tests.doctors.helpers import data
from tests.factories import Factory, mail_to, run_jobs, text_body
from tests.prescriptions.helpers import (
    AdminSql,
    Pharmacy,
    audit_actions,
    count_rows,
    dispense,
    dispense_url,
    dispensed_quantities,
    in_days,
    item,
    line,
    prescribe,
    scanned_and_validated,
    today,
)


async def _two_items(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> tuple[dict[str, Any], str, str]:
    """A validated prescription of 10 Amoxicillin and 4 Ibuprofen with one refill (8 in
    all); its id and the two items' ids."""
    written = await prescribe(
        client,
        clinic,
        items=[
            item(quantity=10),
            item(medicine_name="Ibuprofen", strength="400 mg", quantity=4, refills=1),
        ],
    )
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    first, second = (entry["id"] for entry in written["items"])
    return written, first, second


async def test_dispensed_in_parts_until_nothing_remains(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written, amoxicillin, ibuprofen = await _two_items(client, clinic, pharmacy)

    first = data(
        await dispense(
            client,
            pharmacy.pharmacist,
            written["id"],
            line(amoxicillin, 4, batch_number="AMX-1", expiry_date="2099-06-30", unit_price="0.50"),
            line(ibuprofen, 8, batch_number="IBU-7", unit_price="1.5"),
        )
    )
    rest = data(await dispense(client, pharmacy.pharmacist, written["id"], line(amoxicillin, 6)))

    assert first["prescription"]["status"] == "partially_dispensed"
    assert [entry["remaining_quantity"] for entry in first["prescription"]["items"]] == [6, 0]
    assert [entry["allowed_quantity"] for entry in first["prescription"]["items"]] == [10, 8]
    assert first["prescription"]["qr_code"]["is_used"] is True
    assert first["warnings"] == []
    act = first["dispensation"]
    assert act["outcome"] == "dispensed"
    assert act["organization_id"] == str(pharmacy.id)
    assert act["pharmacy_name"] == "Harbour Pharmacy"
    # Money as everywhere (DESIGN.md): a JSON number with cents, and its currency (the
    # platform's default when the request names none).
    assert act["total_amount"] == 14.0
    assert act["currency"] == "USD"
    assert [entry["unit_price"] for entry in act["items"]] == [0.5, 1.5]
    assert [
        (entry["prescription_item_id"], entry["quantity"], entry["batch_number"])
        for entry in act["items"]
    ] == [(amoxicillin, 4, "AMX-1"), (ibuprofen, 8, "IBU-7")]
    assert act["items"][0]["expiry_date"] == "2099-06-30"
    assert rest["prescription"]["status"] == "dispensed"
    assert rest["dispensation"]["total_amount"] == 0
    assert rest["dispensation"]["currency"] == "USD"
    assert [entry["remaining_quantity"] for entry in rest["prescription"]["items"]] == [0, 0]
    assert len(rest["prescription"]["dispensations"]) == 2
    [(status, dispensed_at)] = admin_sql(
        "SELECT status, dispensed_at FROM prescriptions WHERE id = %s", [written["id"]]
    )
    assert (status, dispensed_at is not None) == ("dispensed", True)
    assert dispensed_quantities(admin_sql, written["id"]) == [10, 8]
    assert audit_actions(admin_sql, written["id"]).count("prescription.dispensed") == 2


async def test_more_than_remains_is_409_and_changes_nothing(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written, amoxicillin, ibuprofen = await _two_items(client, clinic, pharmacy)
    data(await dispense(client, pharmacy.pharmacist, written["id"], line(amoxicillin, 7)))

    over_one = await dispense(client, pharmacy.pharmacist, written["id"], line(amoxicillin, 4))
    # The first line fits; the second does not: neither is dispensed.
    over_second = await dispense(
        client, pharmacy.pharmacist, written["id"], line(amoxicillin, 3), line(ibuprofen, 9)
    )

    error = assert_error(over_one, 409, "QUANTITY_EXCEEDS_REMAINING", "items[0].quantity")
    assert error["details"][0]["message"] == "at most 3"
    assert_error(over_second, 409, "QUANTITY_EXCEEDS_REMAINING", "items[1].quantity")
    assert dispensed_quantities(admin_sql, written["id"]) == [7, 0]
    assert count_rows(admin_sql, "dispensations", written["id"]) == 1
    [(status,)] = admin_sql("SELECT status FROM prescriptions WHERE id = %s", [written["id"]])
    assert status == "partially_dispensed"


async def test_lines_that_do_not_match_the_prescription_are_400_with_details(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written, amoxicillin, ibuprofen = await _two_items(client, clinic, pharmacy)
    other = await prescribe(client, clinic)

    unknown = await dispense(
        client, pharmacy.pharmacist, written["id"], line(amoxicillin, 1), line(str(uuid.uuid4()), 1)
    )
    of_another = await dispense(
        client, pharmacy.pharmacist, written["id"], line(other["items"][0]["id"], 1)
    )
    twice = await dispense(
        client,
        pharmacy.pharmacist,
        written["id"],
        line(ibuprofen, 1),
        line(amoxicillin, 1),
        line(ibuprofen, 1),
    )

    assert_error(unknown, 400, "VALIDATION_ERROR", fields=["items[1].item_id"])
    assert_error(of_another, 400, "VALIDATION_ERROR", fields=["items[0].item_id"])
    assert_error(twice, 400, "VALIDATION_ERROR", fields=["items[2].item_id"])
    assert dispensed_quantities(admin_sql, written["id"]) == [0, 0]
    assert count_rows(admin_sql, "dispensations", written["id"]) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": [{"quantity": 1}]}, "items.0.item_id"),
        ({"items": [{"item_id": "nope", "quantity": 1}]}, "items.0.item_id"),
        ({"items": [{"item_id": str(uuid.uuid4()), "quantity": 0}]}, "items.0.quantity"),
        ({"items": [{"item_id": str(uuid.uuid4()), "quantity": -2}]}, "items.0.quantity"),
        (
            {"items": [{"item_id": str(uuid.uuid4()), "quantity": 1, "unit_price": "-1"}]},
            "items.0.unit_price",
        ),
        (
            {"items": [{"item_id": str(uuid.uuid4()), "quantity": 1, "unit_price": "0.001"}]},
            "items.0.unit_price",
        ),
        (
            {"items": [{"item_id": str(uuid.uuid4()), "quantity": 1, "unit_price": "1e9"}]},
            "items.0.unit_price",
        ),
        ({"items": [{"item_id": str(uuid.uuid4()), "quantity": 1}], "currency": "eur"}, "currency"),
        ({"items": [{"item_id": str(uuid.uuid4()), "quantity": 1}], "currency": "EU"}, "currency"),
        (
            {"items": [{"item_id": str(uuid.uuid4()), "quantity": 1, "expiry_date": "soon"}]},
            "items.0.expiry_date",
        ),
        # Dates are strict YYYY-MM-DD, as everywhere (kit.dates.Day): not a Unix time.
        (
            {"items": [{"item_id": str(uuid.uuid4()), "quantity": 1, "expiry_date": 4102444800}]},
            "items.0.expiry_date",
        ),
        ({"items": [{"item_id": str(uuid.uuid4()), "quantity": 1, "extra": 1}]}, "items.0.extra"),
    ],
)
async def test_a_malformed_body_is_400_with_details(
    client: httpx.AsyncClient,
    clinic: Clinic,
    pharmacy: Pharmacy,
    body: dict[str, Any],
    field: str,
) -> None:
    written = await prescribe(client, clinic)
    await scanned_and_validated(client, pharmacy.pharmacist, written)

    response = await client.post(
        dispense_url(written["id"]), json=body, headers=pharmacy.pharmacist.headers
    )

    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_an_expired_batch_is_409_and_nothing_is_dispensed(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written, amoxicillin, ibuprofen = await _two_items(client, clinic, pharmacy)

    refused = [
        await dispense(
            client,
            pharmacy.pharmacist,
            written["id"],
            line(amoxicillin, 2, batch_number="OK-1", expiry_date="2099-01-01"),
            line(ibuprofen, 2, batch_number="OLD-1", expiry_date=expiry.isoformat()),
        )
        # Yesterday, and today: a batch is not handed out on its expiry date.
        for expiry in (in_days(-1), today())
    ]

    for response in refused:
        assert_error(response, 409, "BATCH_EXPIRED", "items[1].expiry_date")
    assert dispensed_quantities(admin_sql, written["id"]) == [0, 0]
    assert count_rows(admin_sql, "dispensations", written["id"]) == 0


async def test_a_batch_expiring_before_the_treatment_ends_is_warned_about(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(
        client,
        clinic,
        items=[item(quantity=10, duration_days=14), item(medicine_name="Paracetamol", quantity=5)],
    )
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    amoxicillin, paracetamol = (entry["id"] for entry in written["items"])

    answer = data(
        await dispense(
            client,
            pharmacy.pharmacist,
            written["id"],
            line(amoxicillin, 5, batch_number="SHORT", expiry_date=in_days(5).isoformat()),
            # Seven days of treatment, a batch good for sixty: nothing to say.
            line(paracetamol, 5, batch_number="LONG", expiry_date=in_days(60).isoformat()),
        )
    )

    [warning] = answer["warnings"]
    assert warning.startswith("Amoxicillin: the batch expires on " + in_days(5).isoformat())
    assert "14-day treatment" in warning
    assert answer["prescription"]["status"] == "partially_dispensed"


async def test_the_patient_hears_what_was_dispensed(
    client: httpx.AsyncClient,
    app: FastAPI,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written, amoxicillin, ibuprofen = await _two_items(client, clinic, pharmacy)
    data(
        await dispense(
            client, pharmacy.pharmacist, written["id"], line(amoxicillin, 10), line(ibuprofen, 3)
        )
    )
    data(await dispense(client, pharmacy.pharmacist, written["id"], line(ibuprofen, 5)))
    await run_jobs(app)

    [(events,)] = admin_sql(
        "SELECT count(*) FROM domain_events WHERE name = 'prescription.dispensed'"
        " AND payload->>'prescription_id' = %s",
        [written["id"]],
    )
    assert events == 2
    titles = [
        title
        for (title,) in admin_sql(
            "SELECT title FROM notifications WHERE user_id = %s AND category = 'prescription'"
            " ORDER BY created_at, id",
            [clinic.patient.id],
        )
    ]
    number = written["prescription_number"]
    assert titles[-2:] == [
        f"Part of your prescription {number} has been dispensed",
        f"Your prescription {number} has been dispensed",
    ]
    updates = await mail_to(app, clinic.patient.email, "prescription_update")
    assert len(updates) == 2
    first_text = text_body(updates[0])
    assert "Harbour Pharmacy" in first_text
    assert "Amoxicillin x 10" in first_text
    assert "Ibuprofen x 3" in first_text
    assert "Ibuprofen x 5" in text_body(updates[1])


async def test_only_pharmacists_dispense(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written, amoxicillin, _ = await _two_items(client, clinic, pharmacy)
    customer = await factory.user("customer")
    body = {"items": [line(amoxicillin, 1)]}

    anonymous = await client.post(dispense_url(written["id"]), json=body)
    assert_error(anonymous, 401, "AUTHENTICATION_ERROR")
    for account in (clinic.doctor, clinic.patient, clinic.admin, pharmacy.admin, customer):
        response = await dispense(client, account, written["id"], line(amoxicillin, 1))
        assert_error(response, 403, "AUTHORIZATION_ERROR")

    assert dispensed_quantities(admin_sql, written["id"]) == [0, 0]
