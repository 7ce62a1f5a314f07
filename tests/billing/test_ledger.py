"""GET /billing/ledger (organization admins: theirs; super admins: all) with balances,
GET /doctors/me/earnings, and the ledger's own guarantees in the database: rows are
only ever added, and a group that does not sum to zero cannot be committed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from medhub.billing import escrow
from medhub.config import Settings
from medhub.kit.db import Database
from tests.assertions import assert_error
from tests.billing.helpers import (
    EARNINGS,
    LEDGER,
    AdminSql,
    Clinic,
    Clock,
    complete,
    data,
    held,
)
from tests.conftest import DatabaseUrls
from tests.factories import Account


async def _ledger(client: httpx.AsyncClient, who: Account, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(await client.get(LEDGER, params=params, headers=who.headers))
    return result


def _balances(page: dict[str, Any]) -> dict[str, float]:
    return {row["account"]: row["balance"] for row in page["balances"]["accounts"]}


async def test_the_ledger_by_organization_with_balances_and_filters(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    other_clinic: Clinic,
    patient: Account,
    super_admin: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    released = await held(client, patient, clinic)
    await complete(client, admin_sql, clinic, released["id"])
    kept = await held(client, patient, clinic)
    elsewhere = await held(client, patient, other_clinic)
    clock.advance(hours=25)
    assert await escrow.release_due(database, settings) == 1

    mine = await _ledger(client, clinic.admin)
    assert mine["pagination"]["total"] == 7  # two captures of 2 legs, a release of 3
    assert {e["organization_id"] for e in mine["ledger_entries"]} == {str(clinic.id)}
    assert _balances(mine) == {
        "patient_payments": -160.0,
        "escrow": 80.0,
        "doctor_payable": 72.0,
        "platform_revenue": 8.0,
    }
    assert all(row["currency"] == "EUR" for row in mine["balances"]["accounts"])

    escrow_only = await _ledger(client, clinic.admin, account="escrow")
    assert {e["account"] for e in escrow_only["ledger_entries"]} == {"escrow"}
    assert _balances(escrow_only) == {"escrow": 80.0}
    one = await _ledger(client, clinic.admin, appointment_id=kept["id"])
    assert {e["appointment_id"] for e in one["ledger_entries"]} == {kept["id"]}
    assert {e["kind"] for e in one["ledger_entries"]} == {"capture"}
    paged = await _ledger(client, clinic.admin, limit=2, page=2)
    assert (len(paged["ledger_entries"]), paged["pagination"]["total_pages"]) == (2, 4)
    assert (await _ledger(client, clinic.admin, to="2000-01-01"))["pagination"]["total"] == 0

    everything = await _ledger(client, super_admin, limit=100)
    organizations = {e["organization_id"] for e in everything["ledger_entries"]}
    assert {str(clinic.id), str(other_clinic.id)} <= organizations
    theirs = await _ledger(client, other_clinic.admin, appointment_id=released["id"])
    assert theirs["pagination"]["total"] == 0
    assert elsewhere["payment_status"] == "held"


async def test_the_ledger_is_for_admins(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account
) -> None:
    assert_error(await client.get(LEDGER), 401)
    for who in (patient, clinic.doctor):
        assert_error(await client.get(LEDGER, headers=who.headers), 403)
    for params in (
        {"account": "pocket"},
        {"from": "2026-02-30"},
        {"from": "2026-03-02", "to": "2026-03-01"},
    ):
        response = await client.get(LEDGER, params=params, headers=clinic.admin.headers)
        assert_error(response, 400, "VALIDATION_ERROR")


async def test_a_doctors_earnings(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    first = await held(client, patient, clinic)
    await held(client, patient, clinic)
    await complete(client, admin_sql, clinic, first["id"])
    clock.advance(hours=25)
    assert await escrow.release_due(database, settings) == 1

    earnings = data(await client.get(EARNINGS, headers=clinic.doctor.headers))
    assert earnings["earnings"] == [
        {"currency": "EUR", "held": 80.0, "releasable": 72.0, "released": 72.0, "paid_out": 0.0}
    ]
    day = clock.now().date().isoformat()
    today = data(
        await client.get(EARNINGS, params={"from": day, "to": day}, headers=clinic.doctor.headers)
    )
    assert today["earnings"][0]["released"] == 72.0
    before = data(
        await client.get(EARNINGS, params={"to": "2000-01-01"}, headers=clinic.doctor.headers)
    )
    # Balances are now; the period counts what was released within it.
    assert (before["earnings"][0]["held"], before["earnings"][0]["released"]) == (80.0, 0.0)
    colleague = data(await client.get(EARNINGS, headers=clinic.colleague.headers))
    assert colleague["earnings"] == []

    assert_error(await client.get(EARNINGS), 401)
    for who in (patient, clinic.admin):
        assert_error(await client.get(EARNINGS, headers=who.headers), 403)
    bad = await client.get(EARNINGS, params={"from": "soon"}, headers=clinic.doctor.headers)
    assert_error(bad, 400, "VALIDATION_ERROR")


async def test_ledger_rows_are_only_ever_added_and_groups_must_balance(
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    database_urls: DatabaseUrls,
) -> None:
    appointment = await held(client, patient, clinic)
    with psycopg.connect(database_urls.admin, autocommit=True) as conn:
        for statement in (
            "UPDATE ledger_entries SET amount = amount * 2 WHERE appointment_id = %s",
            "DELETE FROM ledger_entries WHERE appointment_id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, [appointment["id"]])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE ledger_entries")
        # One leg alone: refused when the transaction commits.
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute(
                "INSERT INTO ledger_entries (id, group_id, organization_id, account, amount,"
                " currency, kind) VALUES (gen_random_uuid(), gen_random_uuid(), %s,"
                " 'escrow', 5, 'EUR', 'capture')",
                [clinic.id],
            )
        rows = conn.execute(
            "SELECT sum(amount) FROM ledger_entries WHERE appointment_id = %s",
            [appointment["id"]],
        ).fetchone()
    assert rows is not None
    assert rows[0] == Decimal("0.00")
    # The app's own role may not even try.
    with psycopg.connect(database_urls.app, autocommit=True) as conn:
        for statement in (
            "UPDATE ledger_entries SET amount = 0",
            "DELETE FROM ledger_entries",
            "TRUNCATE ledger_entries",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
