"""Expiry: the periodic task (`lifecycle.expire_due`) closes the open prescriptions past
`expires_at`, and only those, once; an expired prescription still scans, as not valid
and not dispensable, and can no longer be cancelled."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from medhub.kit.db import Database
from medhub.kit.jobs import defer
from medhub.prescriptions import lifecycle, tasks
from tests.assertions import assert_error
from tests.consultations.helpers import AdminSql, Clinic, audit_count
from tests.doctors.helpers import data
from tests.factories import run_jobs
from tests.prescriptions.helpers import (
    PATIENT_PRESCRIPTIONS,
    Pharmacy,
    cancel_url,
    dispense_some,
    dispense_url,
    doctor_prescription_url,
    item,
    prescribe,
    scan,
    validate_url,
)


def run_out(admin_sql: AdminSql, prescription: dict[str, Any], hours_ago: int = 1) -> None:
    """Move the prescription's validity into the past (as time would)."""
    admin_sql(
        "UPDATE prescriptions SET issued_at = now() - interval '40 days',"
        " expires_at = now() - make_interval(hours => %s) WHERE id = %s",
        [hours_ago, prescription["id"]],
    )


def statuses(admin_sql: AdminSql) -> dict[str, str]:
    return {str(row[0]): row[1] for row in admin_sql("SELECT id, status FROM prescriptions")}


async def test_the_task_closes_open_prescriptions_past_their_expiry_once(
    client: httpx.AsyncClient,
    database: Database,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    issued = await prescribe(client, clinic)
    scanned = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, scanned["verification_url"])
    partly = await prescribe(client, clinic, items=[item(quantity=10)])
    await dispense_some(client, pharmacy, partly, 3)
    cancelled = await prescribe(client, clinic)
    data(
        await client.post(
            cancel_url(cancelled["id"]),
            json={"reason": "Not needed"},
            headers=clinic.doctor.headers,
        )
    )
    dispensed = await prescribe(client, clinic, items=[item(quantity=2)])
    await dispense_some(client, pharmacy, dispensed, 2)
    still_valid = await prescribe(client, clinic)
    for prescription in (issued, scanned, partly, cancelled, dispensed):
        run_out(admin_sql, prescription)

    assert await lifecycle.expire_due(database) == 3
    assert statuses(admin_sql) == {
        issued["id"]: "expired",
        scanned["id"]: "expired",
        partly["id"]: "expired",
        cancelled["id"]: "cancelled",
        dispensed["id"]: "dispensed",
        still_valid["id"]: "issued",
    }
    assert audit_count(admin_sql, "prescription.expired") == 3
    rows = admin_sql(
        "SELECT entity_id, organization_id, metadata FROM activity_logs"
        " WHERE action = 'prescription.expired' AND entity_id = %s",
        [issued["id"]],
    )
    assert [(str(row[0]), row[1]) for row in rows] == [(issued["id"], clinic.id)]
    assert rows[0][2]["patient_id"] == str(clinic.chart.id)
    # Idempotent: nothing more to close.
    assert await lifecycle.expire_due(database) == 0
    assert audit_count(admin_sql, "prescription.expired") == 3

    # The doctor and the patient read it as expired, remaining quantities as they were.
    read = data(
        await client.get(doctor_prescription_url(partly["id"]), headers=clinic.doctor.headers)
    )
    assert read["status"] == "expired"
    assert read["items"][0]["remaining_quantity"] == 7
    own = data(
        await client.get(
            PATIENT_PRESCRIPTIONS, params={"status": "expired"}, headers=clinic.patient.headers
        )
    )
    assert {row["id"] for row in own["prescriptions"]} == {
        issued["id"],
        scanned["id"],
        partly["id"],
    }


async def test_a_prescription_due_this_instant_is_expired_and_one_due_later_is_not(
    client: httpx.AsyncClient, database: Database, clinic: Clinic, admin_sql: AdminSql
) -> None:
    due = await prescribe(client, clinic)
    later = await prescribe(client, clinic, valid_days=1)
    admin_sql(
        "UPDATE prescriptions SET issued_at = now() - interval '2 days', expires_at = now()"
        " WHERE id = %s",
        [due["id"]],
    )
    assert await lifecycle.expire_due(database) == 1
    assert statuses(admin_sql) == {due["id"]: "expired", later["id"]: "issued"}


async def test_the_periodic_job_runs_the_expiry(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    clinic: Clinic,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    run_out(admin_sql, written)
    async with database.unit_of_work() as session:
        await defer(session, tasks.expire_prescriptions, timestamp=0)
    await run_jobs(app)
    assert statuses(admin_sql) == {written["id"]: "expired"}


async def test_an_expired_prescription_scans_as_not_valid_and_is_not_dispensed(
    client: httpx.AsyncClient,
    database: Database,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    await scan(client, pharmacy.pharmacist, written["verification_url"])
    run_out(admin_sql, written)
    # Past its time, before the task has run: already not valid.
    early = await scan(client, pharmacy.pharmacist, written["verification_url"])
    assert (early["is_valid"], early["can_dispense"]) == (False, False)
    assert await lifecycle.expire_due(database) == 1
    scanned = await scan(client, pharmacy.pharmacist, written["verification_url"])
    assert scanned["is_valid"] is False
    assert scanned["can_dispense"] is False
    assert scanned["reason"]
    assert scanned["prescription"]["status"] == "expired"
    assert scanned["prescription"]["qr_code"]["scan_count"] == 3
    response = await client.post(validate_url(written["id"]), headers=pharmacy.pharmacist.headers)
    assert_error(response, 409)
    line = {"item_id": written["items"][0]["id"], "quantity": 1}
    response = await client.post(
        dispense_url(written["id"]), json={"items": [line]}, headers=pharmacy.pharmacist.headers
    )
    assert_error(response, 409)
    response = await client.post(
        cancel_url(written["id"]), json={"reason": "Too late"}, headers=clinic.doctor.headers
    )
    assert_error(response, 409, "INVALID_STATE_TRANSITION")


async def test_a_prescription_past_its_time_cannot_be_cancelled_before_the_sweep(
    client: httpx.AsyncClient, database: Database, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    run_out(admin_sql, written)
    response = await client.post(
        cancel_url(written["id"]), json={"reason": "Too late"}, headers=clinic.doctor.headers
    )
    assert_error(response, 409, "INVALID_STATE_TRANSITION")
    # The sweep still closes it as what it is: expired.
    assert await lifecycle.expire_due(database) == 1
    assert statuses(admin_sql) == {written["id"]: "expired"}
