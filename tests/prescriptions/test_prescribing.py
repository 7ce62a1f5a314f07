"""POST /doctors/prescriptions: what a doctor writes, who may write it, for whom, and
what holds under concurrency (Idempotency-Key, numbering) and at rest (encryption)."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from medhub.config import Settings
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
