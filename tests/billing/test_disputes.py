"""Disputes: the patient disputes a completed visit within the hold window, which
pauses the release; an admin of the organization (or a super admin) resolves it by
releasing, refunding, or refunding in part. Audited, and both sides are told."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from medhub.billing import escrow
from medhub.config import Settings
from medhub.kit.db import Database
from tests.appointments.helpers import UNKNOWN
from tests.assertions import assert_error
from tests.billing.helpers import (
    AdminSql,
    Clinic,
    Clock,
    complete,
    data,
    dispute_path,
    groups,
    held,
    read,
    resolve_path,
    unbalanced_groups,
)
from tests.factories import Account

REASON = {"reason": "The doctor did not join the video call"}


async def _completed(
    client: httpx.AsyncClient, admin_sql: AdminSql, clinic: Clinic, patient: Account
) -> dict[str, Any]:
    appointment = await held(client, patient, clinic)
    await complete(client, admin_sql, clinic, appointment["id"])
    return appointment


def _actions(admin_sql: AdminSql, appointment_id: str) -> list[str]:
    return [
        row[0]
        for row in admin_sql(
            "SELECT action FROM activity_logs WHERE entity_id = %s ORDER BY created_at, id",
            [appointment_id],
        )
    ]


def _notices(admin_sql: AdminSql, user_id: object, title: str) -> int:
    rows = admin_sql(
        "SELECT count(*) FROM notifications WHERE user_id = %s AND title = %s", [user_id, title]
    )
    return int(rows[0][0])


async def test_a_dispute_pauses_the_release_until_a_partial_refund_resolves_it(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
    database: Database,
    settings: Settings,
) -> None:
    appointment = await _completed(client, admin_sql, clinic, patient)
    clock.advance(hours=23)

    opened = data(
        await client.post(dispute_path(appointment["id"]), json=REASON, headers=patient.headers),
        201,
    )
    assert opened["dispute"]["status"] == "open"
    assert _notices(admin_sql, patient.id, "Consultation payment disputed") == 1
    assert _notices(admin_sql, clinic.doctor.id, "Consultation payment disputed") == 1
    # The window passes: the disputed fee stays held.
    clock.advance(hours=5)
    assert await escrow.release_due(database, settings) == 0
    assert (await read(client, patient, appointment["id"]))["payment_status"] == "held"

    resolved = data(
        await client.post(
            resolve_path(appointment["id"]),
            json={"resolution": "partial_refund", "amount": "30.00"},
            headers=clinic.admin.headers,
        )
    )

    assert resolved["dispute"]["status"] == "resolved"
    assert resolved["dispute"]["resolution"] == "partial_refund"
    assert resolved["dispute"]["refund_amount"] == 30.0
    assert (
        resolved["appointment"]["payment_status"],
        resolved["appointment"]["refund_amount"],
    ) == (
        "paid",
        30.0,
    )
    assert groups(admin_sql, appointment["id"])[1:] == [
        ("refund", {"escrow": Decimal("-30.00"), "refunds": Decimal("30.00")}),
        (
            "release",
            {
                "escrow": Decimal("-50.00"),
                "doctor_payable": Decimal("45.00"),
                "platform_revenue": Decimal("5.00"),
            },
        ),
    ]
    actions = _actions(admin_sql, appointment["id"])
    assert "appointment_dispute.opened" in actions
    assert "appointment_dispute.resolved" in actions
    title = "Consultation payment dispute resolved"
    assert _notices(admin_sql, patient.id, title) == 1
    assert _notices(admin_sql, clinic.doctor.id, title) == 1
    # Resolved is final; the task has nothing left to do.
    again = await client.post(
        resolve_path(appointment["id"]),
        json={"resolution": "release"},
        headers=clinic.admin.headers,
    )
    assert_error(again, 409)
    assert await escrow.release_due(database, settings) == 0
    assert unbalanced_groups(admin_sql) == []


async def test_resolving_with_release_or_refund(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    super_admin: Account,
    clock: Clock,
) -> None:
    kept = await _completed(client, admin_sql, clinic, patient)
    returned = await held(client, patient, clinic)
    await complete(client, admin_sql, clinic, returned["id"], earlier=1)
    for appointment in (kept, returned):
        data(
            await client.post(
                dispute_path(appointment["id"]), json=REASON, headers=patient.headers
            ),
            201,
        )

    released = data(
        await client.post(
            resolve_path(kept["id"]), json={"resolution": "release"}, headers=clinic.admin.headers
        )
    )
    # A super admin resolves platform-wide.
    refunded = data(
        await client.post(
            resolve_path(returned["id"]), json={"resolution": "refund"}, headers=super_admin.headers
        )
    )

    assert released["appointment"]["payment_status"] == "paid"
    assert [kind for kind, _ in groups(admin_sql, kept["id"])] == ["capture", "release"]
    assert (
        refunded["appointment"]["payment_status"],
        refunded["appointment"]["refund_amount"],
    ) == (
        "refunded",
        80.0,
    )
    assert [kind for kind, _ in groups(admin_sql, returned["id"])] == ["capture", "refund"]


async def test_a_dispute_is_the_patients_within_the_window_once(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    other_clinic: Clinic,
    patient: Account,
    bob: Account,
    admin_sql: AdminSql,
    clock: Clock,
) -> None:
    appointment = await held(client, patient, clinic)
    path = dispute_path(appointment["id"])
    # Not before the visit is over.
    assert_error(await client.post(path, json=REASON, headers=patient.headers), 409)
    await complete(client, admin_sql, clinic, appointment["id"])

    assert_error(await client.post(path, json=REASON), 401)
    for who in (clinic.doctor, clinic.admin, other_clinic.admin):
        assert_error(await client.post(path, json=REASON, headers=who.headers), 403)
    assert_error(await client.post(path, json=REASON, headers=bob.headers), 404, "NOT_FOUND")
    empty = await client.post(path, json={"reason": ""}, headers=patient.headers)
    assert_error(empty, 400, "VALIDATION_ERROR", "reason")
    unknown = await client.post(dispute_path(str(UNKNOWN)), json=REASON, headers=patient.headers)
    assert_error(unknown, 404)

    data(await client.post(path, json=REASON, headers=patient.headers), 201)
    twice = await client.post(path, json=REASON, headers=patient.headers)
    assert_error(twice, 409, "DISPUTE_NOT_ALLOWED")

    # Another visit: once the window has closed, no dispute.
    late = await held(client, patient, clinic)
    await complete(client, admin_sql, clinic, late["id"], earlier=1)
    clock.advance(hours=24)
    closed = await client.post(dispute_path(late["id"]), json=REASON, headers=patient.headers)
    assert_error(closed, 409, "DISPUTE_NOT_ALLOWED")


async def test_resolving_is_for_the_organizations_admins(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    other_clinic: Clinic,
    patient: Account,
    admin_sql: AdminSql,
    clock: Clock,
) -> None:
    appointment = await _completed(client, admin_sql, clinic, patient)
    path = resolve_path(appointment["id"])
    body = {"resolution": "release"}
    # No dispute yet.
    assert_error(await client.post(path, json=body, headers=clinic.admin.headers), 404)
    data(
        await client.post(dispute_path(appointment["id"]), json=REASON, headers=patient.headers),
        201,
    )

    assert_error(await client.post(path, json=body), 401)
    for who in (patient, clinic.doctor):
        assert_error(await client.post(path, json=body, headers=who.headers), 403)
    assert_error(await client.post(path, json=body, headers=other_clinic.admin.headers), 404)
    for bad in (
        {"resolution": "partial_refund"},
        {"resolution": "release", "amount": "5.00"},
        {"resolution": "maybe"},
    ):
        assert_error(await client.post(path, json=bad, headers=clinic.admin.headers), 400)
    for amount in ("0.00", "80.00", "95.00"):
        too_much = await client.post(
            path,
            json={"resolution": "partial_refund", "amount": amount},
            headers=clinic.admin.headers,
        )
        assert_error(too_much, 400, "VALIDATION_ERROR", "amount")
    # Still open after the refusals, and only the capture is in the ledger.
    assert [kind for kind, _ in groups(admin_sql, appointment["id"])] == ["capture"]
