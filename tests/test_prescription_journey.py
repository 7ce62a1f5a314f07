"""Issue 15's "Done when", walked end to end through the HTTP API, in order.

A doctor of a hospital prescribes amoxicillin (a catalog product) for a patient; the
patient gets the prescription email over real SMTP, whose inline QR code decodes back
to the verification URL, and sees the prescription in their list; the token verifies
offline with only the published key set and PyJWT. A pharmacist who stocked two
batches scans it, validates it, dispenses half and then the rest, taken first expiry
first out; a second prescription is looked up by its reference number instead. The
pharmacy's history shows both dispensings. Last, the pharmacist reorders from the
supplier, the supplier's staff deliver the order, and it arrives in the pharmacy's
stock.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import httpx
import jwt
import pytest
import zxingcpp
from PIL import Image

from medhub.config import Settings
from tests import commerce
from tests.consultations.helpers import make_clinic
from tests.doctors.helpers import data
from tests.factories import Factory, run_jobs
from tests.mail.smtp import SmtpServer, smtp_overrides, smtp_server
from tests.prescriptions.helpers import (
    HISTORY,
    LOOKUP,
    PATIENT_PRESCRIPTIONS,
    Pharmacy,
    dispense_url,
    item,
    make_pharmacy,
    prescribe,
    scan,
    validate_url,
)

__all__ = ["smtp_server"]

API = "/api/v1"
INVENTORY = f"{API}/pharmacy/inventory"
PUBLIC_BASE_URL = "https://rx.medhub.test"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp_server: SmtpServer) -> Settings:
    return make_settings(**smtp_overrides(smtp_server), PUBLIC_BASE_URL=PUBLIC_BASE_URL)


def _day(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def _qr_of(message: Message) -> str:
    """The text of the QR code shown inline in the email's HTML part."""
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(images) == 1, [part.get_content_type() for part in message.walk()]
    assert images[0]["Content-ID"], "the QR code is an inline part the HTML refers to"
    payload = images[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(payload)))
    assert len(found) == 1
    text: str = found[0].text
    return text


async def _receive(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product_id: str, batch: str, *, days: int, n: int
) -> None:
    response = await client.post(
        f"{INVENTORY}/receive",
        json={
            "product_id": product_id,
            "batch_number": batch,
            "expiry_date": _day(days),
            "quantity": n,
            "unit_cost": "0.10",
        },
        headers=pharmacy.pharmacist.headers,
    )
    data(response, 201)


async def _batches(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product_id: str
) -> dict[str, int]:
    found = data(await client.get(f"{INVENTORY}/{product_id}", headers=pharmacy.admin.headers))
    return {batch["batch_number"]: batch["remaining_quantity"] for batch in found["batches"]}


async def test_doctor_patient_pharmacy_supplier(
    client: httpx.AsyncClient,
    factory: Factory,
    app: Any,
    smtp_server: SmtpServer,
) -> None:
    clinic = await make_clinic(client, factory, "hospital")
    pharmacy = await make_pharmacy(factory, name="Harbour Pharmacy")
    supplier = await commerce.supplier(factory)
    amoxicillin = await commerce.product(
        client, supplier.admin, name="Amoxicillin 500mg", price="4.20"
    )
    await _receive(client, pharmacy, amoxicillin["id"], "AMX-LATE", days=300, n=50)
    await _receive(client, pharmacy, amoxicillin["id"], "AMX-SOON", days=30, n=12)

    # The doctor prescribes.
    written = await prescribe(
        client, clinic, items=[item(product_id=amoxicillin["id"], quantity=20, duration_days=7)]
    )
    assert written["verification_url"].startswith(f"{PUBLIC_BASE_URL}/rx/")

    # The patient receives the email and sees the prescription.
    await run_jobs(app)
    [email] = smtp_server.to(clinic.patient.email, "prescription")
    assert _qr_of(email) == written["verification_url"]
    assert written["reference_number"] in str(email)
    mine = data(await client.get(PATIENT_PRESCRIPTIONS, headers=clinic.patient.headers))
    assert [row["prescription_number"] for row in mine["prescriptions"]] == [
        written["prescription_number"]
    ]

    # Anyone verifies the QR offline with the published keys and a standard library.
    key_set = (await client.get("/.well-known/prescription-keys")).json()
    token = written["verification_url"].rsplit("/rx/", 1)[1]
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(jwk) for jwk in key_set["keys"] if jwk["kid"] == kid)
    claims = jwt.decode(token, key, algorithms=["EdDSA"])
    assert (claims["sub"], claims["num"]) == (written["id"], written["prescription_number"])

    # The pharmacist scans, validates, dispenses half, then the rest (FEFO).
    scanned = await scan(client, pharmacy.pharmacist, written["verification_url"])
    assert (scanned["is_valid"], scanned["can_dispense"]) == (True, True)
    data(await client.post(validate_url(written["id"]), headers=pharmacy.pharmacist.headers))
    item_id = written["items"][0]["id"]
    for quantity, status in ((10, "partially_dispensed"), (10, "dispensed")):
        dispensed = data(
            await client.post(
                dispense_url(written["id"]),
                json={"items": [{"item_id": item_id, "quantity": quantity, "unit_price": "0.40"}]},
                headers=pharmacy.pharmacist.headers,
            )
        )
        assert dispensed["prescription"]["status"] == status
    # 12 from the batch that expires first (emptied, so no longer listed), then 8 from
    # the other.
    assert await _batches(client, pharmacy, amoxicillin["id"]) == {"AMX-LATE": 42}

    # Another prescription, found by its reference number instead of a scan.
    second = await prescribe(client, clinic, items=[item(quantity=6)])
    typed = second["reference_number"].lower().replace("-", " ")
    found = data(
        await client.post(
            LOOKUP, json={"reference_number": typed}, headers=pharmacy.pharmacist.headers
        )
    )
    assert found["prescription"]["id"] == second["id"]
    data(await client.post(validate_url(second["id"]), headers=pharmacy.pharmacist.headers))
    data(
        await client.post(
            dispense_url(second["id"]),
            json={"items": [{"item_id": second["items"][0]["id"], "quantity": 6}]},
            headers=pharmacy.pharmacist.headers,
        )
    )

    history = data(await client.get(HISTORY, headers=pharmacy.admin.headers))
    assert history["totals"]["dispensed"] == 3
    assert {row["prescription_number"] for row in history["history"]} == {
        written["prescription_number"],
        second["prescription_number"],
    }

    # The pharmacy restocks from the supplier; the delivered order arrives in stock.
    address_id = await commerce.address(client, pharmacy.pharmacist)
    placed = data(
        await client.post(
            f"{INVENTORY}/reorder",
            json={
                "items": [{"product_id": amoxicillin["id"], "quantity": 100}],
                "shipping_address_id": address_id,
            },
            headers=pharmacy.pharmacist.headers,
        ),
        201,
    )
    url = f"{API}/orders/{placed['order_id']}/status"
    for step in (
        {"status": "confirmed"},
        {"status": "processing"},
        {"status": "shipped", "tracking_number": "JD0146000038", "carrier": "DHL"},
        {"status": "delivered"},
    ):
        data(await client.put(url, json=step, headers=supplier.sales.headers))
    stock = await _batches(client, pharmacy, amoxicillin["id"])
    assert stock == {"AMX-LATE": 42, f"{placed['order_number']}-1": 100}
