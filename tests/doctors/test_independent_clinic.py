"""A doctor who signed up alone gets a one-person clinic when a super admin approves
them (DESIGN.md, "Clinical model"), in the approval's transaction, once only; a doctor
of a hospital or clinic keeps it."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.assertions import assert_error
from tests.doctors.conftest import Tenant
from tests.doctors.helpers import (
    API,
    DOCTORS,
    MY_PROFILE,
    TENANTS,
    AdminSql,
    data,
    directory,
    doctor_with_profile,
    listed_ids,
    profile_body,
    register_doctor,
    set_approval,
)
from tests.factories import Account, Factory

AuditRows = Callable[[uuid.UUID], list[tuple[Any, ...]]]


def organizations_named(admin_sql: AdminSql, name: str) -> list[tuple[Any, ...]]:
    return admin_sql(
        "SELECT id, kind, status, slug FROM organizations WHERE name = %s ORDER BY created_at",
        [name],
    )


def organization_count(admin_sql: AdminSql) -> int:
    return int(admin_sql("SELECT count(*) FROM organizations")[0][0])


def stored_organizations(admin_sql: AdminSql, doctor_id: uuid.UUID) -> tuple[Any, Any]:
    """(users.organization_id, doctor_profiles.organization_id) of one doctor."""
    rows = admin_sql(
        "SELECT u.organization_id, p.organization_id FROM users u"
        " LEFT JOIN doctor_profiles p ON p.user_id = u.id WHERE u.id = %s",
        [doctor_id],
    )
    return rows[0][0], rows[0][1]


def token_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def test_approval_gives_a_self_registered_doctor_a_clinic_of_their_own(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql, audit_rows: AuditRows
) -> None:
    super_admin = await factory.user("super_admin")
    doctor = await register_doctor(client, "Sam Solo")
    profile = data(await client.put(MY_PROFILE, json=profile_body(), headers=doctor.headers), 201)
    assert (profile["organization_id"], profile["is_approved"]) == (None, False)
    assert await listed_ids(client) == []
    before = organization_count(admin_sql)

    approved = data(await set_approval(client, doctor.id, super_admin))
    assert approved["is_approved"] is True
    clinic_id = approved["organization_id"]
    assert clinic_id is not None
    assert organization_count(admin_sql) == before + 1

    clinic = data(await client.get(f"{TENANTS}/{clinic_id}", headers=super_admin.headers))
    assert (clinic["name"], clinic["kind"], clinic["status"]) == (
        "Dr. Sam Solo",
        "clinic",
        "active",
    )
    assert clinic["slug"] == "dr-sam-solo"
    assert clinic["member_count"] == 1
    # The account and the profile both moved, in the approval's transaction.
    assert stored_organizations(admin_sql, doctor.id) == (uuid.UUID(clinic_id),) * 2

    # The doctor's token, issued before, works and sees the new organization.
    mine = data(await client.get(MY_PROFILE, headers=doctor.headers))
    assert (mine["organization_id"], mine["is_approved"], mine["in_directory"]) == (
        clinic_id,
        True,
        True,
    )
    listed = (await directory(client))["doctors"]
    assert [(d["id"], d["organization_id"], d["organization_name"]) for d in listed] == [
        (str(doctor.id), clinic_id, "Dr. Sam Solo")
    ]
    assert data(await client.get(f"{DOCTORS}/{doctor.id}"))["organization_name"] == "Dr. Sam Solo"

    # Audited: the approval (of a doctor who had no organization yet), the clinic's
    # creation, and the doctor's move into it, all by the super admin.
    doctor_rows = [row[:3] for row in audit_rows(doctor.id)]
    assert ("doctor_approved", None, super_admin.id) in doctor_rows
    assert ("doctor_clinic_created", uuid.UUID(clinic_id), super_admin.id) in doctor_rows
    clinic_rows = audit_rows(uuid.UUID(clinic_id))
    assert [row[:3] for row in clinic_rows] == [
        ("tenant_created", uuid.UUID(clinic_id), super_admin.id)
    ]
    assert clinic_rows[0][3]["kind"] == "clinic"


async def test_after_approval_the_doctor_refreshes_or_logs_in_and_works_in_the_clinic(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    super_admin = await factory.user("super_admin")
    doctor = await register_doctor(client)
    assert doctor.access_token is not None
    assert doctor.refresh_token is not None
    assert token_claims(doctor.access_token)["org"] is None
    clinic_id = data(await set_approval(client, doctor.id, super_admin))["organization_id"]

    # A refreshed token names the clinic, and reads the doctor's profile in it.
    refreshed = data(
        await client.post(f"{API}/auth/refresh", json={"refresh_token": doctor.refresh_token})
    )
    assert token_claims(refreshed["access_token"])["org"] == clinic_id
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    created = data(await client.put(MY_PROFILE, json=profile_body(), headers=headers), 201)
    assert created["organization_id"] == clinic_id
    # So does a new login.
    await factory.login(doctor)
    mine = data(await client.get(MY_PROFILE, headers=doctor.headers))
    assert (mine["organization_id"], mine["in_directory"]) == (clinic_id, True)
    assert await listed_ids(client) == [str(doctor.id)]


async def test_a_doctor_approved_before_making_a_profile_makes_it_in_their_clinic(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    super_admin = await factory.user("super_admin")
    doctor = await register_doctor(client)
    clinic_id = data(await set_approval(client, doctor.id, super_admin))["organization_id"]
    assert stored_organizations(admin_sql, doctor.id) == (uuid.UUID(clinic_id), None)
    assert await listed_ids(client) == []  # no profile, nothing to list

    # With the token from before the approval.
    profile = data(await client.put(MY_PROFILE, json=profile_body(), headers=doctor.headers), 201)
    assert profile["organization_id"] == clinic_id
    assert await listed_ids(client) == [str(doctor.id)]


async def test_approving_again_makes_no_second_clinic(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql, audit_rows: AuditRows
) -> None:
    super_admin = await factory.user("super_admin")
    doctor = await register_doctor(client, "Ida Once")
    data(await client.put(MY_PROFILE, json=profile_body(), headers=doctor.headers), 201)
    clinic_id = data(await set_approval(client, doctor.id, super_admin))["organization_id"]

    # Approving an approved doctor changes nothing (200, as before: no 409).
    again = data(await set_approval(client, doctor.id, super_admin))
    assert (again["is_approved"], again["organization_id"]) == (True, clinic_id)
    # Withdrawing the approval keeps the clinic but leaves the directory ...
    withdrawn = data(await set_approval(client, doctor.id, super_admin, approved=False))
    assert (withdrawn["is_approved"], withdrawn["organization_id"]) == (False, clinic_id)
    assert await listed_ids(client) == []
    # ... and approving once more brings the doctor back in that same clinic.
    back = data(await set_approval(client, doctor.id, super_admin))
    assert back["organization_id"] == clinic_id
    assert await listed_ids(client) == [str(doctor.id)]

    assert [row[0] for row in organizations_named(admin_sql, "Dr. Ida Once")] == [
        uuid.UUID(clinic_id)
    ]
    actions = [row[0] for row in audit_rows(doctor.id)]
    assert actions.count("doctor_clinic_created") == 1
    assert actions.count("doctor_approved") == 2


async def test_concurrent_approvals_make_one_clinic(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    super_admins = [await factory.user("super_admin") for _ in range(3)]
    doctor = await register_doctor(client, "Con Current")
    responses = await asyncio.gather(
        *(set_approval(client, doctor.id, admin) for admin in super_admins)
    )
    organizations = {data(response)["organization_id"] for response in responses}
    assert len(organizations) == 1
    assert None not in organizations
    assert len(organizations_named(admin_sql, "Dr. Con Current")) == 1


async def test_namesakes_get_a_clinic_each(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    super_admin = await factory.user("super_admin")
    first = await register_doctor(client, "Dr. Max Twin")
    second = await register_doctor(client, "Dr. Max Twin")
    data(await set_approval(client, first.id, super_admin))
    data(await set_approval(client, second.id, super_admin))
    # An already titled name is not titled twice; the second slug takes a suffix.
    clinics = organizations_named(admin_sql, "Dr. Max Twin")
    assert [(kind, status, slug) for _, kind, status, slug in clinics] == [
        ("clinic", "active", "dr-max-twin"),
        ("clinic", "active", "dr-max-twin-2"),
    ]
    assert {stored_organizations(admin_sql, d.id)[0] for d in (first, second)} == {
        clinic[0] for clinic in clinics
    }


async def test_a_doctor_of_an_organization_keeps_it_when_approved(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    super_admin = await factory.user("super_admin")
    by_admin = await doctor_with_profile(client, factory, hospital.id, approved=False)
    by_super_admin = await doctor_with_profile(client, factory, hospital.id, approved=False)
    before = organization_count(admin_sql)

    for doctor, approver in ((by_admin, hospital.admin), (by_super_admin, super_admin)):
        approved = data(await set_approval(client, doctor.id, approver))
        assert approved["organization_id"] == str(hospital.id)
        assert stored_organizations(admin_sql, doctor.id) == (hospital.id, hospital.id)
    assert organization_count(admin_sql) == before
    assert sorted(await listed_ids(client)) == sorted([str(by_admin.id), str(by_super_admin.id)])


async def test_who_may_approve_an_independent_doctor(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    doctor = await register_doctor(client)
    patient = await factory.user("patient")
    before = organization_count(admin_sql)
    url = f"{API}/admin/users/{doctor.id}"

    assert_error(await client.put(url, json={"is_approved": True}), 401, "AUTHENTICATION_ERROR")
    for caller in (doctor, patient):
        assert_error(await set_approval(client, doctor.id, caller), 403, "AUTHORIZATION_ERROR")
    # A hospital's admin does not even see a doctor outside the hospital.
    assert_error(await set_approval(client, doctor.id, hospital.admin), 404, "NOT_FOUND")

    assert organization_count(admin_sql) == before
    assert stored_organizations(admin_sql, doctor.id) == (None, None)
    mine_before = await client.get(MY_PROFILE, headers=doctor.headers)
    assert_error(mine_before, 404, "NOT_FOUND")  # no profile yet, and nothing changed


async def test_a_refused_approval_makes_no_clinic(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    """An approval sent with a change that is refused is refused whole: no clinic."""
    super_admin = await factory.user("super_admin")
    doctor = await register_doctor(client, "Rolf Back")
    before = organization_count(admin_sql)
    # Approval together with an invalid change: refused as a whole.
    refused = await client.put(
        f"{API}/admin/users/{doctor.id}",
        json={"is_approved": True, "role": "sales"},
        headers=super_admin.headers,
    )
    assert_error(refused, 400, "VALIDATION_ERROR", "role")
    assert organization_count(admin_sql) == before
    assert admin_sql("SELECT is_approved FROM users WHERE id = %s", [doctor.id]) == [(False,)]


async def test_making_an_unaffiliated_account_a_doctor_gives_it_a_clinic(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    """A super admin who turns an account without an organization into a doctor (approved:
    only self-registered doctors wait) has made an independent doctor: they need a
    clinic like any other."""
    super_admin = await factory.user("super_admin")
    customer: Account = await factory.user("customer", full_name="Cy Convert", login=False)
    changed = data(
        await client.put(
            f"{API}/admin/users/{customer.id}", json={"role": "doctor"}, headers=super_admin.headers
        )
    )
    assert (changed["role"], changed["is_approved"]) == ("doctor", True)
    [(clinic_id, kind, _, _)] = organizations_named(admin_sql, "Dr. Cy Convert")
    assert (changed["organization_id"], kind) == (str(clinic_id), "clinic")
