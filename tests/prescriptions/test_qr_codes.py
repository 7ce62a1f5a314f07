"""GET /qr-codes/{id} (the seed's shape: PNG and SVG, qr_hash, is_used, scan_count,
expires_at) and POST /qr-codes/email/{id} (the prescription email again): for the
prescription's doctors and its patient only. The PNG is decoded back to the
verification URL, as a phone would."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx
import pytest
import segno
from fastapi import FastAPI

from medhub.prescriptions import qr
from tests.assertions import assert_error
from tests.auth.helpers import MakeSettings, limited
from tests.consultations.helpers import AdminSql, Clinic, audit_count, make_chart, make_clinic
from tests.doctors.helpers import data
from tests.factories import Factory, mail_to
from tests.prescriptions.helpers import (
    UNKNOWN,
    Pharmacy,
    cancel_url,
    decoded_data_url,
    decoded_png,
    dispense_some,
    item,
    part_bytes,
    parts_of,
    prescribe,
    qr_code_url,
    qr_email_url,
    second_clinic_of,
)


async def test_the_patient_gets_the_qr_code_in_the_seeds_shape(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    code = data(await client.get(qr_code_url(written["id"]), headers=clinic.patient.headers))
    token = written["qr_token"]
    assert code["prescription_id"] == written["id"]
    assert code["prescription_number"] == written["prescription_number"]
    assert code["reference_number"] == written["reference_number"]
    assert code["qr_token"] == token
    assert code["verification_url"] == written["verification_url"]
    assert code["qr_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert code["is_used"] is False
    assert code["scan_count"] == 0
    assert code["last_scanned_at"] is None
    assert code["expires_at"] == written["expires_at"]
    # What a phone camera reads: the verification URL, exactly.
    assert decoded_data_url(code["image_png"]) == [written["verification_url"]]
    assert code["image_svg"].startswith("<svg")
    assert code["image_svg"].rstrip().endswith("</svg>")
    assert "Prescription QR code" in code["image_svg"]
    assert audit_count(admin_sql, "prescription.qr_read", written["id"]) == 1


async def test_the_images_are_rendered_on_the_qr_pool_not_the_event_loop(
    client: httpx.AsyncClient, app: FastAPI, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered_on: list[str] = []
    symbol = qr._symbol

    def recorded(data: str) -> segno.QRCode:
        rendered_on.append(threading.current_thread().name)
        return symbol(data)

    monkeypatch.setattr(qr, "_symbol", recorded)
    written = await prescribe(client, clinic)
    [email] = await mail_to(app, clinic.patient.email, "prescription")  # runs its job
    code = data(await client.get(qr_code_url(written["id"]), headers=clinic.patient.headers))

    # One symbol for the email's PNG, one for the endpoint's PNG and SVG together; both
    # on the pool's threads.
    assert len(rendered_on) == 2, rendered_on
    assert all(name.startswith(qr.RENDER_THREAD_PREFIX) for name in rendered_on), rendered_on
    assert decoded_data_url(code["image_png"]) == [written["verification_url"]]
    [image] = parts_of(email, "image/png")
    assert decoded_png(part_bytes(image)) == [written["verification_url"]]


async def test_its_doctors_get_it_and_it_shows_its_use(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(client, clinic, items=[item(quantity=10)])
    await dispense_some(client, pharmacy, written, 4)
    code = data(await client.get(qr_code_url(written["id"]), headers=clinic.doctor.headers))
    assert code["is_used"] is True
    assert code["scan_count"] == 1
    assert code["last_scanned_at"] is not None
    assert decoded_data_url(code["image_png"]) == [written["verification_url"]]


async def test_a_patient_reaches_the_codes_of_every_organization_of_theirs(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic
) -> None:
    other = await second_clinic_of(client, factory, clinic.patient)
    there = await prescribe(client, other)
    code = data(await client.get(qr_code_url(there["id"]), headers=clinic.patient.headers))
    assert code["verification_url"] == there["verification_url"]
    # The first clinic's doctor does not.
    response = await client.get(qr_code_url(there["id"]), headers=clinic.doctor.headers)
    assert_error(response, 404, "NOT_FOUND")


async def test_nobody_else_gets_the_qr_code(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    written = await prescribe(client, clinic)
    url = qr_code_url(written["id"])
    assert_error(await client.get(url), 401, "AUTHENTICATION_ERROR")
    customer = await factory.user("customer")
    for account in (pharmacy.pharmacist, pharmacy.admin, clinic.admin, customer):
        assert_error(await client.get(url, headers=account.headers), 403, "AUTHORIZATION_ERROR")
    neighbour = await factory.user("patient")
    await make_chart(factory.database, clinic.id, user_id=neighbour.id, first_name="Sam")
    assert_error(await client.get(url, headers=neighbour.headers), 404, "NOT_FOUND")
    elsewhere = await make_clinic(client, factory, "clinic")
    assert_error(await client.get(url, headers=elsewhere.doctor.headers), 404, "NOT_FOUND")
    unknown = qr_code_url(UNKNOWN)
    assert_error(await client.get(unknown, headers=clinic.patient.headers), 404, "NOT_FOUND")
    bad = qr_code_url("not-a-uuid")
    assert_error(await client.get(bad, headers=clinic.patient.headers), 400, "VALIDATION_ERROR")


# POST /qr-codes/email/{id}


async def test_the_email_is_sent_again_with_the_qr_code_inline(
    client: httpx.AsyncClient, app: FastAPI, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    [first] = await mail_to(app, clinic.patient.email, "prescription")
    for account in (clinic.patient, clinic.doctor):
        response = await client.post(qr_email_url(written["id"]), headers=account.headers)
        assert response.status_code == 202, response.text
        assert response.json()["data"] == {"prescription_id": written["id"], "queued": True}
    emails = await mail_to(app, clinic.patient.email, "prescription")
    assert len(emails) == 3
    again = emails[-1]
    assert again["Subject"] == first["Subject"]
    assert written["prescription_number"] in again["Subject"]
    [image] = parts_of(again, "image/png")
    content_id = image["Content-ID"].strip("<>")
    [html] = parts_of(again, "text/html")
    assert f'src="cid:{content_id}"' in part_bytes(html).decode()
    assert decoded_png(part_bytes(image)) == [written["verification_url"]]
    assert audit_count(admin_sql, "prescription.emailed", written["id"]) == 2


async def test_only_its_doctors_and_patient_have_it_sent(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    url = qr_email_url(written["id"])
    assert_error(await client.post(url), 401, "AUTHENTICATION_ERROR")
    for account in (pharmacy.pharmacist, clinic.admin):
        assert_error(await client.post(url, headers=account.headers), 403, "AUTHORIZATION_ERROR")
    neighbour = await factory.user("patient")
    await make_chart(factory.database, clinic.id, user_id=neighbour.id, first_name="Sam")
    assert_error(await client.post(url, headers=neighbour.headers), 404, "NOT_FOUND")
    elsewhere = await make_clinic(client, factory, "clinic")
    assert_error(await client.post(url, headers=elsewhere.doctor.headers), 404, "NOT_FOUND")
    unknown = qr_email_url(UNKNOWN)
    assert_error(await client.post(unknown, headers=clinic.patient.headers), 404, "NOT_FOUND")
    # Only the email of the prescription's creation went out.
    assert len(await mail_to(factory.app, clinic.patient.email, "prescription")) == 1
    assert len(await mail_to(factory.app, neighbour.email)) == 0
    assert audit_count(admin_sql, "prescription.emailed") == 0


async def test_the_sixth_email_in_a_minute_is_429(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    make_settings: MakeSettings,
    backend: str,
) -> None:
    assert make_settings().RATE_LIMIT_QR_EMAIL == "5/minute"
    written = await prescribe(client, clinic)
    url = qr_email_url(written["id"])
    async with limited(make_settings, backend) as served:
        for n in range(5):
            response = await served.client.post(url, headers=clinic.patient.headers)
            assert response.status_code == 202, response.text
            assert response.headers["x-ratelimit-limit"] == "5"
            assert response.headers["x-ratelimit-remaining"] == str(4 - n)
        refused = await served.client.post(url, headers=clinic.patient.headers)
        assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        assert int(refused.headers["x-ratelimit-reset"]) <= time.time() + 62
        # Per user: the doctor has an allowance of their own.
        response = await served.client.post(url, headers=clinic.doctor.headers)
        assert response.status_code == 202, response.text


async def test_a_closed_prescription_is_not_emailed_again(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    # Its email says "show this QR code at your pharmacy": not for one that is over.
    cancelled = await prescribe(client, clinic)
    data(
        await client.post(
            cancel_url(cancelled["id"]),
            json={"reason": "Not needed"},
            headers=clinic.doctor.headers,
        )
    )
    response = await client.post(qr_email_url(cancelled["id"]), headers=clinic.patient.headers)
    assert_error(response, 409, "INVALID_STATE_TRANSITION")
    expired = await prescribe(client, clinic)
    admin_sql(
        "UPDATE prescriptions SET issued_at = now() - interval '40 days',"
        " expires_at = now() - interval '1 hour' WHERE id = %s",
        [expired["id"]],
    )
    response = await client.post(qr_email_url(expired["id"]), headers=clinic.doctor.headers)
    assert_error(response, 409, "INVALID_STATE_TRANSITION")
    assert audit_count(admin_sql, "prescription.emailed") == 0
    # Its QR code can still be shown (a pharmacy scanning it sees it is closed).
    code = data(await client.get(qr_code_url(cancelled["id"]), headers=clinic.patient.headers))
    assert code["verification_url"] == cancelled["verification_url"]
