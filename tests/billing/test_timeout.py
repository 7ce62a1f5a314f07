"""A paid consultation left unpaid past APPOINTMENT_PAYMENT_TIMEOUT_MINUTES is
cancelled by the periodic task: its slot is free again and the patient is told."""

from __future__ import annotations

import httpx

from medhub.billing import escrow
from medhub.config import Settings
from medhub.kit.db import Database
from tests.appointments.helpers import book
from tests.billing.helpers import (
    AdminSql,
    Clinic,
    Clock,
    book_paid,
    data,
    groups,
    held,
    next_start,
    pay_path,
    read,
    update,
)
from tests.factories import Account


async def test_an_unpaid_booking_is_cancelled_after_the_timeout(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    bob: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    starts_at = next_start()
    unpaid = await book_paid(client, patient, clinic, starts_at)
    paid = await held(client, patient, clinic)
    restarted = await book_paid(client, patient, clinic)

    clock.advance(minutes=29)
    assert await escrow.expire_unpaid(database, settings) == 0
    # Restarting the payment gives it a new timeout.
    data(await client.post(pay_path(restarted["id"]), headers=patient.headers))
    clock.advance(minutes=1)
    assert await escrow.expire_unpaid(database, settings) == 1
    assert await escrow.expire_unpaid(database, settings) == 0

    gone = await read(client, patient, unpaid["id"])
    assert (gone["status"], gone["payment_status"]) == ("cancelled", "unpaid")
    assert gone["cancellation_reason"] == "The consultation fee was not paid in time"
    assert (await read(client, patient, paid["id"]))["status"] == "confirmed"
    assert (await read(client, patient, restarted["id"]))["status"] == "requested"
    assert admin_sql(
        "SELECT status FROM appointment_payments WHERE appointment_id = %s", [unpaid["id"]]
    ) == [("cancelled",)]
    assert groups(admin_sql, unpaid["id"]) == []
    notified = admin_sql(
        "SELECT count(*) FROM notifications WHERE user_id = %s AND data->>'appointment_id' = %s",
        [patient.id, unpaid["id"]],
    )
    assert notified[0][0] >= 2  # booked, then cancelled
    # The slot is free again.
    response = await book(client, bob, starts_at, clinic.doctor)
    assert response.status_code == 201, response.text


async def test_a_booking_the_staff_confirmed_unpaid_is_kept(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    """To be paid at the desk: the organization's decision, not the timeout's."""
    appointment = await book_paid(client, patient, clinic)
    confirmed = await update(client, clinic.admin, appointment["id"], status="confirmed")
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(minutes=31)
    assert await escrow.expire_unpaid(database, settings) == 0
    kept = await read(client, patient, appointment["id"])
    assert (kept["status"], kept["payment_status"]) == ("confirmed", "unpaid")
