"""Refunds on cancellation, by who cancels and when: the patient in time gets all of
the fee back, late LATE_CANCEL_REFUND_PERCENT (the rest is released like any held
fee); the doctor's side cancelling gives all back; a patient no-show none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from medhub.billing import escrow
from medhub.config import Settings
from medhub.kit.db import Database
from tests.appointments.helpers import move_to
from tests.billing.helpers import (
    AdminSql,
    Clinic,
    Clock,
    balances,
    cancel,
    data,
    groups,
    held,
    read,
    unbalanced_groups,
    update,
)
from tests.factories import Account

REFUND = {"escrow": Decimal("-80.00"), "refunds": Decimal("80.00")}


async def test_the_patient_cancelling_in_time_gets_everything_back(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    appointment = await held(client, patient, clinic)

    cancelled = data(await cancel(client, patient, appointment["id"]))

    assert cancelled["cancelled_late"] is False
    assert (cancelled["payment_status"], cancelled["refund_amount"]) == ("refunded", 80.0)
    assert groups(admin_sql, appointment["id"])[1] == ("refund", REFUND)
    # Nothing is left to release, ever.
    clock.advance(days=10)
    assert await escrow.release_due(database, settings) == 0
    assert len(groups(admin_sql, appointment["id"])) == 2


async def test_a_late_cancellation_refunds_half_and_releases_the_rest(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    appointment = await held(client, patient, clinic)
    move_to(admin_sql, appointment["id"], datetime.now(UTC) + timedelta(hours=2))

    cancelled = data(await cancel(client, patient, appointment["id"]))

    assert cancelled["cancelled_late"] is True
    assert (cancelled["payment_status"], cancelled["refund_amount"]) == ("held", 40.0)
    assert groups(admin_sql, appointment["id"])[1] == (
        "refund",
        {"escrow": Decimal("-40.00"), "refunds": Decimal("40.00")},
    )
    clock.advance(hours=24, seconds=1)
    assert await escrow.release_due(database, settings) == 1
    assert groups(admin_sql, appointment["id"])[2] == (
        "release",
        {
            "escrow": Decimal("-40.00"),
            "doctor_payable": Decimal("36.00"),
            "platform_revenue": Decimal("4.00"),
        },
    )
    after = await read(client, patient, appointment["id"])
    assert (after["payment_status"], after["refund_amount"]) == ("paid", 40.0)


async def test_the_doctors_side_cancelling_refunds_everything(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, admin_sql: AdminSql
) -> None:
    first = await held(client, patient, clinic)
    second = await held(client, patient, clinic)
    # Even inside the cut-off: the patient did not cancel.
    move_to(admin_sql, first["id"], datetime.now(UTC) + timedelta(hours=2))

    by_doctor = data(await cancel(client, clinic.doctor, first["id"], "Doctor is ill"))
    by_admin = data(await cancel(client, clinic.admin, second["id"]))

    for cancelled in (by_doctor, by_admin):
        assert (cancelled["payment_status"], cancelled["refund_amount"]) == ("refunded", 80.0)
        assert groups(admin_sql, cancelled["id"])[1] == ("refund", REFUND)


async def test_a_patient_no_show_refunds_nothing_and_the_fee_is_released(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    appointment = await held(client, patient, clinic)
    move_to(admin_sql, appointment["id"], datetime.now(UTC) - timedelta(hours=1))
    missed = data(await update(client, clinic.doctor, appointment["id"], status="no_show"))
    assert (missed["payment_status"], missed["refund_amount"]) == ("held", 0)

    clock.advance(hours=25)
    assert await escrow.release_due(database, settings) == 1

    assert [kind for kind, _ in groups(admin_sql, appointment["id"])] == ["capture", "release"]
    assert groups(admin_sql, appointment["id"])[1][1]["doctor_payable"] == Decimal("72.00")
    assert unbalanced_groups(admin_sql) == []
    totals = balances(admin_sql)
    assert -totals["patient_payments"] == sum(
        totals.get(account, Decimal(0))
        for account in ("escrow", "doctor_payable", "platform_revenue", "refunds")
    )


def test_a_refund_share_rounds_down_to_the_cent() -> None:
    from medhub.billing.service import refund_share  # noqa: PLC0415

    assert refund_share(Decimal("80.00"), Decimal(0)) == Decimal("0.00")
    assert refund_share(Decimal("33.33"), Decimal(50)) == Decimal("16.66")
    assert refund_share(Decimal("80.00"), Decimal(100)) == Decimal("80.00")
