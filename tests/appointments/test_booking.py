"""POST /api/v1/appointments: patients book a listed doctor's free slot (their chart
at the doctor's organization made on the first booking), staff book for a chart of
their organization."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.appointments.helpers import (
    APPOINTMENTS,
    BERLIN,
    UNKNOWN,
    AdminSql,
    Clinic,
    berlin,
    book,
    booked,
    data,
    every_day,
    in_days,
    iso,
    make_patient,
    staff_chart,
)
from tests.assertions import assert_error
from tests.doctors.helpers import MY_PROFILE, doctor_with_profile, profile_body, register_doctor
from tests.factories import Account, Factory


async def test_a_patient_books_a_free_slot_and_gets_a_chart_there(
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    audit_rows: Callable[[str], list[tuple[Any, ...]]],
) -> None:
    day = in_days(14)
    starts_at = berlin(day, "10:00")

    response = await book(
        client, patient, starts_at, clinic.doctor, type="video", reason="Chest pain when running"
    )

    appointment = data(response, 201)
    assert response.json()["message"] == "Appointment booked"
    assert appointment["doctor_id"] == str(clinic.doctor.id)
    assert appointment["doctor_name"] == "Dr. Ada Meyer"
    assert appointment["organization_id"] == str(clinic.id)
    assert appointment["organization_name"] == clinic.organization.name
    assert appointment["patient_name"] == "Ann Lee"
    assert appointment["starts_at"] == iso(starts_at)
    assert appointment["ends_at"] == iso(starts_at + timedelta(minutes=30))
    assert appointment["local_start"].startswith(f"{day.isoformat()}T10:00:00+0")
    assert appointment["timezone"] == "Europe/Berlin"
    assert appointment["duration_minutes"] == 30
    assert appointment["type"] == "video"
    assert appointment["status"] == "requested"
    assert appointment["reason"] == "Chest pain when running"
    # The fee and its currency come from the doctor's profile.
    assert (appointment["fee"], appointment["currency"]) == (80.0, "EUR")
    # A paid consultation waits for its fee (billing): what to transfer, quoting what.
    assert appointment["payment_status"] == "pending"
    assert appointment["refund_amount"] == 0
    assert appointment["payment"]["amount"] == 80.0
    assert appointment["payment"]["reference"].startswith("APT-")
    assert appointment["booked_by"] == str(patient.id)
    assert appointment["cancelled_at"] is None
    assert appointment["cancelled_late"] is False
    [(chart_id, organization_id, user_id)] = admin_sql(
        "SELECT id, organization_id, user_id FROM patients WHERE user_id = %s", [patient.id]
    )
    assert str(chart_id) == appointment["patient_id"]
    assert (organization_id, user_id) == (clinic.id, patient.id)
    [(action, org, actor, metadata)] = audit_rows(appointment["id"])
    assert (action, org, actor) == ("appointment.booked", clinic.id, patient.id)
    assert metadata["starts_at"] == starts_at.isoformat()
    assert metadata["by"] == "patient"


async def test_the_second_booking_at_one_organization_reuses_the_chart(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    first = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    second = await booked(client, patient, berlin(in_days(15), "10:00"), clinic.colleague)

    assert first["patient_id"] == second["patient_id"]


async def test_a_free_consultation_needs_no_payment(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, patient: Account
) -> None:
    volunteer = await doctor_with_profile(
        client,
        factory,
        clinic.id,
        full_name="Dr. Free",
        availability=every_day(),
        consultation_fee="0",
        currency="usd",
    )

    appointment = await booked(client, patient, berlin(in_days(14), "11:00"), volunteer)

    assert (appointment["fee"], appointment["currency"]) == (0.0, "USD")
    assert appointment["payment_status"] == "not_required"


async def test_video_only_with_a_doctor_who_offers_it(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, patient: Account
) -> None:
    in_person_only = await doctor_with_profile(
        client, factory, clinic.id, availability=every_day(), offers_video=False
    )

    response = await book(
        client, patient, berlin(in_days(14), "11:00"), in_person_only, type="video"
    )

    assert_error(response, 400, "VALIDATION_ERROR", "type")
    in_person = await booked(client, patient, berlin(in_days(14), "11:00"), in_person_only)
    assert in_person["type"] == "in_person"


async def test_staff_book_for_a_chart_of_their_organization(
    client: httpx.AsyncClient, clinic: Clinic, audit_rows: Callable[[str], list[tuple[Any, ...]]]
) -> None:
    chart = await staff_chart(client, clinic.admin)
    day = in_days(10)

    by_admin = await book(
        client, clinic.admin, berlin(day, "09:00"), clinic.doctor, patient_id=chart["id"]
    )
    # A doctor booking for themself may leave out doctor_id.
    by_doctor = await book(client, clinic.doctor, berlin(day, "12:00"), patient_id=chart["id"])

    for response, doctor, actor in (
        (by_admin, clinic.doctor, clinic.admin),
        (by_doctor, clinic.doctor, clinic.doctor),
    ):
        appointment = data(response, 201)
        assert appointment["patient_id"] == chart["id"]
        assert appointment["patient_name"] == "Carl Moss"
        assert appointment["doctor_id"] == str(doctor.id)
        assert appointment["booked_by"] == str(actor.id)
        [(action, org, user, _)] = audit_rows(appointment["id"])
        assert (action, org, user) == ("appointment.booked", clinic.id, actor.id)


async def test_bad_input_is_a_400_naming_the_fields(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    starts_at = iso(berlin(in_days(14), "10:00"))
    cases: list[tuple[dict[str, Any], set[str | None]]] = [
        ({"starts_at": starts_at}, {"doctor_id"}),
        ({"doctor_id": str(clinic.doctor.id)}, {"starts_at"}),
        ({"doctor_id": str(clinic.doctor.id), "starts_at": "tomorrow"}, {"starts_at"}),
        ({"doctor_id": "nope", "starts_at": starts_at}, {"doctor_id"}),
        ({"doctor_id": str(clinic.doctor.id), "starts_at": starts_at, "type": "phone"}, {"type"}),
        ({"doctor_id": str(clinic.doctor.id), "starts_at": starts_at, "colour": "red"}, {"colour"}),
        (
            {"doctor_id": str(clinic.doctor.id), "starts_at": starts_at, "reason": "x" * 2001},
            {"reason"},
        ),
        # A patient books for themself.
        (
            {
                "doctor_id": str(clinic.doctor.id),
                "starts_at": starts_at,
                "patient_id": str(UNKNOWN),
            },
            {"patient_id"},
        ),
    ]
    for body, fields in cases:
        response = await client.post(APPOINTMENTS, json=body, headers=patient.headers)
        assert_error(response, 400, "VALIDATION_ERROR", fields=fields)


async def test_staff_name_the_chart_and_the_doctor(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    starts_at = iso(berlin(in_days(14), "10:00"))

    response = await client.post(
        APPOINTMENTS, json={"starts_at": starts_at}, headers=clinic.admin.headers
    )

    assert_error(response, 400, "VALIDATION_ERROR", fields={"doctor_id", "patient_id"})


async def test_anonymous_is_401(client: httpx.AsyncClient, clinic: Clinic) -> None:
    body = {"doctor_id": str(clinic.doctor.id), "starts_at": iso(berlin(in_days(14), "10:00"))}

    assert_error(await client.post(APPOINTMENTS, json=body), 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("role", ["pharmacist", "customer", "super_admin", "sales"])
async def test_other_roles_are_403(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, role: str
) -> None:
    organization = (
        None if role in {"customer", "super_admin"} else (await factory.organization("pharmacy")).id
    )
    outsider = await factory.user(role, organization_id=organization)
    body = {"doctor_id": str(clinic.doctor.id), "starts_at": iso(berlin(in_days(14), "10:00"))}

    response = await client.post(APPOINTMENTS, json=body, headers=outsider.headers)

    assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_a_doctor_not_yet_approved_cannot_book_nor_be_booked(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, patient: Account
) -> None:
    waiting = await doctor_with_profile(
        client, factory, clinic.id, approved=False, availability=every_day()
    )
    chart = await staff_chart(client, clinic.admin)
    starts_at = berlin(in_days(14), "10:00")

    as_actor = await book(client, waiting, starts_at, patient_id=chart["id"])
    assert_error(as_actor, 403, "AUTHORIZATION_ERROR")
    assert_error(await client.get(APPOINTMENTS, headers=waiting.headers), 403)
    # Not in the directory: nobody can book them.
    assert_error(await book(client, patient, starts_at, waiting), 404, "NOT_FOUND")
    solo = await register_doctor(client)
    assert_error(await book(client, solo, starts_at, patient_id=chart["id"]), 403)


async def test_unknown_or_unlisted_doctors_are_404(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, patient: Account
) -> None:
    hidden = await doctor_with_profile(
        client, factory, clinic.id, availability=every_day(), is_listed=False
    )
    starts_at = berlin(in_days(14), "10:00")

    assert_error(await book(client, patient, starts_at, UNKNOWN), 404, "NOT_FOUND")
    assert_error(await book(client, patient, starts_at, hidden), 404, "NOT_FOUND")


async def test_staff_reach_only_their_own_charts_and_doctors(
    client: httpx.AsyncClient, clinic: Clinic, other_clinic: Clinic
) -> None:
    theirs = await staff_chart(client, other_clinic.admin)
    ours = await staff_chart(client, clinic.admin)
    starts_at = berlin(in_days(14), "10:00")

    other_chart = await book(
        client, clinic.admin, starts_at, clinic.doctor, patient_id=theirs["id"]
    )
    assert_error(other_chart, 404, "NOT_FOUND")
    other_doctor = await book(
        client, clinic.admin, starts_at, other_clinic.doctor, patient_id=ours["id"]
    )
    assert_error(other_doctor, 400, "VALIDATION_ERROR", "doctor_id")


async def test_only_free_slots_can_be_booked(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, patient: Account
) -> None:
    other = await make_patient(client, factory, "Bob Roe")
    day = in_days(14)
    taken = berlin(day, "10:00")
    await booked(client, other, taken, clinic.doctor)
    now = datetime.now(UTC)
    hours = await doctor_with_profile(
        client,
        factory,
        clinic.id,
        availability=every_day("09:00", "12:00", 30),
    )

    refused = {
        "taken": await book(client, patient, taken, clinic.doctor),
        "inside a slot": await book(client, patient, berlin(day, "10:10"), clinic.doctor),
        "in the past": await book(client, patient, berlin(in_days(-2), "10:00"), clinic.doctor),
        "within the lead time": await book(
            client,
            patient,
            (now + timedelta(minutes=20)).replace(minute=0, second=0),
            clinic.doctor,
        ),
        "outside the hours": await book(client, patient, berlin(day, "13:00"), hours),
    }

    for case, response in refused.items():
        error = assert_error(response, 409, "SLOT_UNAVAILABLE", "starts_at")
        assert error["message"], case


async def test_a_time_zone_offset_in_the_request_is_the_same_instant(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    starts_at = berlin(in_days(14), "10:00")
    local = starts_at.astimezone(BERLIN).isoformat()

    appointment = data(await book(client, patient, local, clinic.doctor), 201)

    assert appointment["starts_at"] == iso(starts_at)


async def test_a_doctor_out_of_the_directory_stops_being_bookable(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    data(
        await client.put(
            MY_PROFILE, json=profile_body(is_listed=False), headers=clinic.doctor.headers
        )
    )

    response = await book(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)

    assert_error(response, 404, "NOT_FOUND")
