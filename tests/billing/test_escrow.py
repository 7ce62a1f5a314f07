"""Paying a consultation: booking leaves it pending with what to pay, the patient
(re)starts the payment, the organization's admin records the transfer (captured into
escrow, the appointment confirmed), and the release task pays the doctor after the
hold window, minus the platform fee, once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx

from medhub.billing import escrow
from medhub.billing.service import split
from medhub.config import Settings
from medhub.kit.db import Database
from tests.appointments.helpers import UNKNOWN, booked, make_clinic
from tests.assertions import assert_error
from tests.billing.helpers import (
    AdminSql,
    Clinic,
    Clock,
    book_paid,
    complete,
    data,
    groups,
    held,
    mark_paid,
    mark_paid_path,
    next_start,
    pay_path,
    read,
    unbalanced_groups,
)
from tests.factories import Account, Factory


async def test_booking_a_paid_doctor_waits_for_the_fee_and_says_how_to_pay(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, clock: Clock
) -> None:
    appointment = await book_paid(client, patient, clinic)

    assert (appointment["status"], appointment["payment_status"]) == ("requested", "pending")
    payment = appointment["payment"]
    assert payment["provider"] == "manual"
    assert (payment["amount"], payment["currency"], payment["status"]) == (80.0, "EUR", "pending")
    assert payment["reference"].startswith("APT-")
    assert payment["reference"] in payment["instructions"]
    assert "80.00 EUR" in payment["instructions"]
    assert payment["expires_at"] is not None


async def test_booking_a_free_doctor_is_unchanged(
    client: httpx.AsyncClient, factory: Factory, patient: Account, admin_sql: AdminSql
) -> None:
    free = await make_clinic(client, factory, consultation_fee="0")
    appointment = await booked(client, patient, next_start(), free.doctor)

    assert (appointment["payment_status"], appointment["payment"]) == ("not_required", None)
    assert admin_sql(
        "SELECT count(*) FROM appointment_payments WHERE appointment_id = %s", [appointment["id"]]
    ) == [(0,)]
    # And there is nothing to pay.
    response = await client.post(pay_path(appointment["id"]), headers=patient.headers)
    assert_error(response, 409, "PAYMENT_STATE_CONFLICT")


async def test_staff_booking_for_a_chart_stays_unpaid_until_paid_at_the_desk(
    client: httpx.AsyncClient, clinic: Clinic, admin_sql: AdminSql
) -> None:
    chart = data(
        await client.post(
            "/api/v1/patients",
            json={"first_name": "Carl", "last_name": "Moss", "date_of_birth": "1970-06-01"},
            headers=clinic.admin.headers,
        ),
        201,
    )
    appointment = await booked(
        client, clinic.admin, next_start(), clinic.doctor, patient_id=chart["id"]
    )
    assert (appointment["payment_status"], appointment["payment"]) == ("unpaid", None)

    recorded = data(await mark_paid(client, clinic, appointment["id"]))
    assert recorded["appointment"]["payment_status"] == "held"
    assert recorded["appointment"]["status"] == "confirmed"


async def test_the_patient_restarts_a_pending_payment(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, clock: Clock
) -> None:
    appointment = await book_paid(client, patient, clinic)
    clock.advance(minutes=20)

    response = await client.post(pay_path(appointment["id"]), headers=patient.headers)
    again = data(response)
    assert response.json()["message"] == "Payment already in progress"
    assert again["payment"]["payment_id"] == appointment["payment"]["payment_id"]
    assert again["payment"]["reference"] == appointment["payment"]["reference"]
    assert again["payment"]["expires_at"] > appointment["payment"]["expires_at"]
    assert again["appointment"]["payment_status"] == "pending"


async def test_paying_is_the_patients_own_business(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, bob: Account
) -> None:
    appointment = await book_paid(client, patient, clinic)
    path = pay_path(appointment["id"])

    assert_error(await client.post(path), 401)
    for who in (clinic.doctor, clinic.admin):
        assert_error(await client.post(path, headers=who.headers), 403)
    assert_error(await client.post(path, headers=bob.headers), 404, "NOT_FOUND")
    assert_error(await client.post(pay_path(str(UNKNOWN)), headers=patient.headers), 404)
    assert_error(await client.post(pay_path("nope"), headers=patient.headers), 400)


async def test_mark_paid_holds_the_fee_in_escrow_and_confirms(
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
) -> None:
    appointment = await book_paid(client, patient, clinic)

    recorded = data(await mark_paid(client, clinic, appointment["id"], reference="BANK-1"))

    assert recorded["payment"]["status"] == "captured"
    assert recorded["payment"]["provider_reference"] == "BANK-1"
    assert recorded["appointment"]["status"] == "confirmed"
    assert recorded["appointment"]["payment_status"] == "held"
    assert groups(admin_sql, appointment["id"]) == [
        ("capture", {"patient_payments": Decimal("-80.00"), "escrow": Decimal("80.00")})
    ]
    actions = [
        row[0]
        for row in admin_sql(
            "SELECT action FROM activity_logs WHERE entity_id = %s ORDER BY created_at, id",
            [appointment["id"]],
        )
    ]
    assert "appointment_payment.captured" in actions
    # The patient hears that the appointment is confirmed.
    notices = admin_sql(
        "SELECT title FROM notifications WHERE user_id = %s AND title LIKE %s",
        [patient.id, "%confirmed%"],
    )
    assert notices
    # Paid: the patient cannot pay again.
    again = await client.post(pay_path(appointment["id"]), headers=patient.headers)
    assert_error(again, 409, "ALREADY_PAID")


async def test_mark_paid_refuses_a_wrong_amount_and_a_second_time(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await book_paid(client, patient, clinic)

    wrong = await mark_paid(client, clinic, appointment["id"], amount="79.99")
    assert_error(wrong, 400, "VALIDATION_ERROR", "amount")
    bad = await client.post(
        mark_paid_path(appointment["id"]), json={"amount": "80.00"}, headers=clinic.admin.headers
    )
    assert_error(bad, 400, "VALIDATION_ERROR", "reference")

    data(await mark_paid(client, clinic, appointment["id"], reference="BANK-2"))
    twice = await mark_paid(client, clinic, appointment["id"], reference="BANK-3")
    assert_error(twice, 409, "ALREADY_PAID")
    # A bank reference matches one payment only.
    other = await book_paid(client, patient, clinic)
    reused = await mark_paid(client, clinic, other["id"], reference="BANK-2")
    assert_error(reused, 409, "CONFLICT", "reference")
    assert len(groups(admin_sql, appointment["id"])) == 1
    assert groups(admin_sql, other["id"]) == []


async def test_mark_paid_is_for_the_admins_of_the_doctors_organization(
    client: httpx.AsyncClient,
    clinic: Clinic,
    other_clinic: Clinic,
    patient: Account,
    super_admin: Account,
) -> None:
    appointment = await book_paid(client, patient, clinic)
    path = mark_paid_path(appointment["id"])
    body = {"reference": "BANK-9", "amount": "80.00"}

    assert_error(await client.post(path, json=body), 401)
    for who in (patient, clinic.doctor, super_admin):
        assert_error(await client.post(path, json=body, headers=who.headers), 403)
    other = await client.post(path, json=body, headers=other_clinic.admin.headers)
    assert_error(other, 404, "NOT_FOUND")


async def test_a_cancelled_appointment_takes_no_payment(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    appointment = await book_paid(client, patient, clinic)
    data(
        await client.request(
            "DELETE", f"/api/v1/appointments/{appointment['id']}", headers=patient.headers
        )
    )

    after = await read(client, patient, appointment["id"])
    assert (after["status"], after["payment_status"]) == ("cancelled", "unpaid")
    assert admin_sql(
        "SELECT status FROM appointment_payments WHERE appointment_id = %s", [appointment["id"]]
    ) == [("cancelled",)]
    assert_error(await mark_paid(client, clinic, appointment["id"]), 409, "PAYMENT_STATE_CONFLICT")
    again = await client.post(pay_path(appointment["id"]), headers=patient.headers)
    assert_error(again, 409, "PAYMENT_STATE_CONFLICT")
    assert groups(admin_sql, appointment["id"]) == []


async def test_the_fee_is_released_after_the_hold_window_minus_the_platform_fee(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    appointment = await held(client, patient, clinic)
    # Held, not yet over: nothing to release however long it waits.
    clock.advance(hours=48)
    assert await escrow.release_due(database, settings) == 0

    await complete(client, admin_sql, clinic, appointment["id"])
    clock.advance(hours=23, minutes=59)
    assert await escrow.release_due(database, settings) == 0
    assert (await read(client, patient, appointment["id"]))["payment_status"] == "held"

    clock.advance(minutes=1)
    assert await escrow.release_due(database, settings) == 1
    assert await escrow.release_due(database, settings) == 0

    assert groups(admin_sql, appointment["id"])[1] == (
        "release",
        {
            "escrow": Decimal("-80.00"),
            "doctor_payable": Decimal("72.00"),
            "platform_revenue": Decimal("8.00"),
        },
    )
    after = await read(client, patient, appointment["id"])
    assert (after["payment_status"], after["refund_amount"]) == ("paid", 0)
    assert unbalanced_groups(admin_sql) == []


async def test_a_decimal_hold_counts_in_minutes(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    make_settings: Any,
) -> None:
    settings = make_settings(ESCROW_HOLD_HOURS=Decimal("0.05"))
    appointment = await held(client, patient, clinic)
    await complete(client, admin_sql, clinic, appointment["id"])

    clock.advance(minutes=2, seconds=59)
    assert await escrow.release_due(database, settings) == 0
    clock.advance(seconds=1)
    assert await escrow.release_due(database, settings) == 1


async def test_concurrent_release_runs_release_once(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    ids = []
    for n in range(3):
        appointment = await held(client, patient, clinic)
        await complete(client, admin_sql, clinic, appointment["id"], earlier=n)
        ids.append(appointment["id"])
    clock.advance(hours=25)

    runs = await asyncio.gather(*(escrow.release_due(database, settings) for _ in range(3)))

    assert sum(runs) == 3
    for appointment_id in ids:
        assert [kind for kind, _ in groups(admin_sql, appointment_id)] == ["capture", "release"]


async def test_the_platform_fee_rounds_down_and_an_organization_may_have_its_own(  # noqa: PLR0917
    client: httpx.AsyncClient,
    factory: Factory,
    patient: Account,
    admin_sql: AdminSql,
    super_admin: Account,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    assert split(Decimal("33.33"), Decimal(10)) == (Decimal("30.00"), Decimal("3.33"))
    assert split(Decimal("0.01"), Decimal(10)) == (Decimal("0.01"), Decimal("0.00"))
    assert split(Decimal("99.99"), Decimal("12.5")) == (Decimal("87.50"), Decimal("12.49"))

    odd = await make_clinic(client, factory, consultation_fee="33.33")
    response = await client.put(
        f"/api/v1/admin/tenants/{odd.id}",
        json={"platform_fee_percent": "12.5"},
        headers=super_admin.headers,
    )
    assert data(response)["platform_fee_percent"] == 12.5
    # An organization's own admin may not set it.
    denied = await client.put(
        f"/api/v1/admin/tenants/{odd.id}",
        json={"platform_fee_percent": "0"},
        headers=odd.admin.headers,
    )
    assert_error(denied, 403)

    appointment = await booked(client, patient, next_start(), odd.doctor)
    data(await mark_paid(client, odd, appointment["id"], amount="33.33"))
    await complete(client, admin_sql, odd, appointment["id"])
    clock.advance(hours=25)
    assert await escrow.release_due(database, settings) == 1

    # 33.33 x 12.5% = 4.16625: the platform keeps 4.16, the doctor the rest.
    assert groups(admin_sql, appointment["id"])[1][1] == {
        "escrow": Decimal("-33.33"),
        "doctor_payable": Decimal("29.17"),
        "platform_revenue": Decimal("4.16"),
    }
