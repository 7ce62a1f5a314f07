"""Paths, builders and readers shared by the billing tests.

Billing's clock (`medhub.billing.service.now`) is moved by the `clock` fixture (hold
windows, payment timeouts), never by sleeping; the appointments' own time rules read
the real clock, so a visit "happens" by moving its start next to now (`move_to`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.appointments.helpers import (
    API,
    APPOINTMENTS,
    AdminSql,
    Clinic,
    berlin,
    booked,
    cancel,
    data,
    in_days,
    move_to,
    update,
)
from tests.factories import Account

LEDGER = f"{API}/billing/ledger"
EARNINGS = f"{API}/doctors/me/earnings"
FEE = Decimal("80.00")

# Distinct booking times across a test (and across hypothesis examples): day and hour.
_slots = itertools.count()

__all__ = ["APPOINTMENTS", "AdminSql", "Clinic", "cancel", "data", "update"]


def next_start() -> datetime:
    """A free future slot of the clinic's (always-available) doctors, never reused."""
    n = next(_slots)
    return berlin(in_days(3 + n // 20), f"{2 + n % 20:02d}:00")


@dataclass
class Clock:
    """Billing's now(), moved by tests."""

    moment: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)

    def follow_real_time(self) -> None:
        """Catch up with the wall clock (after the appointments' real-time moves)."""
        self.moment = max(self.moment, datetime.now(UTC))


def pay_path(appointment_id: str) -> str:
    return f"{APPOINTMENTS}/{appointment_id}/pay"


def mark_paid_path(appointment_id: str) -> str:
    return f"{APPOINTMENTS}/{appointment_id}/payments/mark-paid"


def dispute_path(appointment_id: str) -> str:
    return f"{APPOINTMENTS}/{appointment_id}/dispute"


def resolve_path(appointment_id: str) -> str:
    return f"{APPOINTMENTS}/{appointment_id}/dispute/resolve"


async def book_paid(
    client: httpx.AsyncClient, patient: Account, clinic: Clinic, starts_at: datetime | None = None
) -> dict[str, Any]:
    """A patient books the clinic's doctor (fee 80.00 EUR): pending payment."""
    return await booked(client, patient, starts_at or next_start(), clinic.doctor)


async def mark_paid(
    client: httpx.AsyncClient,
    clinic: Clinic,
    appointment_id: str,
    *,
    reference: str | None = None,
    amount: str = "80.00",
) -> httpx.Response:
    body = {"reference": reference or f"BANK-{appointment_id[-12:]}", "amount": amount}
    return await client.post(
        mark_paid_path(appointment_id), json=body, headers=clinic.admin.headers
    )


async def held(
    client: httpx.AsyncClient, patient: Account, clinic: Clinic, starts_at: datetime | None = None
) -> dict[str, Any]:
    """A booked and paid consultation: its fee in escrow."""
    appointment = await book_paid(client, patient, clinic, starts_at)
    recorded: dict[str, Any] = data(await mark_paid(client, clinic, appointment["id"]))
    return recorded["appointment"]


async def complete(
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
    clinic: Clinic,
    appointment_id: str,
    *,
    earlier: int = 0,
) -> dict[str, Any]:
    """The visit happens: its start moved next to now (`earlier` half hours before, so
    several of one doctor and patient do not overlap), started and completed."""
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5 - 31 * earlier)
    move_to(admin_sql, appointment_id, starts)
    data(await update(client, clinic.doctor, appointment_id, status="in_progress"))
    done: dict[str, Any] = data(
        await update(client, clinic.doctor, appointment_id, status="completed")
    )
    return done


async def read(client: httpx.AsyncClient, who: Account, appointment_id: str) -> dict[str, Any]:
    result: dict[str, Any] = data(
        await client.get(f"{APPOINTMENTS}/{appointment_id}", headers=who.headers)
    )
    return result


def groups(admin_sql: AdminSql, appointment_id: str) -> list[tuple[str, dict[str, Decimal]]]:
    """The appointment's ledger groups in order: (kind, {account: amount})."""
    rows = admin_sql(
        "SELECT group_id, kind, account, amount FROM ledger_entries WHERE appointment_id = %s"
        " ORDER BY created_at, group_id, id",
        [appointment_id],
    )
    found: dict[Any, tuple[str, dict[str, Decimal]]] = {}
    for group_id, kind, account, amount in rows:
        found.setdefault(group_id, (kind, {}))[1][account] = amount
    return list(found.values())


def unbalanced_groups(admin_sql: AdminSql) -> list[tuple[Any, ...]]:
    return admin_sql(
        "SELECT group_id, currency, sum(amount) FROM ledger_entries"
        " GROUP BY group_id, currency HAVING sum(amount) <> 0"
    )


def balances(admin_sql: AdminSql) -> dict[str, Decimal]:
    rows = admin_sql("SELECT account, sum(amount) FROM ledger_entries GROUP BY account")
    return dict(rows)
