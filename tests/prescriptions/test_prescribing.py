"""POST /doctors/prescriptions: what a doctor writes, who may write it, for whom, and
what holds under concurrency (Idempotency-Key, numbering) and at rest (encryption)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from medhub.config import Settings
from medhub.kit.db import Database
from medhub.prescriptions import issuing
from medhub.prescriptions.reference import format_reference, new_reference, normalise_reference
from medhub.prescriptions.repository import take_number
from tests import commerce
from tests.assertions import assert_error
from tests.auth.helpers import MakeSettings, limited
from tests.consultations.helpers import (
    AdminSql,
    Clinic,
    ad_hoc,
    audit_count,
    delete_chart,
    make_chart,
    make_clinic,
)
from tests.doctors.helpers import doctor_with_profile
from tests.factories import Factory, mail_to
from tests.prescriptions.helpers import (
    DOCTOR_PRESCRIPTIONS,
    NUMBER,
    REFERENCE,
    instant,
    item,
    lookup,
    make_pharmacy,
    prescribe,
    prescription_body,
)

PUBLIC_BASE_URL = "https://rx.medhub.example"
VALID_DAYS = 28
CONCURRENT = 20


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # A base URL and a validity that are not the defaults, so the answer shows they are
    # read from the settings; a pooled connection per request of the races.
    return make_settings(
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        PRESCRIPTION_VALID_DAYS=VALID_DAYS,
        DATABASE_POOL_SIZE=CONCURRENT + 5,
        DATABASE_POOL_TIMEOUT=60,
    )


async def post(
    client: httpx.AsyncClient, clinic: Clinic, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post(
        DOCTOR_PRESCRIPTIONS, json=body, headers={**clinic.doctor.headers, **headers}
    )


def seed_spelling(**overrides: Any) -> dict[str, Any]:
    """An item with the seed's `dosage` where ours says `strength`."""
    body = item(**overrides)
    del body["strength"]
    return body


def prescription_count(admin_sql: AdminSql) -> int:
    return int(admin_sql("SELECT count(*) FROM prescriptions")[0][0])


# The happy path


async def test_a_doctor_writes_a_prescription(client: httpx.AsyncClient, clinic: Clinic) -> None:
    before = datetime.now(UTC)
    written = await prescribe(
        client,
        clinic,
        items=[
            item(refills=2),
            seed_spelling(
                medicine_name="Ibuprofen",
                dosage="400 mg",
                form="tablet",
                frequency={"every_hours": 8},
                quantity=10,
                instructions=None,
            ),
        ],
    )
    after = datetime.now(UTC)

    match = NUMBER.fullmatch(written["prescription_number"])
    assert match is not None, written["prescription_number"]
    issued_at = instant(written["issued_at"])
    assert before - timedelta(seconds=1) <= issued_at <= after
    assert match.group(1) == f"{issued_at:%Y%m%d}"
    assert REFERENCE.fullmatch(written["reference_number"]), written["reference_number"]
    assert written["status"] == "issued"
    assert written["patient_id"] == str(clinic.chart.id)
    assert written["patient_name"] == "Pat Doe"
    assert written["doctor_id"] == str(clinic.doctor.id)
    assert written["doctor_name"] == "Dr. Ada Meyer"
    assert written["organization_id"] == str(clinic.id)
    assert written["organization_name"] == clinic.organization.name
    assert written["diagnosis"] == "Acute sinusitis"
    assert written["notes"] == "Review in one week if not better"
    assert written["consultation_id"] is None
    assert instant(written["expires_at"]) - issued_at == timedelta(days=VALID_DAYS)

    token = written["qr_token"]
    assert written["verification_url"] == f"{PUBLIC_BASE_URL}/rx/{token}"
    assert written["qr_code"] == {
        "qr_hash": hashlib.sha256(token.encode()).hexdigest(),
        "is_used": False,
        "scan_count": 0,
        "last_scanned_at": None,
        "expires_at": written["expires_at"],
    }
    assert written["dispensations"] == []

    first, second = written["items"]
    assert first["medicine_name"] == "Amoxicillin"
    assert (first["strength"], first["dosage"], first["form"]) == ("500 mg", "500 mg", "capsule")
    assert first["frequency"] == {
        "times_per_day": 3,
        "every_hours": None,
        "text": "three times daily",
    }
    assert (first["quantity"], first["refills"]) == (21, 2)
    # Twice refilled: three times the quantity may be dispensed in all.
    assert (first["allowed_quantity"], first["dispensed_quantity"]) == (63, 0)
    assert first["remaining_quantity"] == 63
    assert first["instructions"] == "Take with food"
    assert first["duration_days"] == 7
    # `dosage` is the seed's name for the strength.
    assert (second["strength"], second["dosage"]) == ("400 mg", "400 mg")
    assert second["frequency"] == {"times_per_day": None, "every_hours": 8, "text": None}
    assert second["remaining_quantity"] == 10
    assert second["instructions"] is None


async def test_a_frequency_may_be_the_seeds_plain_words(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    words = {"times_per_day": None, "every_hours": None, "text": "Twice daily"}
    body = prescription_body(
        clinic,
        items=[
            item(frequency="Twice daily"),
            seed_spelling(medicine_name="Paracetamol", dosage="500mg", frequency=" Once daily "),
        ],
    )
    response = await post(client, clinic, body, **{"Idempotency-Key": "words"})
    assert response.status_code == 201, response.text
    first, second = response.json()["data"]["items"]
    assert first["frequency"] == words
    assert second["frequency"] == {**words, "text": "Once daily"}
    assert admin_sql(
        "SELECT times_per_day, every_hours, frequency_text FROM prescription_items WHERE id = %s",
        [first["id"]],
    ) == [(None, None, "Twice daily")]
    # The same request as its object form: the same words, so the same prescription.
    body["items"][0]["frequency"] = {"text": "Twice daily"}
    body["items"][1]["frequency"] = {"text": "Once daily"}
    again = await post(client, clinic, body, **{"Idempotency-Key": "words"})
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert prescription_count(admin_sql) == 1


async def test_valid_days_sets_the_expiry(client: httpx.AsyncClient, clinic: Clinic) -> None:
    written = await prescribe(client, clinic, valid_days=5)
    assert instant(written["expires_at"]) - instant(written["issued_at"]) == timedelta(days=5)
    assert written["qr_code"]["expires_at"] == written["expires_at"]


async def test_a_prescription_may_name_a_consultation_of_the_chart_and_a_catalog_product(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    consultation = await ad_hoc(client, clinic.doctor, clinic.chart)
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    written = await prescribe(
        client,
        clinic,
        consultation_id=consultation["id"],
        items=[item(product_id=product["id"], medicine_name="Cardiomax")],
    )
    assert written["consultation_id"] == consultation["id"]
    assert written["items"][0]["product_id"] == product["id"]


async def test_the_creation_is_audited_without_clinical_text(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    rows = admin_sql(
        "SELECT user_id, organization_id, entity_type, metadata FROM activity_logs"
        " WHERE action = 'prescription.created' AND entity_id = %s",
        [written["id"]],
    )
    assert len(rows) == 1
    user_id, organization_id, entity_type, metadata = rows[0]
    assert (user_id, organization_id, entity_type) == (clinic.doctor.id, clinic.id, "prescription")
    assert metadata["patient_id"] == str(clinic.chart.id)
    assert metadata["number"] == written["prescription_number"]
    text = str(metadata)
    for clinical in ("sinusitis", "Amoxicillin", "Review in one week", "Take with food"):
        assert clinical not in text, "no clinical content in the audit log"
    assert written["qr_token"] not in text
    assert written["reference_number"] not in text


async def test_clinical_content_and_credentials_are_encrypted_at_rest(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    [raw] = admin_sql(
        "SELECT diagnosis, notes, qr_token, reference_number FROM prescriptions WHERE id = %s",
        [written["id"]],
    )
    [item_raw] = admin_sql(
        "SELECT medicine_name, instructions FROM prescription_items WHERE prescription_id = %s",
        [written["id"]],
    )
    stored = b"".join(bytes(column) for column in (*raw, *item_raw))
    for plaintext in (
        "Acute sinusitis",
        "Review in one week",
        "Amoxicillin",
        "Take with food",
        written["qr_token"],
        written["reference_number"],
        written["reference_number"].replace("-", ""),
    ):
        assert plaintext.encode() not in stored, plaintext
    assert all(len(bytes(column)) > 12 for column in (*raw, *item_raw))


# Bad input


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"items": []}, "items"),
        ({"items": None}, "items"),
        ({"patient_id": "not-a-uuid"}, "patient_id"),
        ({"valid_days": 0}, "valid_days"),
        ({"diagnosis": ""}, "diagnosis"),
        ({"unexpected": 1}, "unexpected"),
        ({"items": [item(quantity=0)]}, "items.0.quantity"),
        ({"items": [item(medicine_name="")]}, "items.0.medicine_name"),
        ({"items": [item(form="syrup-ish")]}, "items.0.form"),
        ({"items": [item(refills=-1)]}, "items.0.refills"),
        (
            {"items": [item(frequency={"times_per_day": 2, "every_hours": 12})]},
            "items.0.frequency",
        ),
        ({"items": [item(frequency={})]}, "items.0.frequency"),
        ({"items": [item(frequency="")]}, "items.0.frequency.text"),
        ({"items": [item(frequency="   ")]}, "items.0.frequency.text"),
        ({"items": [item(frequency="x" * 201)]}, "items.0.frequency.text"),
        ({"items": [item(frequency=2)]}, "items.0.frequency"),
        # Both spellings of the strength at once: which one was meant?
        ({"items": [item(dosage="250 mg")]}, "items.0.dosage"),
        ({"items": [item(frequency={"times_per_day": 0})]}, "items.0.frequency.times_per_day"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    client: httpx.AsyncClient,
    clinic: Clinic,
    admin_sql: AdminSql,
    change: dict[str, Any],
    field: str,
) -> None:
    body = {**prescription_body(clinic), **change}
    assert_error(await post(client, clinic, body), 400, "VALIDATION_ERROR", field)
    assert prescription_count(admin_sql) == 0


async def test_an_unknown_catalog_product_is_400(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    body = prescription_body(clinic, items=[item(), item(product_id=str(uuid.uuid4()))])
    error = assert_error(await post(client, clinic, body), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in error["details"]] == ["items[1].product_id"]
    body = prescription_body(clinic, items=[item(product_id=str(uuid.uuid4()))])
    assert_error(await post(client, clinic, body), 400, "VALIDATION_ERROR", "items[0].product_id")
    assert prescription_count(admin_sql) == 0


async def test_a_consultation_of_another_chart_is_400(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    neighbour = await make_chart(factory.database, clinic.id, first_name="Sam")
    theirs = await ad_hoc(client, clinic.doctor, neighbour)
    body = prescription_body(clinic, consultation_id=theirs["id"])
    assert_error(await post(client, clinic, body), 400, "VALIDATION_ERROR", "consultation_id")
    unknown = prescription_body(clinic, consultation_id=str(uuid.uuid4()))
    assert_error(await post(client, clinic, unknown), 400, "VALIDATION_ERROR", "consultation_id")
    assert prescription_count(admin_sql) == 0


# Who may write, for whom


async def test_a_patient_of_another_organization_is_404(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    elsewhere = await make_clinic(client, factory, "clinic")
    body = prescription_body(elsewhere)
    assert_error(await post(client, clinic, body), 404, "NOT_FOUND")
    unknown = prescription_body(clinic, patient_id=str(uuid.uuid4()))
    assert_error(await post(client, clinic, unknown), 404, "NOT_FOUND")
    # Nor a chart of the organization that was deleted.
    gone = await make_chart(factory.database, clinic.id, first_name="Gone")
    await delete_chart(factory.database, gone.id)
    deleted = prescription_body(clinic, patient_id=str(gone.id))
    assert_error(await post(client, clinic, deleted), 404, "NOT_FOUND")
    assert prescription_count(admin_sql) == 0


async def test_only_approved_doctors_write_prescriptions(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    body = prescription_body(clinic)
    assert_error(await client.post(DOCTOR_PRESCRIPTIONS, json=body), 401, "AUTHENTICATION_ERROR")
    pharmacist = await factory.user(
        "pharmacist", organization_id=(await factory.organization("pharmacy")).id
    )
    customer = await factory.user("customer")
    for account in (clinic.admin, clinic.patient, pharmacist, customer):
        response = await client.post(DOCTOR_PRESCRIPTIONS, json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    waiting = await factory.user("doctor", organization_id=clinic.id, approved=False)
    response = await client.post(DOCTOR_PRESCRIPTIONS, json=body, headers=waiting.headers)
    assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert prescription_count(admin_sql) == 0


async def test_an_approved_doctor_with_an_unverified_email_may_not_prescribe(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    unverified = await factory.user(
        "doctor", organization_id=clinic.id, approved=True, verified=False
    )
    body = prescription_body(clinic)
    response = await client.post(DOCTOR_PRESCRIPTIONS, json=body, headers=unverified.headers)
    error = assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert "Verify your email address" in error["message"]
    assert prescription_count(admin_sql) == 0
    assert audit_count(admin_sql, "prescription.created") == 0
    assert admin_sql("SELECT count(*) FROM prescription_number_days") == [(0,)]


# Idempotency-Key


async def test_a_replayed_key_answers_the_same_and_writes_once(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    body = prescription_body(clinic)
    first = await post(client, clinic, body, **{"Idempotency-Key": "rx-key-1"})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await post(client, clinic, body, **{"Idempotency-Key": "rx-key-1"})
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["data"] == first.json()["data"]
    assert prescription_count(admin_sql) == 1
    assert audit_count(admin_sql, "prescription.created") == 1
    # The patient hears of it once.
    assert len(await mail_to(factory.app, clinic.patient.email, "prescription")) == 1

    other = prescription_body(clinic, diagnosis="Something else")
    reused = await post(client, clinic, other, **{"Idempotency-Key": "rx-key-1"})
    assert_error(reused, 409, "CONFLICT", "Idempotency-Key")
    # Another key is another prescription.
    fresh = await post(client, clinic, body, **{"Idempotency-Key": "rx-key-2"})
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["data"]["id"] != first.json()["data"]["id"]
    assert prescription_count(admin_sql) == 2


async def test_a_key_is_the_doctors_own(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    doctor = await doctor_with_profile(client, factory, clinic.id, full_name="Dr. Colleague")
    colleague = Clinic(clinic.organization, clinic.admin, doctor, clinic.patient, clinic.chart)
    body = prescription_body(clinic)
    mine = await post(client, clinic, body, **{"Idempotency-Key": "shared"})
    theirs = await post(client, colleague, body, **{"Idempotency-Key": "shared"})
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["data"]["doctor_id"] == str(colleague.doctor.id)
    assert prescription_count(admin_sql) == 2


async def test_a_bad_idempotency_key_is_400(client: httpx.AsyncClient, clinic: Clinic) -> None:
    response = await post(client, clinic, prescription_body(clinic), **{"Idempotency-Key": " "})
    assert_error(response, 400, "VALIDATION_ERROR", "Idempotency-Key")


async def test_concurrent_requests_with_one_key_write_one_prescription(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    body = prescription_body(clinic)
    responses = await asyncio.gather(
        *(post(client, clinic, body, **{"Idempotency-Key": "raced"}) for _ in range(CONCURRENT))
    )
    assert Counter(r.status_code for r in responses) == {201: CONCURRENT}, [
        r.text for r in responses if r.status_code != 201
    ]
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    replayed = sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses)
    assert replayed == CONCURRENT - 1
    assert prescription_count(admin_sql) == 1
    assert audit_count(admin_sql, "prescription.created") == 1


async def test_concurrent_prescriptions_get_distinct_numbers(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    body = prescription_body(clinic)
    responses = await asyncio.gather(
        *(post(client, clinic, body, **{"Idempotency-Key": f"key-{n}"}) for n in range(CONCURRENT))
    )
    assert Counter(r.status_code for r in responses) == {201: CONCURRENT}
    written = [r.json()["data"] for r in responses]
    numbers = [row["prescription_number"] for row in written]
    assert all(NUMBER.fullmatch(number) for number in numbers), numbers
    assert len(set(numbers)) == CONCURRENT
    assert len({row["reference_number"] for row in written}) == CONCURRENT
    assert len({row["qr_token"] for row in written}) == CONCURRENT
    stored = admin_sql("SELECT count(DISTINCT number), count(*) FROM prescriptions")
    assert stored == [(CONCURRENT, CONCURRENT)]


# Numbers: RX-<UTC day of issue>-<that day's counter>


def _number_parts(written: dict[str, Any]) -> tuple[date, str]:
    match = NUMBER.fullmatch(written["prescription_number"])
    assert match is not None, written["prescription_number"]
    return datetime.strptime(match.group(1), "%Y%m%d").date(), match.group(2)  # noqa: DTZ007


async def test_numbers_restart_at_0001_on_a_new_day(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    # Earlier days' counters, one of them past 9,999: nothing of theirs carries over.
    today = datetime.now(UTC).date()
    yesterday, before = today - timedelta(days=1), today - timedelta(days=2)
    admin_sql(
        "INSERT INTO prescription_number_days (day, last) VALUES (%s, 10500), (%s, 42)",
        [yesterday, before],
    )

    first = await prescribe(client, clinic)
    second = await prescribe(client, clinic)

    day, counter = _number_parts(first)
    # The UTC day of issue, as the number's date (not the server's or a clinic's zone).
    assert day == instant(first["issued_at"]).astimezone(UTC).date() >= today
    assert counter == "0001"
    assert _number_parts(second) == (day, "0002")
    assert admin_sql("SELECT day, last FROM prescription_number_days ORDER BY day") == [
        (before, 42),
        (yesterday, 10500),
        (day, 2),
    ]


async def test_a_days_counter_grows_past_9999_into_five_digits(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    today = datetime.now(UTC).date()
    # Today and tomorrow: midnight may pass before the prescription is written.
    admin_sql(
        "INSERT INTO prescription_number_days (day, last) VALUES (%s, 9999), (%s, 9999)",
        [today, today + timedelta(days=1)],
    )
    written = await prescribe(client, clinic)
    day, counter = _number_parts(written)
    assert counter == "10000"
    assert written["prescription_number"] == f"RX-{day:%Y%m%d}-10000"


async def test_a_days_counter_is_its_own_and_unique_under_concurrency(
    database: Database,
) -> None:
    """The counter by an explicit day (the repository's parameter), not the clock; each
    number taken in a statement of its own, outside any transaction."""
    first, second = date(2031, 1, 1), date(2031, 1, 2)
    assert [await take_number(database, first) for _ in range(3)] == [1, 2, 3]
    assert await take_number(database, second) == 1
    raced = await asyncio.gather(
        *(take_number(database, date(2031, 1, 3)) for _ in range(CONCURRENT))
    )
    assert sorted(raced) == list(range(1, CONCURRENT + 1))
    assert await take_number(database, first) == 4


async def test_a_request_refused_after_taking_its_number_leaves_a_gap_not_a_duplicate(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    first = await prescribe(client, clinic)
    # No such chart: refused (404) after the number was taken, as a sequence's would be.
    unknown = prescription_body(clinic, patient_id=str(uuid.uuid4()))
    assert_error(await post(client, clinic, unknown), 404, "NOT_FOUND")
    after = await prescribe(client, clinic)
    assert [_number_parts(first)[1], _number_parts(after)[1]] == ["0001", "0003"]
    assert prescription_count(admin_sql) == 2


def _migration_0022() -> Any:
    path = next((Path(__file__).parents[2] / "src/medhub/migrations/versions").glob("0022_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0022", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_migration_starts_each_day_after_the_numbers_it_already_has(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    """Numbers given by the old platform-wide sequence (any counter on any day) are never
    given again: migration 0022 starts each day's counter at its highest."""
    kept = await prescribe(client, clinic)
    moved = await prescribe(client, clinic)
    day, _ = _number_parts(kept)
    admin_sql("UPDATE prescriptions SET number = 'RX-20261130-12345' WHERE id = %s", [moved["id"]])
    admin_sql(
        "UPDATE prescriptions SET number = %s WHERE id = %s", [f"RX-{day:%Y%m%d}-0517", kept["id"]]
    )
    admin_sql("DELETE FROM prescription_number_days")

    admin_sql(_migration_0022().BACKFILL_SQL)

    assert admin_sql("SELECT day, last FROM prescription_number_days ORDER BY day") == [
        (date(2026, 11, 30), 12345),
        (day, 517),
    ]
    after = await prescribe(client, clinic)
    assert _number_parts(after) == (day, "0518")


# Reference numbers: unique by the database, a collision retried with another


def _colliding_once(monkeypatch: pytest.MonkeyPatch, taken: str) -> list[str]:
    """issuing's generator hands out `taken` (an existing reference) first, then real
    ones; what it handed out, in order."""
    handed: list[str] = []

    def generator() -> str:
        reference = taken if not handed else new_reference()
        handed.append(reference)
        return reference

    monkeypatch.setattr(issuing, "new_reference", generator)
    return handed


async def test_a_reference_number_collision_is_retried_with_another(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    admin_sql: AdminSql,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await prescribe(client, clinic)
    taken = normalise_reference(first["reference_number"])
    handed = _colliding_once(monkeypatch, taken)

    written = await prescribe(client, clinic)

    assert handed[0] == taken
    assert len(handed) == 2
    assert written["reference_number"] == format_reference(handed[1])
    assert written["reference_number"] != first["reference_number"]
    assert _number_parts(written)[1] == "0002"
    assert prescription_count(admin_sql) == 2
    assert admin_sql(
        "SELECT count(*) FROM prescription_items WHERE prescription_id = %s", [written["id"]]
    ) == [(1,)]
    assert audit_count(admin_sql, "prescription.created") == 2
    # Each reference finds its own prescription.
    pharmacy = await make_pharmacy(factory, name="Check Pharmacy")
    for prescription in (first, written):
        found = await lookup(client, pharmacy.pharmacist, prescription["reference_number"])
        assert found["prescription"]["id"] == prescription["id"]


async def test_a_reference_that_keeps_colliding_is_given_up_after_three(
    client: httpx.AsyncClient,
    clinic: Clinic,
    admin_sql: AdminSql,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await prescribe(client, clinic)
    taken = normalise_reference(first["reference_number"])
    handed: list[str] = []
    monkeypatch.setattr(issuing, "new_reference", lambda: handed.append(taken) or taken)

    response = await post(client, clinic, prescription_body(clinic))

    assert_error(response, 409, "CONFLICT")
    assert len(handed) == issuing.REFERENCE_ATTEMPTS == 3
    assert prescription_count(admin_sql) == 1
    assert audit_count(admin_sql, "prescription.created") == 1
    # Nothing of it stayed but a gap in the day's numbers (its 0002).
    monkeypatch.undo()
    assert _number_parts(await prescribe(client, clinic))[1] == "0003"


# The seed's limit


async def test_the_eleventh_prescription_in_a_minute_is_429(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    make_settings: MakeSettings,
    backend: str,
) -> None:
    assert make_settings().RATE_LIMIT_PRESCRIPTION_CREATE == "10/minute"
    # The accounts are made (and logged in) where limits are off: logins have theirs.
    colleague = await make_clinic(client, factory, "clinic")
    body = prescription_body(clinic)
    async with limited(make_settings, backend) as served:
        for n in range(10):
            response = await post(served.client, clinic, body)
            assert response.status_code == 201, response.text
            assert response.headers["x-ratelimit-limit"] == "10"
            assert response.headers["x-ratelimit-remaining"] == str(9 - n)
        refused = await post(served.client, clinic, body)
        assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        assert int(refused.headers["x-ratelimit-reset"]) <= time.time() + 62
        # Per user: a colleague still has an allowance of their own; another role is
        # refused for its role, without a 429.
        other = await post(served.client, colleague, prescription_body(colleague))
        assert other.status_code == 201, other.text
        for _ in range(11):
            response = await served.client.post(
                DOCTOR_PRESCRIPTIONS, json=body, headers=clinic.admin.headers
            )
            assert_error(response, 403, "AUTHORIZATION_ERROR")
