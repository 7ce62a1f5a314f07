"""Approval: a doctor not yet approved is invisible to the public (directory, profile,
slots: 404) until the organization's admin or a super admin approves them through the
existing members endpoint (PUT /api/v1/admin/users/{id} {"is_approved": true})."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.assertions import assert_error
from tests.doctors.conftest import Tenant
from tests.doctors.helpers import (
    API,
    DOCTORS,
    MY_PROFILE,
    availability_body,
    data,
    doctor_with_profile,
    free_slots,
    listed_ids,
)
from tests.factories import Factory

AuditRows = Callable[[uuid.UUID], list[tuple[Any, ...]]]
USERS = f"{API}/admin/users"


async def test_approval_by_the_organizations_admin_opens_the_directory_and_slots(  # noqa: PLR0917
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
    audit_rows: AuditRows,
    clock: Callable[[datetime], None],
) -> None:
    clock(datetime(2026, 1, 1, tzinfo=UTC))
    doctor = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        approved=False,
        availability=availability_body((1, "09:00", "10:00", 30)),
    )
    params = {"from": "2026-01-05", "to": "2026-01-05"}
    assert await listed_ids(client) == []
    assert_error(await client.get(f"{DOCTORS}/{doctor.id}"), 404)
    assert_error(await client.get(f"{DOCTORS}/{doctor.id}/slots", params=params), 404)

    # Another organization's admin cannot approve them (nor even see them).
    refused = await client.put(
        f"{USERS}/{doctor.id}", json={"is_approved": True}, headers=other_hospital.admin.headers
    )
    assert_error(refused, 404)
    assert await listed_ids(client) == []

    approved = await client.put(
        f"{USERS}/{doctor.id}", json={"is_approved": True}, headers=hospital.admin.headers
    )
    assert data(approved)["is_approved"] is True
    assert ("doctor_approved", hospital.id, hospital.admin.id) in [
        row[:3] for row in audit_rows(doctor.id)
    ]
    assert await listed_ids(client) == [str(doctor.id)]
    assert data(await client.get(f"{DOCTORS}/{doctor.id}"))["id"] == str(doctor.id)
    assert len((await free_slots(client, doctor.id, "2026-01-05", "2026-01-05"))["slots"]) == 2
    # The doctor's own view says so too.
    profile = data(await client.get(MY_PROFILE, headers=doctor.headers))
    assert profile["is_approved"] is True
    assert profile["in_directory"] is True

    # Withdrawing the approval takes them out again.
    data(
        await client.put(
            f"{USERS}/{doctor.id}", json={"is_approved": False}, headers=hospital.admin.headers
        )
    )
    assert await listed_ids(client) == []
    assert_error(await client.get(f"{DOCTORS}/{doctor.id}/slots", params=params), 404)


async def test_a_super_admin_approves_a_doctor(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, audit_rows: AuditRows
) -> None:
    super_admin = await factory.user("super_admin")
    doctor = await doctor_with_profile(client, factory, hospital.id, approved=False)
    approved = await client.put(
        f"{USERS}/{doctor.id}", json={"is_approved": True}, headers=super_admin.headers
    )
    assert data(approved)["is_approved"] is True
    assert "doctor_approved" in [row[0] for row in audit_rows(doctor.id)]
    assert await listed_ids(client) == [str(doctor.id)]
