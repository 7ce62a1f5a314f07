"""`POST /api/v1/pharmacy/validate/{id}`: the pharmacy that was shown a prescription
checks it before dispensing. Dispensing needs a validation by the same pharmacy; a
pharmacy that was never shown the prescription does not find it at all."""

from __future__ import annotations

import httpx

from tests.assertions import assert_error
from tests.consultations.helpers import Clinic
from tests.doctors.helpers import data
from tests.factories import Factory
from tests.prescriptions.helpers import (
    API,
    HISTORY,
    UNKNOWN,
    AdminSql,
    Pharmacy,
    audit_actions,
    cancel_url,
    count_rows,
    dispense,
    dispensed_quantities,
    line,
    make_pharmacy,
    prescribe,
    reject_url,
    scan,
    scanned_and_validated,
    validate_url,
    validated,
)


async def test_validating_marks_it_validated_for_this_pharmacy(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["qr_token"])

    answer = data(await validated(client, pharmacy.pharmacist, written["id"]))
    again = data(await validated(client, pharmacy.pharmacist, written["id"]))

    assert answer["prescription"]["status"] == "validated"
    assert answer["prescription"]["validated_by_you"] is True
    assert (answer["is_valid"], answer["can_dispense"]) == (True, True)
    assert again["prescription"]["status"] == "validated"
    [(validated_at, validated_by)] = admin_sql(
        "SELECT validated_at, validated_by FROM prescription_pharmacy_access"
        " WHERE prescription_id = %s AND organization_id = %s",
        [written["id"], pharmacy.id],
    )
    assert validated_at is not None
    assert validated_by == pharmacy.pharmacist.id
    assert audit_actions(admin_sql, written["id"]).count("prescription.validated") == 2


async def test_dispensing_without_validation_is_409(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["verification_url"])

    response = await dispense(
        client, pharmacy.pharmacist, written["id"], line(written["items"][0]["id"], 1)
    )

    assert_error(response, 409, "INVALID_STATE_TRANSITION")
    assert dispensed_quantities(admin_sql, written["id"]) == [0]
    assert count_rows(admin_sql, "dispensations", written["id"]) == 0


async def test_a_pharmacy_never_shown_the_prescription_finds_nothing(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    data(
        await dispense(
            client, pharmacy.pharmacist, written["id"], line(written["items"][0]["id"], 1)
        )
    )
    stranger = await make_pharmacy(factory, name="Stranger Pharmacy")
    item_id = written["items"][0]["id"]

    for prescription_id in (written["id"], UNKNOWN):
        responses = [
            await validated(client, stranger.pharmacist, prescription_id),
            await dispense(client, stranger.pharmacist, prescription_id, line(item_id, 1)),
            await client.post(
                reject_url(prescription_id),
                json={"reason": "Looks forged"},
                headers=stranger.pharmacist.headers,
            ),
        ]
        for response in responses:
            assert_error(response, 404, "NOT_FOUND")

    history = data(await client.get(HISTORY, headers=stranger.pharmacist.headers))
    assert history["history"] == []
    assert history["totals"]["count"] == 0
    assert count_rows(admin_sql, "prescription_pharmacy_access", written["id"]) == 1
    assert dispensed_quantities(admin_sql, written["id"]) == [1]


async def test_another_pharmacys_validation_does_not_count(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    item_id = written["items"][0]["id"]
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    other = await make_pharmacy(factory, name="Corner Pharmacy")

    before_scan = await dispense(client, other.pharmacist, written["id"], line(item_id, 5))
    shown = await scan(client, other.pharmacist, written["qr_token"])
    before_validation = await dispense(client, other.pharmacist, written["id"], line(item_id, 5))
    data(await validated(client, other.pharmacist, written["id"]))
    after = data(await dispense(client, other.pharmacist, written["id"], line(item_id, 5)))

    assert_error(before_scan, 404, "NOT_FOUND")
    # Shown it, it sees the status the first pharmacy's validation left, but is not the
    # pharmacy that validated.
    assert shown["prescription"]["status"] == "validated"
    assert shown["prescription"]["validated_by_you"] is False
    assert_error(before_validation, 409, "INVALID_STATE_TRANSITION")
    assert after["prescription"]["status"] == "partially_dispensed"
    assert after["dispensation"]["organization_id"] == str(other.id)
    assert dispensed_quantities(admin_sql, written["id"]) == [5]


async def test_a_closed_prescription_cannot_be_validated(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    cancelled = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, cancelled["qr_token"])
    data(
        await client.post(
            cancel_url(cancelled["id"]),
            json={"reason": "Allergy found"},
            headers=clinic.doctor.headers,
        )
    )
    rejected = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, rejected["qr_token"])
    data(
        await client.post(
            reject_url(rejected["id"]),
            json={"reason": "Dose too high"},
            headers=pharmacy.pharmacist.headers,
        )
    )
    dispensed = await prescribe(client, clinic)
    await scanned_and_validated(client, pharmacy.pharmacist, dispensed)
    data(
        await dispense(
            client, pharmacy.pharmacist, dispensed["id"], line(dispensed["items"][0]["id"], 21)
        )
    )
    expired = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, expired["qr_token"])
    # Its time ran out; the expiry task has not closed it yet.
    admin_sql(
        "UPDATE prescriptions SET issued_at = now() - interval '31 days',"
        " expires_at = now() - interval '1 day' WHERE id = %s",
        [expired["id"]],
    )

    for closed in (cancelled, rejected, dispensed, expired):
        response = await validated(client, pharmacy.pharmacist, closed["id"])
        assert_error(response, 409, "INVALID_STATE_TRANSITION")

    statuses = dict(
        admin_sql(
            "SELECT id::text, status FROM prescriptions WHERE id = ANY(%s::uuid[])",
            [[cancelled["id"], rejected["id"], dispensed["id"], expired["id"]]],
        )
    )
    assert statuses == {
        cancelled["id"]: "cancelled",
        rejected["id"]: "rejected",
        dispensed["id"]: "dispensed",
        expired["id"]: "scanned",
    }


async def test_a_path_that_is_not_an_id_is_400(
    client: httpx.AsyncClient, pharmacy: Pharmacy
) -> None:
    for path in ("validate", "dispense", "reject"):
        response = await client.post(
            f"{API}/pharmacy/{path}/not-an-id",
            json={"items": [], "reason": "x"},
            headers=pharmacy.pharmacist.headers,
        )
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert error["details"], error


async def test_only_pharmacists_validate(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["qr_token"])
    customer = await factory.user("customer")

    assert_error(await client.post(validate_url(written["id"])), 401, "AUTHENTICATION_ERROR")
    for account in (clinic.doctor, clinic.patient, clinic.admin, pharmacy.admin, customer):
        response = await validated(client, account, written["id"])
        assert_error(response, 403, "AUTHORIZATION_ERROR")

    [(status,)] = admin_sql("SELECT status FROM prescriptions WHERE id = %s", [written["id"]])
    assert status == "scanned"
