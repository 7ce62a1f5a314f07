"""PUT /api/v1/appointments/{id} (a status move or a reschedule) and DELETE (cancel):
the state machine, who may make which move, and when."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.appointments.helpers import (
    APPOINTMENTS,
    AdminSql,
    Clinic,
    berlin,
    book,
    booked,
    cancel,
    data,
    in_days,
    iso,
    move_to,
    slot_starts,
    update,
)
from tests.assertions import assert_error
from tests.factories import Account

AuditRows = Callable[[str], list[tuple[Any, ...]]]


def soon(minutes: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)


async def moved(
    client: httpx.AsyncClient, who: Account, appointment: dict[str, Any], status: str
) -> dict[str, Any]:
    result: dict[str, Any] = data(await update(client, who, appointment["id"], status=status))
    assert result["status"] == status
    return result


async def test_the_doctors_side_walks_an_appointment_through_its_life(
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    audit_rows: AuditRows,
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)

    await moved(client, clinic.doctor, appointment, "confirmed")
    too_early = await update(client, clinic.admin, appointment["id"], status="checked_in")
    assert_error(too_early, 409, "INVALID_STATE_TRANSITION", "status")
    # The day comes: check-in opens 15 minutes before the start.
    move_to(admin_sql, appointment["id"], soon(10))
    await moved(client, clinic.admin, appointment, "checked_in")
    await moved(client, clinic.doctor, appointment, "in_progress")
    done = await moved(client, clinic.doctor, appointment, "completed")

    assert done["id"] == appointment["id"]
    rows = audit_rows(appointment["id"])
    assert [row[0] for row in rows] == ["appointment.booked"] + ["appointment.status_changed"] * 4
    assert [(row[3]["from"], row[3]["to"]) for row in rows[1:]] == [
        ("requested", "confirmed"),
        ("confirmed", "checked_in"),
        ("checked_in", "in_progress"),
        ("in_progress", "completed"),
    ]
    assert [row[2] for row in rows[1:]] == [clinic.doctor.id, clinic.admin.id] + [
        clinic.doctor.id
    ] * 2
    assert {row[1] for row in rows} == {clinic.id}
    # The patient heard of the booking and of the confirmation.
    titles = [
        title
        for (title,) in admin_sql(
            "SELECT title FROM notifications WHERE user_id = %s ORDER BY seq", [patient.id]
        )
    ]
    assert titles == [
        "Appointment booked with Dr. Ada Meyer",
        "Appointment with Dr. Ada Meyer confirmed",
    ]


async def test_a_video_consultation_starts_without_a_check_in(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await booked(
        client, patient, berlin(in_days(14), "10:00"), clinic.doctor, type="video"
    )
    await moved(client, clinic.doctor, appointment, "confirmed")
    move_to(admin_sql, appointment["id"], soon(14))

    await moved(client, clinic.doctor, appointment, "in_progress")

    # Starting it opened its consultation, in the appointment's video room.
    [(status, same_room)] = admin_sql(
        "SELECT c.status, c.video_room = a.video_room FROM consultations c"
        " JOIN appointments a ON a.id = c.appointment_id WHERE a.id = %s",
        [appointment["id"]],
    )
    assert (status, same_room) == ("in_progress", True)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "completed"),
        ([], "in_progress"),
        ([], "checked_in"),
        (["confirmed"], "confirmed"),
        (["confirmed", "in_progress"], "confirmed"),
        (["confirmed", "in_progress"], "cancelled"),
        (["confirmed", "in_progress"], "no_show"),
        (["confirmed", "in_progress", "completed"], "in_progress"),
        (["no_show"], "confirmed"),
        (["cancelled"], "confirmed"),
    ],
)
async def test_moves_the_state_machine_does_not_allow_are_409(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    path: list[str],
    target: str,
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    # Started a minute ago: every move's time has come; only the state decides.
    move_to(admin_sql, appointment["id"], soon(-1))
    for status in path:
        await moved(client, clinic.doctor, appointment, status)

    response = await update(client, clinic.doctor, appointment["id"], status=target)

    error = assert_error(response, 409, "INVALID_STATE_TRANSITION", "status")
    assert error["details"][0]["message"].startswith("allowed next: ")


async def test_a_no_show_only_once_the_start_has_passed(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    await moved(client, clinic.doctor, appointment, "confirmed")
    move_to(admin_sql, appointment["id"], soon(10))

    early = await update(client, clinic.doctor, appointment["id"], status="no_show")
    assert_error(early, 409, "INVALID_STATE_TRANSITION", "status")
    move_to(admin_sql, appointment["id"], soon(-20))
    await moved(client, clinic.doctor, appointment, "no_show")


async def test_patients_only_reschedule_and_cancel(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, bob: Account
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)

    for status in ("confirmed", "checked_in", "in_progress", "completed", "no_show"):
        response = await update(client, patient, appointment["id"], status=status)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    # Another patient's appointment is not theirs to see at all.
    for response in (
        await update(client, bob, appointment["id"], status="confirmed"),
        await update(client, bob, appointment["id"], status="cancelled"),
        await update(client, bob, appointment["id"], starts_at=iso(berlin(in_days(15), "10:00"))),
        await cancel(client, bob, appointment["id"]),
    ):
        assert_error(response, 404, "NOT_FOUND")


async def test_another_organizations_staff_find_nothing(
    client: httpx.AsyncClient, clinic: Clinic, other_clinic: Clinic, patient: Account
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)

    for who in (other_clinic.admin, other_clinic.doctor, clinic.colleague):
        assert_error(await update(client, who, appointment["id"], status="confirmed"), 404)
        assert_error(await cancel(client, who, appointment["id"]), 404)


async def test_writes_need_a_caller_of_a_role_with_appointments(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, factory: Any
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    path = f"{APPOINTMENTS}/{appointment['id']}"

    assert_error(await client.put(path, json={"status": "confirmed"}), 401)
    assert_error(await client.delete(path), 401)
    for who in (await factory.user("super_admin"), await factory.user("customer")):
        assert_error(await client.put(path, json={"status": "confirmed"}, headers=who.headers), 403)
        assert_error(await client.delete(path, headers=who.headers), 403)


async def test_an_update_is_one_change(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    later = iso(berlin(in_days(15), "10:00"))

    for body, fields in (
        ({}, {"starts_at", "status"}),
        ({"starts_at": later, "status": "confirmed"}, {"starts_at", "status"}),
        ({"status": "done"}, {"status"}),
        ({"status": "requested"}, {"status"}),
        ({"starts_at": "soon"}, {"starts_at"}),
        ({"status": "confirmed", "reason": "why not"}, {"reason"}),
        ({"starts_at": later, "reason": "why not"}, {"reason"}),
        ({"status": "confirmed", "notes": "x"}, {"notes"}),
    ):
        response = await update(client, clinic.doctor, appointment["id"], **body)
        assert_error(response, 400, "VALIDATION_ERROR", fields=fields)


async def test_cancelling_keeps_the_row_records_who_and_frees_the_slot(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, bob: Account, audit_rows: AuditRows
) -> None:
    day = in_days(14)
    appointment = await booked(client, patient, berlin(day, "10:00"), clinic.doctor)

    response = await cancel(client, patient, appointment["id"], reason="Feeling better")

    cancelled = data(response)
    assert response.json()["message"] == "Appointment cancelled"
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == str(patient.id)
    assert cancelled["cancellation_reason"] == "Feeling better"
    assert cancelled["cancelled_late"] is False
    assert cancelled["cancelled_at"] is not None
    assert (
        data(await client.get(f"{APPOINTMENTS}/{appointment['id']}", headers=patient.headers))
        == cancelled
    )
    [_, (action, org, user, metadata)] = audit_rows(appointment["id"])
    assert (action, org, user) == ("appointment.cancelled", clinic.id, patient.id)
    assert metadata == {"from": "requested", "late": False, "reason_given": True, "by": "patient"}
    # The time is free again: offered, and bookable by someone else.
    assert iso(berlin(day, "10:00")) in await slot_starts(client, clinic.doctor, day)
    await booked(client, bob, berlin(day, "10:00"), clinic.doctor)
    # Cancelling twice, or a finished appointment, is a conflict.
    assert_error(await cancel(client, patient, appointment["id"]), 409, "INVALID_STATE_TRANSITION")


async def test_staff_cancel_with_put_or_delete(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    first = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    second = await booked(client, patient, berlin(in_days(15), "10:00"), clinic.doctor)
    third = await booked(client, patient, berlin(in_days(16), "10:00"), clinic.doctor)

    by_put = data(
        await update(client, clinic.doctor, first["id"], status="cancelled", reason="Doctor ill")
    )
    by_delete = data(await cancel(client, clinic.admin, second["id"]))

    assert (by_put["status"], by_put["cancelled_by"]) == ("cancelled", str(clinic.doctor.id))
    assert by_put["cancellation_reason"] == "Doctor ill"
    assert (by_delete["cancelled_by"], by_delete["cancellation_reason"]) == (
        str(clinic.admin.id),
        None,
    )
    # The doctor's side cancels late without it counting against the patient.
    move_to(admin_sql, third["id"], soon(60))
    assert data(await cancel(client, clinic.admin, third["id"]))["cancelled_late"] is False


async def test_a_patients_cancellation_inside_the_cut_off_is_late(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    move_to(admin_sql, appointment["id"], soon(6 * 60))

    cancelled = data(await cancel(client, patient, appointment["id"]))

    assert cancelled["cancelled_late"] is True


async def test_a_patient_cannot_cancel_once_it_has_started(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    move_to(admin_sql, appointment["id"], soon(-5))

    response = await cancel(client, patient, appointment["id"])

    assert_error(response, 409, "INVALID_STATE_TRANSITION", "status")


async def test_completed_or_no_show_cannot_be_cancelled(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    done = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    missed = await booked(client, patient, berlin(in_days(15), "10:00"), clinic.doctor)
    move_to(admin_sql, done["id"], soon(-60))
    move_to(admin_sql, missed["id"], soon(-20))
    for status in ("confirmed", "in_progress", "completed"):
        await moved(client, clinic.doctor, done, status)
    await moved(client, clinic.doctor, missed, "no_show")

    for appointment in (done, missed):
        response = await cancel(client, clinic.admin, appointment["id"])
        assert_error(response, 409, "INVALID_STATE_TRANSITION")


# Rescheduling


async def test_a_patient_reschedules_to_another_free_slot(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, audit_rows: AuditRows
) -> None:
    day, later = in_days(14), in_days(16)
    appointment = await booked(client, patient, berlin(day, "10:00"), clinic.doctor)
    await moved(client, clinic.doctor, appointment, "confirmed")

    response = await update(
        client, patient, appointment["id"], starts_at=iso(berlin(later, "15:30"))
    )

    moved_to = data(response)
    assert response.json()["message"] == "Appointment rescheduled"
    assert moved_to["starts_at"] == iso(berlin(later, "15:30"))
    assert moved_to["ends_at"] == iso(berlin(later, "16:00"))
    # The doctor confirmed the old time, not this one.
    assert moved_to["status"] == "requested"
    assert iso(berlin(day, "10:00")) in await slot_starts(client, clinic.doctor, day)
    assert iso(berlin(later, "15:30")) not in await slot_starts(client, clinic.doctor, later)
    rows = audit_rows(appointment["id"])
    assert rows[-1][0] == "appointment.rescheduled"
    assert rows[-1][3]["from"] == berlin(day, "10:00").isoformat()
    assert rows[-1][3]["to"] == berlin(later, "15:30").isoformat()


async def test_staff_reschedule_and_keep_the_confirmation(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    await moved(client, clinic.doctor, appointment, "confirmed")

    moved_to = data(
        await update(
            client, clinic.admin, appointment["id"], starts_at=iso(berlin(in_days(14), "10:30"))
        )
    )

    assert (moved_to["status"], moved_to["starts_at"]) == (
        "confirmed",
        iso(berlin(in_days(14), "10:30")),
    )


async def test_rescheduling_checks_the_new_slot_like_a_booking(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, bob: Account
) -> None:
    day = in_days(14)
    appointment = await booked(client, patient, berlin(day, "10:00"), clinic.doctor)
    await booked(client, bob, berlin(day, "11:00"), clinic.doctor)

    for starts_at in (berlin(day, "11:00"), berlin(day, "10:15"), berlin(in_days(-1), "10:00")):
        response = await update(client, patient, appointment["id"], starts_at=iso(starts_at))
        assert_error(response, 409, "SLOT_UNAVAILABLE", "starts_at")
    same = await update(client, patient, appointment["id"], starts_at=iso(berlin(day, "10:00")))
    assert_error(same, 400, "VALIDATION_ERROR", "starts_at")
    # Moving by half an hour overlaps its own old time: that time is its own to give up.
    shifted = data(
        await update(client, patient, appointment["id"], starts_at=iso(berlin(day, "10:30")))
    )
    assert shifted["starts_at"] == iso(berlin(day, "10:30"))


async def test_patients_reschedule_only_until_the_cut_off_staff_any_time(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    move_to(admin_sql, appointment["id"], soon(20 * 60))
    target = iso(berlin(in_days(15), "10:00"))

    too_late = await update(client, patient, appointment["id"], starts_at=target)
    assert_error(too_late, 409, "INVALID_STATE_TRANSITION", "starts_at")
    assert (
        data(await update(client, clinic.doctor, appointment["id"], starts_at=target))["starts_at"]
        == target
    )


async def test_only_requested_or_confirmed_appointments_move(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    appointment = await booked(client, patient, berlin(in_days(14), "10:00"), clinic.doctor)
    data(await cancel(client, patient, appointment["id"]))

    response = await update(
        client, clinic.admin, appointment["id"], starts_at=iso(berlin(in_days(15), "10:00"))
    )

    assert_error(response, 409, "INVALID_STATE_TRANSITION", "starts_at")
    # Its old time went with the cancellation.
    data(await book(client, patient, berlin(in_days(14), "10:00"), clinic.doctor), 201)
