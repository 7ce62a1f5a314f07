"""The messages of booking, rescheduling and cancelling, as a real SMTP server
(aiosmtpd) receives them: one email to the patient and one to the doctor, each with
the `.ics` calendar invitation of the one event the appointment is (same UID, a higher
SEQUENCE when it moves, METHOD:CANCEL when it is cancelled), times in UTC."""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from icalendar import Calendar

from medhub.config import Settings
from tests.appointments.helpers import (
    BERLIN,
    AdminSql,
    Clinic,
    berlin,
    booked,
    cancel,
    data,
    in_days,
    iso,
    staff_chart,
    update,
)
from tests.factories import Account, run_jobs
from tests.mail.smtp import SmtpServer, smtp_overrides, smtp_server

__all__ = ["smtp_server"]

FRONTEND_URL = "https://app.medhub.test"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp_server: SmtpServer) -> Settings:
    return make_settings(**smtp_overrides(smtp_server), FRONTEND_URL=FRONTEND_URL)


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def subject(message: Message) -> str:
    """The subject as written (a long one arrives folded over two lines)."""
    return " ".join(str(message["Subject"]).split())


def invitation(message: Message) -> tuple[Message, Any]:
    """The calendar attachment (its MIME part) and its one event, parsed."""
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_filename() == "appointment.ics"
    assert part.get_content_disposition() == "attachment"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    # RFC 5545: CRLF line ends, lines folded at 75 octets.
    assert all(len(line) <= 75 for line in payload.split(b"\r\n"))
    calendar = Calendar.from_ical(payload)
    [event] = calendar.walk("VEVENT")
    return part, (calendar, event)


def one(smtp: SmtpServer, address: str, template: str) -> Message:
    messages = smtp.to(address, template)
    assert len(messages) == 1, [m["Subject"] for m in smtp.to(address)]
    return messages[0]


async def test_booking_moving_and_cancelling_send_calendar_updates_to_both_sides(
    app: FastAPI,
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    smtp_server: SmtpServer,
) -> None:
    day, later = in_days(14), in_days(16)
    appointment = await booked(
        client, patient, berlin(day, "10:00"), clinic.doctor, type="video", reason="Palpitations"
    )
    uid = f"{appointment['id']}@appointments.medhub"

    await run_jobs(app)
    booked_patient = one(smtp_server, patient.email, "appointment_booked")
    booked_doctor = one(smtp_server, clinic.doctor.email, "appointment_booked")
    local_day = f"{berlin(day, '10:00').astimezone(BERLIN):%A, %d %B %Y}"
    assert subject(booked_patient) == f"Appointment booked: Dr. Ada Meyer, {local_day}, 10:00"
    assert subject(booked_doctor) == f"New appointment: Ann Lee, {local_day}, 10:00"
    text = text_of(booked_patient)
    assert "Hello Ann Lee," in text
    assert "When:     " in text
    assert "10:00 (Europe/Berlin)" in text
    assert f"{FRONTEND_URL}/appointments/{appointment['id']}/join" in text
    for message in (booked_patient, booked_doctor):
        part, (calendar, event) = invitation(message)
        assert part.get_param("method") == "REQUEST"
        assert calendar["METHOD"] == "REQUEST"
        assert str(event["UID"]) == uid
        assert int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART") == berlin(day, "10:00")
        assert event.decoded("DTEND") == berlin(day, "10:30")
        # UTC, written with Z: no zone definitions needed.
        assert (
            event["DTSTART"].to_ical() == berlin(day, "10:00").strftime("%Y%m%dT%H%M%SZ").encode()
        )
        assert str(event["STATUS"]) == "CONFIRMED"
        attendees = event.get("ATTENDEE")
        addresses = {str(a) for a in (attendees if isinstance(attendees, list) else [attendees])}
        assert f"mailto:{patient.email}" in addresses
    assert "Appointment with Dr. Ada Meyer" in str(invitation(booked_patient)[1][1]["SUMMARY"])
    assert "Appointment: Ann Lee" in str(invitation(booked_doctor)[1][1]["SUMMARY"])

    data(await update(client, patient, appointment["id"], starts_at=iso(berlin(later, "15:00"))))
    await run_jobs(app)
    moved_patient = one(smtp_server, patient.email, "appointment_rescheduled")
    moved_doctor = one(smtp_server, clinic.doctor.email, "appointment_rescheduled")
    assert "has moved from" in text_of(moved_patient)
    sequences = []
    for message in (moved_patient, moved_doctor):
        part, (calendar, event) = invitation(message)
        assert part.get_param("method") == "REQUEST"
        assert str(event["UID"]) == uid
        assert int(event["SEQUENCE"]) > 0
        assert event.decoded("DTSTART") == berlin(later, "15:00")
        assert event.decoded("DTEND") == berlin(later, "15:30")
        sequences.append(int(event["SEQUENCE"]))

    data(await cancel(client, clinic.doctor, appointment["id"], reason="Called away"))
    await run_jobs(app)
    cancelled_patient = one(smtp_server, patient.email, "appointment_cancelled")
    cancelled_doctor = one(smtp_server, clinic.doctor.email, "appointment_cancelled")
    text = text_of(cancelled_patient)
    assert "has been cancelled by Dr. Ada Meyer" in text
    assert "Called away" in text
    for message in (cancelled_patient, cancelled_doctor):
        part, (calendar, event) = invitation(message)
        assert part.get_param("method") == "CANCEL"
        assert calendar["METHOD"] == "CANCEL"
        assert str(event["UID"]) == uid
        assert int(event["SEQUENCE"]) >= max(sequences)
        assert str(event["STATUS"]) == "CANCELLED"
        assert event.decoded("DTSTART") == berlin(later, "15:00")


async def test_both_sides_see_it_in_the_app_too(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)

    rows = admin_sql("SELECT user_id, category, title, data FROM notifications ORDER BY seq")

    assert [(user, category, title) for user, category, title, _ in rows] == [
        (patient.id, "appointment", "Appointment booked with Dr. Ada Meyer"),
        (clinic.doctor.id, "appointment", "New appointment: Ann Lee"),
    ]
    assert {row[3]["link"] for row in rows} == {f"/appointments/{appointment['id']}"}


async def test_a_chart_without_an_account_is_written_to_at_its_address(
    app: FastAPI, client: httpx.AsyncClient, clinic: Clinic, smtp_server: SmtpServer
) -> None:
    chart = await staff_chart(client, clinic.admin, email="carl.moss@example.org")
    silent = await staff_chart(client, clinic.admin, first_name="Dora")
    day = in_days(14)

    await booked(client, clinic.admin, berlin(day, "10:00"), clinic.doctor, patient_id=chart["id"])
    await booked(client, clinic.admin, berlin(day, "11:00"), clinic.doctor, patient_id=silent["id"])
    await run_jobs(app)

    message = one(smtp_server, "carl.moss@example.org", "appointment_booked")
    assert "Hello Carl Moss," in text_of(message)
    _, (_, event) = invitation(message)
    assert event.decoded("DTSTART") == berlin(day, "10:00")
    # The doctor hears of both; the chart without an address gets nothing.
    assert len(smtp_server.to(clinic.doctor.email, "appointment_booked")) == 2
    assert {tuple(r.rcpt_tos) for r in smtp_server.received} == {
        ("carl.moss@example.org",),
        (clinic.doctor.email,),
    }


async def test_a_confirmation_tells_the_patient(
    app: FastAPI,
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    smtp_server: SmtpServer,
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)

    data(await update(client, clinic.doctor, appointment["id"], status="confirmed"))
    await run_jobs(app)

    message = one(smtp_server, patient.email, "appointment_confirmation")
    assert subject(message).startswith("Appointment confirmed: Dr. Ada Meyer, ")
    assert clinic.organization.name in text_of(message)
