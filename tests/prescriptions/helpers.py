"""What the prescription and pharmacy tests stand on: a care organization with an
approved doctor and a patient (tests/consultations/helpers.make_clinic), pharmacies
with an admin and pharmacists, and prescriptions written through the real endpoint.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from typing import Any

import httpx
import zxingcpp
from PIL import Image

from medhub.kit.db import Database
from medhub.kit.tenancy import set_system_context
from medhub.models.identity import Organization
from medhub.models.patients import Patient
from tests import commerce
from tests.consultations.helpers import Clinic, make_chart
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory

API = "/api/v1"
DOCTOR_PRESCRIPTIONS = f"{API}/doctors/prescriptions"
PATIENT_PRESCRIPTIONS = f"{API}/patients/prescriptions"
SCAN = f"{API}/pharmacy/scan"
LOOKUP = f"{API}/pharmacy/lookup"
HISTORY = f"{API}/pharmacy/history"
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000dead")

AdminSql = Callable[..., list[tuple[Any, ...]]]


def validate_url(prescription_id: str | uuid.UUID) -> str:
    return f"{API}/pharmacy/validate/{prescription_id}"


def dispense_url(prescription_id: str | uuid.UUID) -> str:
    return f"{API}/pharmacy/dispense/{prescription_id}"


def reject_url(prescription_id: str | uuid.UUID) -> str:
    return f"{API}/pharmacy/reject/{prescription_id}"


def cancel_url(prescription_id: str | uuid.UUID) -> str:
    return f"{DOCTOR_PRESCRIPTIONS}/{prescription_id}/cancel"


@dataclass
class Pharmacy:
    organization: Organization
    admin: Account
    pharmacist: Account

    @property
    def id(self) -> uuid.UUID:
        return self.organization.id


async def make_pharmacy(factory: Factory, name: str | None = None) -> Pharmacy:
    organization = await factory.organization("pharmacy", name=name)
    admin = await factory.user("admin", organization_id=organization.id)
    pharmacist = await factory.user(
        "pharmacist", organization_id=organization.id, full_name="Phil Pharmacist"
    )
    return Pharmacy(organization, admin, pharmacist)


def item(**overrides: Any) -> dict[str, Any]:
    return {
        "medicine_name": "Amoxicillin",
        "strength": "500 mg",
        "form": "capsule",
        "frequency": {"times_per_day": 3, "text": "three times daily"},
        "duration_days": 7,
        "quantity": 21,
        "instructions": "Take with food",
        **overrides,
    }


def prescription_body(clinic: Clinic, **overrides: Any) -> dict[str, Any]:
    return {
        "patient_id": str(clinic.chart.id),
        "diagnosis": "Acute sinusitis",
        "notes": "Review in one week if not better",
        "items": [item()],
        **overrides,
    }


async def prescribe(client: httpx.AsyncClient, clinic: Clinic, **overrides: Any) -> dict[str, Any]:
    """A prescription written by the clinic's doctor for its patient, through the API."""
    response = await client.post(
        DOCTOR_PRESCRIPTIONS,
        json=prescription_body(clinic, **overrides),
        headers=clinic.doctor.headers,
    )
    result: dict[str, Any] = data(response, 201)
    return result


async def scan(
    client: httpx.AsyncClient, pharmacist: Account, qr_data: str, status: int = 200
) -> dict[str, Any]:
    response = await client.post(SCAN, json={"qr_data": qr_data}, headers=pharmacist.headers)
    result: dict[str, Any] = data(response, status)
    return result


async def scanned_and_validated(
    client: httpx.AsyncClient, pharmacist: Account, prescription: dict[str, Any]
) -> dict[str, Any]:
    await scan(client, pharmacist, prescription["verification_url"])
    response = await client.post(validate_url(prescription["id"]), headers=pharmacist.headers)
    result: dict[str, Any] = data(response)
    return result


# The pharmacy's side: presenting, dispensing, stock (tests/prescriptions/test_scan.py...)

INVENTORY = f"{API}/pharmacy/inventory"


async def lookup(client: httpx.AsyncClient, pharmacist: Account, reference: str) -> dict[str, Any]:
    response = await client.post(
        LOOKUP, json={"reference_number": reference}, headers=pharmacist.headers
    )
    result: dict[str, Any] = data(response)
    return result


def line(item_id: str, quantity: int, **extra: Any) -> dict[str, Any]:
    """One line of a dispense request."""
    return {"item_id": item_id, "quantity": quantity, **extra}


async def dispense(
    client: httpx.AsyncClient, pharmacist: Account, prescription_id: str, *lines: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        dispense_url(prescription_id), json={"items": list(lines)}, headers=pharmacist.headers
    )


async def validated(
    client: httpx.AsyncClient, pharmacist: Account, prescription_id: str
) -> httpx.Response:
    return await client.post(validate_url(prescription_id), headers=pharmacist.headers)


async def catalog_product(
    client: httpx.AsyncClient, factory: Factory, name: str = "Amoxil 500mg"
) -> dict[str, Any]:
    """A supplier's catalog product (what a prescription item's `product_id` names)."""
    supplier = await commerce.supplier(factory)
    return await commerce.product(client, supplier.admin, name=name, price="12.50")


async def receive_stock(  # noqa: PLR0917 - a receipt's fields, as the endpoint takes them
    client: httpx.AsyncClient,
    account: Account,
    product_id: str,
    batch_number: str,
    quantity: int,
    expiry_date: date,
) -> None:
    """Units of a product into the pharmacy's stock, through its inventory endpoint."""
    response = await client.post(
        f"{INVENTORY}/receive",
        json={
            "product_id": product_id,
            "batch_number": batch_number,
            "expiry_date": expiry_date.isoformat(),
            "quantity": quantity,
            "unit_cost": "2.40",
        },
        headers=account.headers,
    )
    data(response, 201)


def today() -> date:
    return datetime.now(UTC).date()


def in_days(days: int) -> date:
    return today() + timedelta(days=days)


def stock_batches(admin_sql: AdminSql, pharmacy_id: uuid.UUID, product_id: str) -> dict[str, int]:
    """Units left by batch number, straight from the database."""
    rows = admin_sql(
        "SELECT batch_number, remaining_quantity FROM pharmacy_batches"
        " WHERE organization_id = %s AND product_id = %s",
        [pharmacy_id, product_id],
    )
    return {str(number): int(left) for number, left in rows}


def dispensed_quantities(admin_sql: AdminSql, prescription_id: str) -> list[int]:
    rows = admin_sql(
        "SELECT dispensed_quantity FROM prescription_items WHERE prescription_id = %s"
        " ORDER BY position",
        [prescription_id],
    )
    return [int(row[0]) for row in rows]


def count_rows(admin_sql: AdminSql, table: str, prescription_id: str) -> int:
    """Rows of `table` (dispensations, prescription_pharmacy_access) for a prescription."""
    assert table in {"dispensations", "prescription_pharmacy_access"}
    [(count,)] = admin_sql(
        f"SELECT count(*) FROM {table} WHERE prescription_id = %s",
        [prescription_id],
    )
    return int(count)


def audit_actions(admin_sql: AdminSql, entity_id: str | None = None) -> list[str]:
    """The audit log's actions about prescriptions (about one, when given), oldest first."""
    if entity_id is None:
        rows = admin_sql(
            "SELECT action FROM activity_logs WHERE entity_type = 'prescription' ORDER BY seq"
        )
    else:
        rows = admin_sql(
            "SELECT action FROM activity_logs WHERE entity_type = 'prescription'"
            " AND entity_id = %s ORDER BY seq",
            [entity_id],
        )
    return [str(row[0]) for row in rows]


# The doctor's and the patient's side (test_prescribing, test_reading, test_cancel,
# test_qr_codes, test_prescription_email, test_expiry)

QR_CODES = f"{API}/qr-codes"
NOTIFICATIONS = f"{API}/notifications"
# The UTC day of issue and that day's counter: four digits at least, five past the
# 9,999th prescription of a day.
NUMBER = re.compile(r"RX-(\d{8})-(\d{4,})")
# Crockford base32 (no I, L, O, U), three groups of four.
REFERENCE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
PNG_DATA_URL = "data:image/png;base64,"


def doctor_prescription_url(prescription_id: str | uuid.UUID) -> str:
    return f"{DOCTOR_PRESCRIPTIONS}/{prescription_id}"


def patient_prescription_url(prescription_id: str | uuid.UUID) -> str:
    return f"{PATIENT_PRESCRIPTIONS}/{prescription_id}"


def qr_code_url(prescription_id: str | uuid.UUID) -> str:
    return f"{QR_CODES}/{prescription_id}"


def qr_email_url(prescription_id: str | uuid.UUID) -> str:
    return f"{QR_CODES}/email/{prescription_id}"


def instant(value: str) -> datetime:
    """An API timestamp (`...Z`) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def decoded_png(png: bytes) -> list[str]:
    """What a phone-grade decoder (zxing-cpp) reads in a PNG."""
    return [barcode.text for barcode in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def decoded_data_url(value: str) -> list[str]:
    assert value.startswith(PNG_DATA_URL), value[:40]
    return decoded_png(base64.b64decode(value.removeprefix(PNG_DATA_URL)))


async def second_clinic_of(client: httpx.AsyncClient, factory: Factory, patient: Account) -> Clinic:
    """Another clinic, whose chart of the same person is linked to `patient`'s account."""
    organization = await factory.organization("clinic")
    admin = await factory.user("admin", organization_id=organization.id)
    doctor = await doctor_with_profile(client, factory, organization.id, full_name="Dr. Bo Lind")
    chart = await make_chart(factory.database, organization.id, user_id=patient.id)
    return Clinic(organization, admin, doctor, patient, chart)


async def chart_with_email(
    database: Database,
    organization_id: uuid.UUID,
    email: str | None,
    *,
    first_name: str = "Nora",
    last_name: str = "Field",
) -> Patient:
    """A chart with no account linked to it, and (maybe) an email address of its own."""
    chart = await make_chart(
        database, organization_id, user_id=None, first_name=first_name, last_name=last_name
    )
    async with database.unit_of_work() as session:
        await set_system_context(session)
        row = await session.get(Patient, chart.id)
        assert row is not None
        row.email = email
    chart.email = email
    return chart


async def dispense_some(
    client: httpx.AsyncClient,
    pharmacy: Pharmacy,
    prescription: dict[str, Any],
    quantity: int,
) -> dict[str, Any]:
    """Scan, validate and dispense `quantity` of the first (free-text) item."""
    await scanned_and_validated(client, pharmacy.pharmacist, prescription)
    line = {
        "item_id": prescription["items"][0]["id"],
        "quantity": quantity,
        "batch_number": "B-1",
        "expiry_date": "2099-01-01",
        "unit_price": "0.50",
    }
    response = await client.post(
        dispense_url(prescription["id"]),
        json={"items": [line]},
        headers=pharmacy.pharmacist.headers,
    )
    result: dict[str, Any] = data(response)
    return result


def part_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def parts_of(message: Message, content_type: str) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() == content_type]


def html_body(message: Message) -> str:
    [part] = parts_of(message, "text/html")
    return part_bytes(part).decode()
