"""PUT /consultations/{id}: findings (validated, encrypted at rest), the status machine
(scheduled → in_progress → completed | cancelled), the lock on closed consultations,
and completing the appointment with its consultation."""

from __future__ import annotations

import uuid
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
    from_appointment,
    make_appointment,
    put,
)
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Factory

FINDINGS: dict[str, Any] = {
    "chief_complaint": "Cough for two weeks",
    "diagnosis": "Acute upper respiratory infection",
    "icd10_codes": ["j06.9", "R05.1", "J06.9"],
    "notes": "Lungs clear on auscultation. Zebra-striped-secret-note.",
    "vitals": {
        "heart_rate": 72,
        "systolic": 120,
        "diastolic": 80,
        "temperature_c": 37.4,
        "spo2": 98,
        "respiratory_rate": 14,
        "weight_kg": 70.5,
        "height_cm": 172,
    },
    "follow_up_on": "2026-12-20",
    "follow_up_notes": "Come back if the fever rises",
}


async def test_a_doctor_records_the_findings(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    updated = data(await put(client, clinic.doctor, made["id"], **FINDINGS))
    assert updated["diagnosis"] == FINDINGS["diagnosis"]
    # Normalised to upper case, once each, in the order given.
    assert updated["icd10_codes"] == ["J06.9", "R05.1"]
    assert updated["vitals"] == FINDINGS["vitals"]
    assert updated["follow_up_on"] == "2026-12-20"
    assert updated["status"] == "scheduled"
    # Partial: what is not sent stays; null clears.
    cleared = data(await put(client, clinic.doctor, made["id"], follow_up_notes=None))
    assert cleared["follow_up_notes"] is None
    assert cleared["notes"] == FINDINGS["notes"]
    rows = admin_sql(
        "SELECT metadata FROM activity_logs WHERE action = 'consultation.updated'"
        " AND entity_id = %s ORDER BY created_at, id",
        [made["id"]],
    )
    assert rows[0][0]["fields"] == sorted(FINDINGS)
    assert "Zebra" not in str(rows)


async def test_clinical_content_is_encrypted_at_rest(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    data(await put(client, clinic.doctor, made["id"], **FINDINGS))
    row = admin_sql(
        "SELECT chief_complaint, diagnosis, icd10_codes, notes, vitals, follow_up_notes"
        " FROM consultations WHERE id = %s",
        [made["id"]],
    )[0]
    stored = b"".join(bytes(value) for value in row)
    for plaintext in (
        b"Cough for two weeks",
        b"Acute upper respiratory",
        b"J06.9",
        b"Zebra-striped-secret-note",
        b"heart_rate",
        b"fever rises",
    ):
        assert plaintext not in stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vitals": {"heart_rate": 720}}, "vitals.heart_rate"),
        ({"vitals": {"heart_rate": 19}}, "vitals.heart_rate"),
        ({"vitals": {"temperature_c": 47}}, "vitals.temperature_c"),
        ({"vitals": {"spo2": 101}}, "vitals.spo2"),
        ({"vitals": {"respiratory_rate": 4}}, "vitals.respiratory_rate"),
        ({"vitals": {"weight_kg": 0}}, "vitals.weight_kg"),
        ({"vitals": {"height_cm": 400}}, "vitals.height_cm"),
        ({"vitals": {"systolic": 80, "diastolic": 120}}, "vitals.diastolic"),
        ({"vitals": {"systolic": 120}}, "vitals"),
        ({"vitals": {"pulse": 70}}, "vitals.pulse"),
        ({"icd10_codes": ["U07.1"]}, "icd10_codes.0"),
        ({"icd10_codes": ["J06.9", "flu"]}, "icd10_codes.1"),
        ({"icd10_codes": ["J06.99999"]}, "icd10_codes.0"),
        ({"icd10_codes": [f"J{n}.0" for n in range(10, 31)]}, "icd10_codes"),
        ({"follow_up_on": "next week"}, "follow_up_on"),
        ({"notes": "x" * 20001}, "notes"),
        ({"status": None}, "status"),
        ({"status": "finished"}, "status"),
        ({"cancelled_reason": "Patient left"}, "cancelled_reason"),
        ({"patient_id": str(UNKNOWN)}, "patient_id"),
    ],
)
async def test_bad_findings_are_refused_with_details(
    client: httpx.AsyncClient, clinic: Clinic, body: dict[str, Any], field: str
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    assert_error(
        await put(client, clinic.doctor, made["id"], **body), 400, "VALIDATION_ERROR", field
    )


async def test_the_status_machine(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    refused = await put(client, clinic.doctor, made["id"], status="completed")
    error = assert_error(refused, 409, "INVALID_STATE_TRANSITION", "status")
    assert error["message"] == "A scheduled consultation cannot become completed"

    started = data(await put(client, clinic.doctor, made["id"], status="in_progress"))
    assert started["status"] == "in_progress"
    assert started["started_at"] is not None
    # Asking for the status it has changes nothing (a repeated PUT is harmless).
    again = data(await put(client, clinic.doctor, made["id"], status="in_progress"))
    assert again["started_at"] == started["started_at"]

    done = data(await put(client, clinic.doctor, made["id"], status="completed", notes="Done"))
    assert done["status"] == "completed"
    assert done["ended_at"] is not None
    assert done["notes"] == "Done"
    for status in ("in_progress", "cancelled", "scheduled"):
        assert_error(
            await put(client, clinic.doctor, made["id"], status=status),
            409,
            "INVALID_STATE_TRANSITION",
        )
    assert audit_count(admin_sql, "consultation.status_changed", made["id"]) == 2


@pytest.mark.parametrize("start", [False, True])
async def test_a_consultation_is_cancelled_with_a_reason(
    client: httpx.AsyncClient, clinic: Clinic, start: bool
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    if start:
        data(await put(client, clinic.doctor, made["id"], status="in_progress"))
    cancelled = data(
        await put(
            client, clinic.doctor, made["id"], status="cancelled", cancelled_reason="Patient left"
        )
    )
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_reason"] == "Patient left"
    assert_error(
        await put(client, clinic.doctor, made["id"], status="in_progress"),
        409,
        "INVALID_STATE_TRANSITION",
    )


@pytest.mark.parametrize("closing", ["completed", "cancelled"])
async def test_a_closed_consultations_findings_are_locked(
    client: httpx.AsyncClient, clinic: Clinic, closing: str
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    data(await put(client, clinic.doctor, made["id"], status="in_progress", diagnosis="Flu"))
    data(await put(client, clinic.doctor, made["id"], status=closing))
    for body in ({"diagnosis": "Cold"}, {"notes": "addendum"}, {"vitals": None}):
        error = assert_error(await put(client, clinic.doctor, made["id"], **body), 409, "CONFLICT")
        assert f"is {closing}" in error["message"]
    assert data(await put(client, clinic.doctor, made["id"]))["diagnosis"] == "Flu"


async def test_completing_the_consultation_completes_its_appointment(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    appointment = await make_appointment(
        factory.database, clinic.chart, clinic.doctor, status="in_progress"
    )
    made = await from_appointment(client, clinic.doctor, appointment)
    data(await put(client, clinic.doctor, made["id"], status="completed"))
    status = admin_sql("SELECT status FROM appointments WHERE id = %s", [appointment.id])
    assert status == [("completed",)]
    assert appointment_moves(admin_sql, appointment.id) == [("in_progress", "completed")]


def appointment_moves(admin_sql: AdminSql, appointment_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = admin_sql(
        "SELECT metadata->>'from', metadata->>'to' FROM activity_logs"
        " WHERE action = 'appointment.status_changed' AND entity_id = %s"
        " AND metadata->>'via' = 'consultation' ORDER BY seq",
        [str(appointment_id)],
    )
    return [(str(before), str(after)) for before, after in rows]


async def test_the_appointment_follows_its_consultation_from_confirmed(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    appointment = await make_appointment(factory.database, clinic.chart, clinic.doctor)
    made = await from_appointment(client, clinic.doctor, appointment)
    data(await put(client, clinic.doctor, made["id"], status="in_progress"))
    status = admin_sql("SELECT status FROM appointments WHERE id = %s", [appointment.id])
    assert status == [("in_progress",)]
    data(await put(client, clinic.doctor, made["id"], status="completed"))
    status = admin_sql("SELECT status FROM appointments WHERE id = %s", [appointment.id])
    assert status == [("completed",)]
    assert appointment_moves(admin_sql, appointment.id) == [
        ("confirmed", "in_progress"),
        ("in_progress", "completed"),
    ]


async def test_any_doctor_of_the_organization_writes_others_may_not(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, other_clinic: Clinic
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    colleague = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Two")
    assert data(await put(client, colleague, made["id"], notes="Seen too"))["notes"] == "Seen too"
    assert_error(await put(client, other_clinic.doctor, made["id"], notes="x"), 404, "NOT_FOUND")
    assert_error(await put(client, clinic.doctor, str(UNKNOWN), notes="x"), 404, "NOT_FOUND")
    for account in (clinic.patient, clinic.admin):
        assert_error(await put(client, account, made["id"], notes="x"), 403, "AUTHORIZATION_ERROR")
