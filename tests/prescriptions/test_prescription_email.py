"""The prescription email: on `prescription.created` (event → handler job) the patient
gets it (HTML and text, QR inline, reference number, items, expiry) and an in-app
notification; a chart without an account gets the email at the chart's address."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.consultations.helpers import AdminSql, Clinic
from tests.doctors.helpers import data
from tests.factories import Factory, mail_to, outbox, run_jobs, text_body
from tests.prescriptions.helpers import (
    DOCTOR_PRESCRIPTIONS,
    NOTIFICATIONS,
    chart_with_email,
    decoded_png,
    html_body,
    instant,
    item,
    part_bytes,
    parts_of,
    prescribe,
    prescription_body,
)

ITEMS = [
    item(),
    item(
        medicine_name="Ibuprofen",
        strength="400 mg",
        form="tablet",
        frequency={"every_hours": 8},
        quantity=10,
        instructions=None,
    ),
]


def day(timestamp: str) -> str:
    return instant(timestamp).strftime("%d %B %Y")


def assert_the_prescription_email(email: Any, written: dict[str, Any]) -> None:
    number = written["prescription_number"]
    reference = written["reference_number"]
    assert email["X-MedHub-Template"] == "prescription"
    assert number in email["Subject"]
    assert "Dr. Ada Meyer" in email["Subject"]
    for body in (text_body(email), html_body(email)):
        assert number in body
        assert reference in body
        assert "Amoxicillin" in body
        assert "500 mg" in body
        assert "three times daily" in body
        assert "Take with food" in body
        assert "Ibuprofen" in body
        assert "every 8 hours" in body
        assert day(written["expires_at"]) in body
        assert day(written["issued_at"]) in body
        assert f"/prescriptions/{written['id']}" in body
        # The QR token grants access like the reference does, but only inside the image.
        assert written["qr_token"] not in body
    # The QR code inline: the HTML shows the image part by its Content-ID, and it
    # decodes to the verification URL.
    [image] = parts_of(email, "image/png")
    content_id = image["Content-ID"].strip("<>")
    assert f'src="cid:{content_id}"' in html_body(email)
    [related] = parts_of(email, "multipart/related")
    assert [part.get_content_type() for part in related.get_payload()] == [
        "text/html",
        "image/png",
    ]
    assert decoded_png(part_bytes(image)) == [written["verification_url"]]


async def test_the_patient_gets_the_email_and_a_notification(
    client: httpx.AsyncClient, app: FastAPI, clinic: Clinic, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic, items=ITEMS)
    [email] = await mail_to(app, clinic.patient.email, "prescription")
    assert_the_prescription_email(email, written)
    assert "Hello Pat Doe" in text_body(email)

    page = data(
        await client.get(
            NOTIFICATIONS, params={"category": "prescription"}, headers=clinic.patient.headers
        )
    )
    [notification] = page["notifications"]
    assert notification["title"] == (
        f"New prescription {written['prescription_number']} from Dr. Ada Meyer"
    )
    assert written["reference_number"] in notification["body"]
    assert notification["data"]["prescription_id"] == written["id"]

    # Once: more job runs send nothing more, and every job succeeded.
    await run_jobs(app)
    assert len(await mail_to(app, clinic.patient.email, "prescription")) == 1
    assert admin_sql("SELECT DISTINCT status::text FROM procrastinate_jobs") == [("succeeded",)]


async def test_a_prescription_refused_tells_no_one(
    client: httpx.AsyncClient, app: FastAPI, clinic: Clinic
) -> None:
    body = prescription_body(clinic, items=[item(quantity=0)])
    response = await client.post(DOCTOR_PRESCRIPTIONS, json=body, headers=clinic.doctor.headers)
    assert response.status_code == 400, response.text
    assert await outbox(app) == []


async def test_a_chart_without_an_account_gets_the_email_at_its_address(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    chart = await chart_with_email(factory.database, clinic.id, "nora.field@example.org")
    written = await prescribe(client, clinic, patient_id=str(chart.id), items=ITEMS)
    assert written["patient_name"] == "Nora Field"
    [email] = await mail_to(app, "nora.field@example.org", "prescription")
    assert_the_prescription_email(email, written)
    assert "Hello Nora Field" in text_body(email)
    # Nobody else was written to, and there is no account to notify in the app.
    assert [message["To"] for message in await outbox(app)] == ["nora.field@example.org"]
    assert admin_sql("SELECT count(*) FROM notifications") == [(0,)]


async def test_a_chart_with_no_account_and_no_address_is_not_written_to(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, clinic: Clinic, admin_sql: AdminSql
) -> None:
    chart = await chart_with_email(factory.database, clinic.id, None)
    await prescribe(client, clinic, patient_id=str(chart.id))
    assert await outbox(app) == []
    # The handler ran, and did not fail for lack of an address.
    assert admin_sql("SELECT DISTINCT status::text FROM procrastinate_jobs") == [("succeeded",)]


async def test_a_patient_who_turned_prescription_emails_off_is_only_notified_in_the_app(
    client: httpx.AsyncClient, app: FastAPI, clinic: Clinic
) -> None:
    response = await client.put(
        f"{NOTIFICATIONS}/preferences",
        json={"preferences": [{"category": "prescription", "email": False}]},
        headers=clinic.patient.headers,
    )
    assert response.status_code == 200, response.text
    written = await prescribe(client, clinic)
    await run_jobs(app)
    assert await mail_to(app, clinic.patient.email) == []
    page = data(await client.get(NOTIFICATIONS, headers=clinic.patient.headers))
    assert [row["data"]["prescription_id"] for row in page["notifications"]] == [written["id"]]


async def test_what_the_doctor_typed_is_escaped_in_the_html(
    client: httpx.AsyncClient, app: FastAPI, clinic: Clinic
) -> None:
    await prescribe(
        client,
        clinic,
        items=[item(medicine_name="<img src=x onerror=alert(1)>", instructions="<b>x</b> & y")],
    )
    [email] = await mail_to(app, clinic.patient.email, "prescription")
    html = html_body(email)
    assert "<img src=x onerror" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in html
    # The text part is plain text: as typed.
    assert "<img src=x onerror=alert(1)>" in text_body(email)
