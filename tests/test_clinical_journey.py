"""Issue 12's "Done when", walked end to end through the HTTP API, in order.

A platform operator provisions a hospital with its admin; the admin adds a doctor
through the members endpoint; the doctor sets a profile (with video) and availability.
A new patient registers, verifies the address through the link in the real email (an
SMTP server in the test process), logs in, fills in a date of birth, finds the doctor
in the directory, reads the free slots and books a video slot; the booking email
carries an .ics invitation for that start. The doctor confirms, starts (which opens
the consultation, with a room address for the two participants), writes notes and a
diagnosis and completes it, which completes the appointment; the doctor reads the
chart. The patient reads the medical history behind an emailed one-time code and
finds the diagnosis, and the access log names the doctor's read of the chart. Last,
the admin runs MedFlow's `/patients` CRUD.

The settings let an appointment be booked from now on (APPOINTMENT_MIN_LEAD_MINUTES=0)
and started up to a day early (APPOINTMENT_EARLY_START_MINUTES): the test books the
next slot a few minutes away and starts it at once, without waiting for its time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from icalendar import Calendar

from medhub.config import Settings
from tests.assertions import assert_error
from tests.doctors.helpers import data
from tests.factories import DEFAULT_PASSWORD, Factory, run_jobs
from tests.mail.smtp import SmtpServer, smtp_overrides, smtp_server

__all__ = ["smtp_server"]

API = "/api/v1"
FRONTEND_URL = "https://app.medhub.test"
VIDEO_BASE_URL = "https://meet.medhub.test"
BERLIN = ZoneInfo("Europe/Berlin")
# Long enough that whichever slot the test books (at most half a day ahead: the doctor
# works 08:00-20:00 every day) may start now; the settings allow at most a day.
EARLY_START_MINUTES = 24 * 60
# The slot booked starts at least this far ahead, so it is still free when the booking
# arrives a few milliseconds after the slots were read.
BOOKING_MARGIN = timedelta(minutes=2)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp_server: SmtpServer) -> Settings:
    return make_settings(
        **smtp_overrides(smtp_server),
        FRONTEND_URL=FRONTEND_URL,
        APPOINTMENT_MIN_LEAD_MINUTES=0,
        APPOINTMENT_EARLY_START_MINUTES=EARLY_START_MINUTES,
        VIDEO_PROVIDER="jitsi",
        VIDEO_BASE_URL=VIDEO_BASE_URL,
    )


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    """POST /auth/login: the user it answers with, and `headers` to send as them."""
    body = data(await client.post(f"{API}/auth/login", json={"email": email, "password": password}))
    return {**body["user"], "headers": {"Authorization": f"Bearer {body['access_token']}"}}


def one_email(smtp: SmtpServer, address: str, template: str) -> Message:
    messages = smtp.to(address, template)
    assert len(messages) == 1, [m["X-MedHub-Template"] for m in smtp.to(address)]
    return messages[0]


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text/plain part")


def calendar_event(message: Message) -> Any:
    """The one VEVENT of the message's .ics attachment."""
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_content_disposition() == "attachment"
    assert (part.get_filename() or "").endswith(".ics")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    [event] = Calendar.from_ical(payload).walk("VEVENT")
    return event


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_hospital_doctor_and_new_patient_through_a_video_consultation(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, smtp_server: SmtpServer
) -> None:
    tag = uuid.uuid4().hex[:8]

    # --- A hospital and its admin (provisioned by a platform operator) ---------------
    operator = await factory.user("super_admin")
    admin_email = f"admin-{tag}@stmary.example.org"
    hospital = data(
        await client.post(
            f"{API}/admin/tenants",
            json={
                "name": f"St. Mary Hospital {tag}",
                "kind": "hospital",
                "admin": {
                    "email": admin_email,
                    "password": DEFAULT_PASSWORD,
                    "full_name": "Hanna Admin",
                },
            },
            headers=operator.headers,
        ),
        201,
    )
    admin = await log_in(client, admin_email, DEFAULT_PASSWORD)
    assert (admin["role"], admin["organization_id"]) == ("admin", hospital["id"])

    # --- The admin adds a doctor through the members endpoint -----------------------
    doctor_email = f"ada.meyer-{tag}@stmary.example.org"
    member = data(
        await client.post(
            f"{API}/admin/users",
            json={
                "email": doctor_email,
                "password": DEFAULT_PASSWORD,
                "full_name": "Dr. Ada Meyer",
                "role": "doctor",
            },
            headers=admin["headers"],
        ),
        201,
    )
    assert (member["role"], member["organization_id"]) == ("doctor", hospital["id"])
    assert member["is_approved"] is True
    # A colleague of the same specialty without video, for the directory's filters.
    colleague_email = f"bo.chen-{tag}@stmary.example.org"
    data(
        await client.post(
            f"{API}/admin/users",
            json={
                "email": colleague_email,
                "password": DEFAULT_PASSWORD,
                "full_name": "Dr. Bo Chen",
                "role": "doctor",
            },
            headers=admin["headers"],
        ),
        201,
    )

    # --- The doctor sets a profile (with video) and availability --------------------
    doctor = await log_in(client, doctor_email, DEFAULT_PASSWORD)
    assert doctor["id"] == member["id"]
    profile = {
        "specialty": "Cardiology",
        "license_number": f"LIC-{tag}",
        "qualifications": ["MD"],
        "years_of_experience": 12,
        "bio": "Heart rhythm specialist.",
        "languages": ["en", "de"],
        "consultation_fee": "80.00",
        "currency": "EUR",
        "offers_video": True,
        "is_listed": True,
        "timezone": "Europe/Berlin",
    }
    saved = data(
        await client.put(f"{API}/doctors/me/profile", json=profile, headers=doctor["headers"]), 201
    )
    assert saved["offers_video"] is True
    assert saved["in_directory"] is True
    today = datetime.now(UTC).astimezone(BERLIN).date()
    day_off = today + timedelta(days=5)
    availability = {
        "timezone": "Europe/Berlin",
        "rules": [
            {"weekday": weekday, "start": "08:00", "end": "20:00", "slot_minutes": 30}
            for weekday in range(1, 8)
        ],
        "exceptions": [{"date": day_off.isoformat(), "available": False}],
    }
    data(
        await client.put(
            f"{API}/doctors/me/availability", json=availability, headers=doctor["headers"]
        )
    )
    shown = data(await client.get(f"{API}/doctors/me/availability", headers=doctor["headers"]))
    assert shown["timezone"] == "Europe/Berlin"
    assert len(shown["rules"]) == 7
    assert [e["date"] for e in shown["exceptions"]] == [day_off.isoformat()]
    colleague = await log_in(client, colleague_email, DEFAULT_PASSWORD)
    data(
        await client.put(
            f"{API}/doctors/me/profile",
            json={**profile, "license_number": f"LIC-{tag}-2", "offers_video": False},
            headers=colleague["headers"],
        ),
        201,
    )

    # --- A new patient registers and verifies the address from the email ------------
    patient_email = f"lena.vogel-{tag}@example.org"
    registered = data(
        await client.post(
            f"{API}/auth/register",
            json={
                "email": patient_email,
                "password": DEFAULT_PASSWORD,
                "full_name": "Lena Vogel",
                "role": "patient",
            },
        ),
        201,
    )
    await run_jobs(app)
    verification = text_of(one_email(smtp_server, patient_email, "verify_email"))
    link = re.search(re.escape(f"{FRONTEND_URL}/verify-email?token=") + r"([\w-]+)", verification)
    assert link, verification
    data(await client.post(f"{API}/auth/verify-email", json={"token": link.group(1)}))
    patient = await log_in(client, patient_email, DEFAULT_PASSWORD)
    assert patient["id"] == registered["user_id"]
    assert (patient["role"], patient["is_verified"]) == ("patient", True)
    own = data(
        await client.put(
            f"{API}/patients/profile",
            json={"date_of_birth": "1988-04-12", "sex": "female"},
            headers=patient["headers"],
        )
    )
    assert own["date_of_birth"] == "1988-04-12"
    assert own["charts"] == []

    # --- The patient finds the doctor and a free video slot -------------------------
    found = data(
        await client.get(
            f"{API}/doctors",
            params={"specialty": "Cardiology", "video": "true"},
            headers=patient["headers"],
        )
    )
    assert [d["id"] for d in found["doctors"]] == [doctor["id"]]
    listed = found["doctors"][0]
    assert (listed["full_name"], listed["organization_name"]) == (
        "Dr. Ada Meyer",
        hospital["name"],
    )
    assert listed["offers_video"] is True
    # Each filter counts: without `video` the colleague is listed too; another
    # specialty lists neither.
    everyone = data(await client.get(f"{API}/doctors", params={"specialty": "Cardiology"}))
    assert {d["id"] for d in everyone["doctors"]} == {doctor["id"], colleague["id"]}
    elsewhere = data(
        await client.get(f"{API}/doctors", params={"specialty": "Dermatology", "video": "true"})
    )
    assert elsewhere["doctors"] == []

    slots = data(
        await client.get(
            f"{API}/doctors/{doctor['id']}/slots",
            params={"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()},
        )
    )
    assert slots["timezone"] == "Europe/Berlin"
    assert slots["slots"], "the doctor works every day: there are slots today or tomorrow"
    for slot in slots["slots"]:
        local = datetime.fromisoformat(slot["local_start"])
        assert time(8) <= local.time() < time(20), slot
        assert instant(slot["ends_at"]) - instant(slot["starts_at"]) == timedelta(minutes=30)
        assert local == instant(slot["starts_at"])
    off = data(
        await client.get(
            f"{API}/doctors/{doctor['id']}/slots",
            params={"from": day_off.isoformat(), "to": day_off.isoformat()},
        )
    )
    assert off["slots"] == [], "the doctor's day off has no slots"
    soonest = datetime.now(UTC) + BOOKING_MARGIN
    chosen = next(s for s in slots["slots"] if instant(s["starts_at"]) >= soonest)
    starts_at = instant(chosen["starts_at"])

    # --- The patient books it and receives the email with the .ics -----------------
    appointment = data(
        await client.post(
            f"{API}/appointments",
            json={
                "doctor_id": doctor["id"],
                "starts_at": chosen["starts_at"],
                "type": "video",
                "reason": "Palpitations at night",
            },
            headers=patient["headers"],
        ),
        201,
    )
    assert instant(appointment["starts_at"]) == starts_at
    assert (appointment["type"], appointment["status"]) == ("video", "requested")
    assert appointment["organization_id"] == hospital["id"]
    chart_id = appointment["patient_id"]  # the chart made at the hospital on this booking
    again = data(
        await client.get(
            f"{API}/doctors/{doctor['id']}/slots",
            params={"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()},
        )
    )
    assert chosen["starts_at"] not in {s["starts_at"] for s in again["slots"]}

    await run_jobs(app)
    booking_email = one_email(smtp_server, patient_email, "appointment_booked")
    assert "Dr. Ada Meyer" in str(booking_email["Subject"])
    event = calendar_event(booking_email)
    assert str(event["UID"]) == f"{appointment['id']}@appointments.medhub"
    assert event.decoded("DTSTART") == starts_at
    assert event["DTSTART"].to_ical() == starts_at.strftime("%Y%m%dT%H%M%SZ").encode()
    assert event.decoded("DTEND") == starts_at + timedelta(minutes=30)
    # The doctor is told too, about the same event.
    assert str(
        calendar_event(one_email(smtp_server, doctor_email, "appointment_booked"))["UID"]
    ) == (f"{appointment['id']}@appointments.medhub")

    # --- The doctor confirms and starts it: the consultation opens ------------------
    appointment_url = f"{API}/appointments/{appointment['id']}"
    confirmed = data(
        await client.put(appointment_url, json={"status": "confirmed"}, headers=doctor["headers"])
    )
    assert confirmed["status"] == "confirmed"
    await run_jobs(app)
    confirmation = text_of(one_email(smtp_server, patient_email, "appointment_confirmation"))
    assert "Video consultation" in confirmation
    assert f"{FRONTEND_URL}/appointments/{appointment['id']}/join" in confirmation
    started = data(
        await client.put(appointment_url, json={"status": "in_progress"}, headers=doctor["headers"])
    )
    assert started["status"] == "in_progress"

    visits = data(
        await client.get(
            f"{API}/consultations", params={"patient_id": chart_id}, headers=doctor["headers"]
        )
    )
    [consultation] = visits["consultations"]
    assert consultation["appointment_id"] == appointment["id"]
    assert (consultation["type"], consultation["status"]) == ("video", "in_progress")
    assert consultation["doctor_id"] == doctor["id"]
    join_url = consultation["join_url"]
    assert join_url is not None, consultation
    assert join_url.startswith(f"{VIDEO_BASE_URL}/"), join_url
    consultation_url = f"{API}/consultations/{consultation['id']}"
    # The other participant, the patient, gets the same room.
    as_patient = data(await client.get(consultation_url, headers=patient["headers"]))
    assert as_patient["join_url"] == join_url

    # --- The doctor writes notes and a diagnosis and completes it -------------------
    findings = {
        "chief_complaint": "Palpitations at night",
        "diagnosis": "Paroxysmal atrial fibrillation",
        "icd10_codes": ["I48.0"],
        "notes": "Irregular rhythm reported over two weeks; Holter ECG ordered.",
    }
    written = data(await client.put(consultation_url, json=findings, headers=doctor["headers"]))
    assert {key: written[key] for key in findings} == findings
    completed = data(
        await client.put(consultation_url, json={"status": "completed"}, headers=doctor["headers"])
    )
    assert completed["status"] == "completed"
    assert completed["ended_at"] is not None
    assert completed["join_url"] is None, "the room closes with the consultation"
    assert data(await client.get(appointment_url, headers=patient["headers"]))["status"] == (
        "completed"
    )

    # --- The doctor reads the chart -------------------------------------------------
    chart = data(await client.get(f"{API}/patients/{chart_id}", headers=doctor["headers"]))
    assert (chart["first_name"], chart["last_name"]) == ("Lena", "Vogel")
    assert chart["date_of_birth"] == "1988-04-12"
    assert (chart["user_id"], chart["linked"]) == (patient["id"], True)
    assert chart["organization_id"] == hospital["id"]

    # --- The patient reads the medical history with a one-time code -----------------
    history_url = f"{API}/patients/medical-history"
    assert_error(await client.get(history_url, headers=patient["headers"]), 403, "OTP_REQUIRED")
    data(
        await client.post(
            f"{API}/auth/otp/request",
            json={"purpose": "medical_history"},
            headers=patient["headers"],
        )
    )
    await run_jobs(app)
    otp_text = text_of(one_email(smtp_server, patient_email, "otp"))
    assert "medical history" in otp_text
    code = re.search(r"\b(\d{6})\b", otp_text)
    assert code, otp_text
    grant = data(
        await client.post(
            f"{API}/auth/otp/verify",
            json={"purpose": "medical_history", "code": code.group(1)},
            headers=patient["headers"],
        )
    )
    history = data(
        await client.get(
            history_url, headers={**patient["headers"], "X-OTP-Token": grant["otp_token"]}
        )
    )
    assert [(c["patient_id"], c["organization_name"]) for c in history["charts"]] == [
        (chart_id, hospital["name"])
    ]
    [seen] = history["consultations"]
    assert seen["id"] == consultation["id"]
    assert (seen["diagnosis"], seen["icd10_codes"], seen["notes"]) == (
        findings["diagnosis"],
        findings["icd10_codes"],
        findings["notes"],
    )
    assert (seen["doctor_name"], seen["status"]) == ("Dr. Ada Meyer", "completed")

    # --- ...and sees in the access log that the doctor read the chart ---------------
    log = data(
        await client.get(
            f"{API}/patients/me/access-log",
            params={"action": "patient.read", "limit": 100},
            headers=patient["headers"],
        )
    )
    assert [
        (e["entity_id"], e["actor_name"], e["actor_role"], e["organization_name"], e["is_self"])
        for e in log["entries"]
    ] == [(chart_id, "Dr. Ada Meyer", "doctor", hospital["name"], False)]

    # --- The admin runs MedFlow's /patients CRUD -------------------------------------
    patients_url = f"{API}/patients"
    listed_charts = data(await client.get(patients_url, headers=admin["headers"]))
    assert [p["id"] for p in listed_charts["patients"]] == [chart_id]
    created = data(
        await client.post(
            patients_url,
            json={
                "first_name": "Karl",
                "last_name": "Brenner",
                "date_of_birth": "1959-11-30",
                "sex": "male",
                "phone": "+49 30 1234567",
            },
            headers=admin["headers"],
        ),
        201,
    )
    walk_in = f"{patients_url}/{created['id']}"
    assert created["mrn"]
    assert created["mrn"] != chart["mrn"]
    assert created["linked"] is False

    async def search(term: str, **params: Any) -> list[str]:
        page = data(
            await client.get(
                patients_url, params={"search": term, **params}, headers=admin["headers"]
            )
        )
        return [p["id"] for p in page["patients"]]

    assert await search("brenn") == [created["id"]]
    assert await search(created["mrn"]) == [created["id"]]
    assert await search("vogel") == [chart_id]

    updated = data(
        await client.put(
            walk_in, json={"last_name": "Brenner-Hof", "phone": None}, headers=admin["headers"]
        )
    )
    assert (updated["last_name"], updated["phone"]) == ("Brenner-Hof", None)
    assert data(await client.get(walk_in, headers=admin["headers"]))["last_name"] == "Brenner-Hof"

    data(await client.delete(walk_in, headers=admin["headers"]))
    assert_error(await client.get(walk_in, headers=admin["headers"]), 404)
    assert await search("brenner") == []
    assert await search("brenner", include_deleted="true") == [created["id"]]

    restored = data(await client.post(f"{walk_in}/restore", headers=admin["headers"]))
    assert restored["deleted_at"] is None
    assert data(await client.get(walk_in, headers=admin["headers"]))["id"] == created["id"]
    assert await search("brenner") == [created["id"]]
