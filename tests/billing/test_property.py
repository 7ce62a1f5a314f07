"""The ledger's laws under random sequences of what people and jobs do: book, pay,
record a transfer (and replay it), cancel (in time, late, by the doctor), complete,
miss, dispute, resolve, let time pass and release, let payments time out.

After every step: each ledger group sums to zero; no appointment's escrow (nor the
total) is negative, and each equals what its payment still holds; the money that came
in equals escrow + doctor payable + platform revenue + refunds; a payment is refunded
at most once and never more than was captured; and no request failed with a 5xx.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from medhub.billing import escrow
from medhub.config import Settings
from medhub.kit.db import Database
from tests.appointments.helpers import move_to
from tests.billing.helpers import (
    APPOINTMENTS,
    AdminSql,
    Clinic,
    Clock,
    book_paid,
    cancel,
    dispute_path,
    mark_paid,
    pay_path,
    resolve_path,
    update,
)
from tests.factories import Account

# Distinct times for the visits that happen (completed or missed), further and further
# back, and for the late cancellations (inside the cut-off), so no two overlap.
_past = itertools.count()
_soon = itertools.count()

OPS = st.sampled_from(
    [
        "pay",
        "mark_paid",
        "mark_paid",  # replays are common: the same transfer recorded twice
        "cancel",
        "cancel_late",
        "cancel_by_doctor",
        "complete",
        "no_show",
        "dispute",
        "resolve",
        "release",
        "expire",
    ]
)
STEPS = st.lists(st.tuples(OPS, st.integers(0, 3), st.integers(0, 40)), min_size=3, max_size=12)


@dataclass
class World:
    client: httpx.AsyncClient
    clinic: Clinic
    patient: Account
    admin_sql: AdminSql
    clock: Clock
    database: Database
    settings: Settings


def _fine(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text


async def _status(world: World, appointment_id: str) -> str:
    response = await world.client.get(
        f"{APPOINTMENTS}/{appointment_id}", headers=world.patient.headers
    )
    _fine(response)
    return str(response.json()["data"]["status"])


async def _step(world: World, op: str, appointment_id: str, knob: int) -> None:  # noqa: PLR0912 - one branch per operation
    client, clinic, patient = world.client, world.clinic, world.patient
    if op == "pay":
        _fine(await client.post(pay_path(appointment_id), headers=patient.headers))
    elif op == "mark_paid":
        _fine(await mark_paid(client, clinic, appointment_id))
    elif op == "cancel":
        _fine(await cancel(client, patient, appointment_id))
    elif op == "cancel_late":
        if await _status(world, appointment_id) in {"requested", "confirmed"}:
            starts = datetime.now(UTC) + timedelta(minutes=90 + 31 * (next(_soon) % 40))
            move_to(world.admin_sql, appointment_id, starts.replace(microsecond=0))
            _fine(await cancel(client, patient, appointment_id))
    elif op == "cancel_by_doctor":
        _fine(await cancel(client, clinic.doctor, appointment_id))
    elif op in {"complete", "no_show"}:
        if await _status(world, appointment_id) in {"requested", "confirmed"}:
            starts = datetime.now(UTC) - timedelta(minutes=31 * (next(_past) + 1))
            move_to(world.admin_sql, appointment_id, starts.replace(microsecond=0))
            if op == "no_show":
                _fine(await update(client, clinic.doctor, appointment_id, status="no_show"))
            else:
                moved = await update(client, clinic.doctor, appointment_id, status="in_progress")
                _fine(moved)
                _fine(await update(client, clinic.doctor, appointment_id, status="completed"))
    elif op == "dispute":
        body = {"reason": "not satisfied"}
        _fine(await client.post(dispute_path(appointment_id), json=body, headers=patient.headers))
    elif op == "resolve":
        body: dict[str, Any] = [
            {"resolution": "release"},
            {"resolution": "refund"},
            {"resolution": "partial_refund", "amount": f"{knob + 1}.00"},
        ][knob % 3]
        _fine(
            await client.post(resolve_path(appointment_id), json=body, headers=clinic.admin.headers)
        )
    elif op == "release":
        world.clock.advance(hours=knob)
        await escrow.release_due(world.database, world.settings)
    elif op == "expire":
        world.clock.advance(minutes=knob)
        await escrow.expire_unpaid(world.database, world.settings)


def _check_laws(admin_sql: AdminSql) -> None:
    assert (
        admin_sql(
            "SELECT group_id FROM ledger_entries GROUP BY group_id, currency"
            " HAVING sum(amount) <> 0"
        )
        == []
    )
    totals = dict(admin_sql("SELECT account, sum(amount) FROM ledger_entries GROUP BY account"))
    zero = Decimal(0)
    assert totals.get("escrow", zero) >= 0
    money_in = -totals.get("patient_payments", zero)
    assert money_in == sum(
        (
            totals.get(account, zero)
            for account in ("escrow", "doctor_payable", "platform_revenue", "refunds")
        ),
        zero,
    )
    # Each appointment's escrow is exactly what its payments still hold, never negative.
    mismatched = admin_sql(
        "WITH e AS (SELECT appointment_id, sum(amount) AS escrow FROM ledger_entries"
        "  WHERE account = 'escrow' GROUP BY appointment_id),"
        " h AS (SELECT appointment_id, sum(CASE WHEN status = 'captured'"
        "  AND released_at IS NULL THEN amount - refunded_amount ELSE 0 END) AS held"
        "  FROM appointment_payments GROUP BY appointment_id)"
        " SELECT coalesce(e.appointment_id, h.appointment_id), e.escrow, h.held"
        " FROM e FULL JOIN h ON h.appointment_id = e.appointment_id"
        " WHERE coalesce(e.escrow, 0) <> coalesce(h.held, 0) OR coalesce(e.escrow, 0) < 0"
    )
    assert mismatched == []
    # Refunded at most once, never more than captured.
    assert (
        admin_sql(
            "SELECT appointment_id FROM ledger_entries WHERE kind = 'refund'"
            " AND account = 'refunds' GROUP BY appointment_id HAVING count(*) > 1"
        )
        == []
    )
    assert (
        admin_sql(
            "SELECT id FROM appointment_payments WHERE refunded_amount > amount"
            " OR (refunded_amount > 0 AND status <> 'captured')"
        )
        == []
    )


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
async def test_the_ledger_laws_hold_whatever_happens(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
    steps: list[tuple[str, int, int]],
) -> None:
    world = World(client, clinic, patient, admin_sql, clock, database, settings)
    appointments = [(await book_paid(client, patient, clinic))["id"] for _ in range(2)]
    for op, which, knob in steps:
        await _step(world, op, appointments[which % len(appointments)], knob)
        _check_laws(admin_sql)
