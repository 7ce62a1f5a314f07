"""Member management: org admins act only inside their organization, super admins anywhere;
role rules per organization kind, self-protection, the last admin, deactivation, approvals."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.factories import Account, Factory
from tests.organizations.conftest import AdminSql, Tenant, make_tenant

AuditActions = Callable[[uuid.UUID], list[tuple[Any, ...]]]
USERS = "/api/v1/admin/users"
STRONG = "Valid-Passw0rd-2024!"


def member_body(role: str = "doctor", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"member-{uuid.uuid4().hex[:8]}@example.org",
        "password": STRONG,
        "full_name": "Mia Member",
        "role": role,
    }
    body.update(overrides)
    return body


async def ids_listed(client: httpx.AsyncClient, account: Account, **params: Any) -> set[str]:
    response = await client.get(USERS, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return {u["id"] for u in response.json()["data"]["users"]}


# --- list -----------------------------------------------------------------------------------


async def test_org_admin_lists_only_their_members(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
    super_admin: Account,
) -> None:
    doctor = await factory.user(
        "doctor", organization_id=hospital.id, full_name="Dora Doctor", login=False
    )
    pharmacist = await factory.user("pharmacist", organization_id=hospital.id, login=False)
    other_doctor = await factory.user("doctor", organization_id=other_hospital.id, login=False)
    independent = await factory.user("doctor", approved=False, login=False)

    mine = {str(hospital.admin.id), str(doctor.id), str(pharmacist.id)}
    assert await ids_listed(client, hospital.admin) == mine
    assert await ids_listed(client, hospital.admin, role="doctor") == {str(doctor.id)}
    assert await ids_listed(client, hospital.admin, search="dora") == {str(doctor.id)}
    assert await ids_listed(client, hospital.admin, search=pharmacist.email[:10]) == {
        str(pharmacist.id)
    }
    assert await ids_listed(client, hospital.admin, is_active=False) == set()
    # Naming another organization does not widen the view.
    assert await ids_listed(client, hospital.admin, organization_id=other_hospital.id) == set()

    everyone = await ids_listed(client, super_admin, limit=100)
    assert everyone >= mine | {str(other_doctor.id), str(independent.id), str(super_admin.id)}
    assert await ids_listed(client, super_admin, organization_id=other_hospital.id) == {
        str(other_hospital.admin.id),
        str(other_doctor.id),
    }
    assert await ids_listed(client, super_admin, role="doctor", is_approved=False) == {
        str(independent.id)
    }

    page = await client.get(
        USERS, params={"limit": 2, "sort": "email", "order": "asc"}, headers=hospital.admin.headers
    )
    data = page.json()["data"]
    assert data["pagination"] == {"page": 1, "limit": 2, "total": 3, "total_pages": 2}
    emails = [u["email"] for u in data["users"]]
    assert emails == sorted([hospital.admin.email, doctor.email, pharmacist.email])[:2]
    listed = data["users"][0]
    assert set(listed) >= {"id", "email", "full_name", "role", "organization_id", "is_active"}
    assert "password_hash" not in listed


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"role": "wizard"}, "role"),
        ({"is_active": "perhaps"}, "is_active"),
        ({"organization_id": "x"}, "organization_id"),
        ({"limit": 0}, "limit"),
        ({"sort": "password_hash"}, "sort"),
    ],
)
async def test_list_rejects_bad_filters(
    client: httpx.AsyncClient, hospital: Tenant, params: dict[str, Any], field: str
) -> None:
    response = await client.get(USERS, params=params, headers=hospital.admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields={field})


async def test_member_routes_need_an_admin(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    customer = await factory.user("customer")
    supplier = await factory.organization("supplier")
    sales = await factory.user("sales", organization_id=supplier.id)
    doctor = await factory.user("doctor", organization_id=hospital.id)
    target = f"{USERS}/{doctor.id}"
    calls = [
        ("GET", USERS, None),
        ("POST", USERS, member_body()),
        ("GET", target, None),
        ("PUT", target, {"role": "admin"}),
    ]
    for method, url, body in calls:
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)
        for account in (customer, sales, doctor):
            denied = await client.request(method, url, json=body, headers=account.headers)
            assert denied.status_code == 403, (method, url, account.role)
            assert_error(denied, 403, "AUTHORIZATION_ERROR")
    me = await client.get("/api/v1/users/me", headers=doctor.headers)
    assert me.json()["data"]["role"] == "doctor"


# --- create ---------------------------------------------------------------------------------


async def test_org_admin_creates_a_verified_member(
    client: httpx.AsyncClient, hospital: Tenant, audit_actions: AuditActions
) -> None:
    body = member_body("doctor", phone="+33 1 23 45 67 89")
    response = await client.post(USERS, json=body, headers=hospital.admin.headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["email"] == body["email"]
    assert data["role"] == "doctor"
    assert data["organization_id"] == str(hospital.id)
    assert data["phone"] == "+33 1 23 45 67 89"
    assert (data["is_verified"], data["is_approved"], data["is_active"]) == (True, True, True)

    login = await client.post(
        "/api/v1/auth/login", json={"email": body["email"], "password": STRONG}
    )
    assert login.status_code == 200, login.text

    [(action, org, actor, metadata)] = audit_actions(uuid.UUID(data["id"]))
    assert (action, org, actor, metadata) == (
        "user_created",
        hospital.id,
        hospital.admin.id,
        {"role": "doctor"},
    )


@pytest.mark.parametrize(
    ("kind", "allowed", "refused"),
    [
        ("supplier", ["admin", "sales", "distributor"], ["doctor", "pharmacist", "customer"]),
        ("pharmacy", ["admin", "pharmacist"], ["doctor", "sales", "patient"]),
        ("hospital", ["admin", "doctor", "pharmacist"], ["sales", "distributor", "super_admin"]),
        ("clinic", ["admin", "doctor", "pharmacist"], ["sales", "customer"]),
    ],
)
async def test_roles_depend_on_the_organization_kind(
    *,
    client: httpx.AsyncClient,
    factory: Factory,
    admin_sql: AdminSql,
    kind: str,
    allowed: list[str],
    refused: list[str],
) -> None:
    tenant = await make_tenant(factory, kind)
    for role in allowed:
        response = await client.post(USERS, json=member_body(role), headers=tenant.admin.headers)
        assert response.status_code == 201, (role, response.text)
        assert response.json()["data"]["role"] == role
    for role in refused:
        response = await client.post(USERS, json=member_body(role), headers=tenant.admin.headers)
        assert response.status_code == 400, role
        assert_error(response, 400, "VALIDATION_ERROR", fields={"role"})
    count = admin_sql("SELECT count(*) FROM users WHERE organization_id = %s", [tenant.id])
    assert count == [(1 + len(allowed),)]


async def test_org_admin_cannot_pick_another_organization(
    client: httpx.AsyncClient, hospital: Tenant, other_hospital: Tenant, admin_sql: AdminSql
) -> None:
    body = member_body(organization_id=str(other_hospital.id))
    response = await client.post(USERS, json=body, headers=hospital.admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields={"organization_id"})
    assert admin_sql("SELECT count(*) FROM users WHERE email = %s", [body["email"]]) == [(0,)]
    # Naming their own organization is fine.
    own = await client.post(
        USERS, json=member_body(organization_id=str(hospital.id)), headers=hospital.admin.headers
    )
    assert own.status_code == 201
    assert own.json()["data"]["organization_id"] == str(hospital.id)


async def test_super_admin_names_the_organization(
    client: httpx.AsyncClient,
    factory: Factory,
    super_admin: Account,
    hospital: Tenant,
    audit_actions: AuditActions,
) -> None:
    missing = await client.post(USERS, json=member_body(), headers=super_admin.headers)
    assert_error(missing, 400, "VALIDATION_ERROR", fields={"organization_id"})
    unknown = await client.post(
        USERS, json=member_body(organization_id=str(uuid.uuid4())), headers=super_admin.headers
    )
    assert_error(unknown, 400, "VALIDATION_ERROR", fields={"organization_id"})

    response = await client.post(
        USERS,
        json=member_body("pharmacist", organization_id=str(hospital.id)),
        headers=super_admin.headers,
    )
    assert response.status_code == 201, response.text
    created_id = uuid.UUID(response.json()["data"]["id"])
    assert response.json()["data"]["organization_id"] == str(hospital.id)
    [(action, org, actor, _)] = audit_actions(created_id)
    assert (action, org, actor) == ("user_created", hospital.id, super_admin.id)

    gone = await factory.organization("clinic", status="deleted")
    refused = await client.post(
        USERS, json=member_body(organization_id=str(gone.id)), headers=super_admin.headers
    )
    assert refused.status_code == 409


async def test_create_applies_the_password_policy_and_email_uniqueness(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, other_hospital: Tenant
) -> None:
    weak = await client.post(
        USERS, json=member_body(password="password1"), headers=hospital.admin.headers
    )
    assert_error(weak, 400, "VALIDATION_ERROR", fields={"password"})

    # The address belongs to someone in another organization, whom this admin cannot see.
    elsewhere = await factory.user("doctor", organization_id=other_hospital.id, login=False)
    taken = await client.post(
        USERS, json=member_body(email=elsewhere.email), headers=hospital.admin.headers
    )
    assert_error(taken, 409, "CONFLICT", fields={"email"})

    for change, field in (
        ({"email": "nope"}, "email"),
        ({"full_name": ""}, "full_name"),
        ({"phone": "call me"}, "phone"),
        ({"role": None}, "role"),
        ({"is_admin": True}, "is_admin"),
    ):
        response = await client.post(
            USERS, json=member_body(**change), headers=hospital.admin.headers
        )
        assert response.status_code == 400, change
        assert_error(response, 400, "VALIDATION_ERROR", fields={field})


# --- read -----------------------------------------------------------------------------------


async def test_get_is_scoped_to_the_admins_organization(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
    super_admin: Account,
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, login=False)
    other = await factory.user("doctor", organization_id=other_hospital.id, login=False)
    independent = await factory.user("doctor", approved=False, login=False)

    mine = await client.get(f"{USERS}/{doctor.id}", headers=hospital.admin.headers)
    assert mine.status_code == 200
    assert mine.json()["data"]["email"] == doctor.email
    for hidden in (other, independent, super_admin):
        response = await client.get(f"{USERS}/{hidden.id}", headers=hospital.admin.headers)
        assert response.status_code == 404, hidden.role
        assert_error(response, 404, "NOT_FOUND")
    for visible in (other, independent):
        response = await client.get(f"{USERS}/{visible.id}", headers=super_admin.headers)
        assert response.status_code == 200
        assert response.json()["data"]["id"] == str(visible.id)
    unknown = await client.get(f"{USERS}/{uuid.uuid4()}", headers=super_admin.headers)
    assert unknown.status_code == 404
    malformed = await client.get(f"{USERS}/42", headers=super_admin.headers)
    assert_error(malformed, 400, "VALIDATION_ERROR", fields={"user_id"})


# --- update ---------------------------------------------------------------------------------


async def test_role_change_applies_on_the_next_request(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, audit_actions: AuditActions
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)
    response = await client.put(
        f"{USERS}/{doctor.id}", json={"role": "pharmacist"}, headers=hospital.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["role"] == "pharmacist"
    # Same access token, no new login: the role is read from the database per request.
    me = await client.get("/api/v1/users/me", headers=doctor.headers)
    assert me.status_code == 200
    assert me.json()["data"]["role"] == "pharmacist"
    # Promoted to admin, the same token opens the admin routes.
    promoted = await client.put(
        f"{USERS}/{doctor.id}", json={"role": "admin"}, headers=hospital.admin.headers
    )
    assert promoted.status_code == 200
    assert (await client.get(USERS, headers=doctor.headers)).status_code == 200

    rows = [(a, org, actor, meta) for a, org, actor, meta in audit_actions(doctor.id)]
    assert rows[-2:] == [
        ("role_changed", hospital.id, hospital.admin.id, {"from": "doctor", "to": "pharmacist"}),
        ("role_changed", hospital.id, hospital.admin.id, {"from": "pharmacist", "to": "admin"}),
    ]


async def test_role_change_follows_the_kind_rules(
    client: httpx.AsyncClient, factory: Factory, super_admin: Account
) -> None:
    pharmacy = await make_tenant(factory, "pharmacy")
    pharmacist = await factory.user("pharmacist", organization_id=pharmacy.id, login=False)
    for role in ("doctor", "super_admin", "customer"):
        for actor in (pharmacy.admin, super_admin):
            response = await client.put(
                f"{USERS}/{pharmacist.id}", json={"role": role}, headers=actor.headers
            )
            assert response.status_code == 400, (role, actor.role)
            assert_error(response, 400, "VALIDATION_ERROR", fields={"role"})
    # A patient without an organization may become a customer or a doctor, not staff.
    patient = await factory.user("patient", login=False)
    refused = await client.put(
        f"{USERS}/{patient.id}", json={"role": "admin"}, headers=super_admin.headers
    )
    assert refused.status_code == 400
    allowed = await client.put(
        f"{USERS}/{patient.id}", json={"role": "customer"}, headers=super_admin.headers
    )
    assert allowed.status_code == 200
    assert allowed.json()["data"]["role"] == "customer"
    # Super admin accounts are not changed through the API.
    other_operator = await factory.user("super_admin", login=False)
    response = await client.put(
        f"{USERS}/{other_operator.id}", json={"role": "customer"}, headers=super_admin.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", fields={"role"})


async def test_members_of_other_organizations_are_not_found(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    other = await factory.user("doctor", organization_id=other_hospital.id, login=False)
    for body in ({"role": "pharmacist"}, {"is_active": False}, {"full_name": "Hijacked"}):
        response = await client.put(
            f"{USERS}/{other.id}", json=body, headers=hospital.admin.headers
        )
        assert_error(response, 404, "NOT_FOUND")
    assert admin_sql("SELECT role, is_active, full_name FROM users WHERE id = %s", [other.id]) == [
        ("doctor", True, "Test Person")
    ]
    unknown = await client.put(
        f"{USERS}/{uuid.uuid4()}", json={"full_name": "X"}, headers=hospital.admin.headers
    )
    assert unknown.status_code == 404


async def test_admins_cannot_demote_or_deactivate_themselves(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, super_admin: Account
) -> None:
    # A second admin exists, so the refusal is about the person, not the last-admin rule.
    await factory.user("admin", organization_id=hospital.id, login=False)
    me = f"{USERS}/{hospital.admin.id}"
    for body in ({"role": "doctor"}, {"is_active": False}):
        response = await client.put(me, json=body, headers=hospital.admin.headers)
        assert response.status_code == 409, body
        assert_error(response, 409, "CONFLICT")
    for body in ({"is_active": False},):
        response = await client.put(
            f"{USERS}/{super_admin.id}", json=body, headers=super_admin.headers
        )
        assert response.status_code == 409
    # Harmless self-edits are fine.
    renamed = await client.put(
        me, json={"full_name": "Ada A. Admin", "role": "admin"}, headers=hospital.admin.headers
    )
    assert renamed.status_code == 200
    assert renamed.json()["data"]["full_name"] == "Ada A. Admin"
    assert (await client.get(USERS, headers=hospital.admin.headers)).status_code == 200


async def test_an_organization_keeps_one_active_admin(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    super_admin: Account,
    admin_sql: AdminSql,
) -> None:
    only = f"{USERS}/{hospital.admin.id}"
    for body in ({"role": "doctor"}, {"is_active": False}):
        response = await client.put(only, json=body, headers=super_admin.headers)
        assert response.status_code == 409, body
        assert_error(response, 409, "CONFLICT")
        assert "at least one active admin" in response.json()["error"]["message"]

    second = await factory.user("admin", organization_id=hospital.id, login=False)
    demoted = await client.put(
        f"{USERS}/{second.id}", json={"role": "doctor"}, headers=hospital.admin.headers
    )
    assert demoted.status_code == 200
    # An inactive admin does not count.
    third = await factory.user("admin", organization_id=hospital.id, login=False)
    off = await client.put(
        f"{USERS}/{third.id}", json={"is_active": False}, headers=hospital.admin.headers
    )
    assert off.status_code == 200
    refused = await client.put(only, json={"role": "doctor"}, headers=super_admin.headers)
    assert refused.status_code == 409
    assert admin_sql(
        "SELECT count(*) FROM users WHERE organization_id = %s AND role = 'admin' AND is_active",
        [hospital.id],
    ) == [(1,)]


async def test_deactivation_refuses_tokens_and_logins_until_reactivated(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, audit_actions: AuditActions
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)
    url = f"{USERS}/{doctor.id}"
    off = await client.put(url, json={"is_active": False}, headers=hospital.admin.headers)
    assert off.status_code == 200, off.text
    assert off.json()["data"]["is_active"] is False

    me = await client.get("/api/v1/users/me", headers=doctor.headers)
    assert me.status_code == 401
    assert "deactivated" in me.json()["error"]["message"]
    login = await client.post(
        "/api/v1/auth/login", json={"email": doctor.email, "password": doctor.password}
    )
    assert login.status_code == 403
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": doctor.refresh_token}
    )
    assert refresh.status_code in {401, 403}
    assert await ids_listed(client, hospital.admin, is_active=False) == {str(doctor.id)}

    on = await client.put(url, json={"is_active": True}, headers=hospital.admin.headers)
    assert on.status_code == 200
    await factory.login(doctor)
    assert (await client.get("/api/v1/users/me", headers=doctor.headers)).status_code == 200

    actions = [(a, org, actor) for a, org, actor, _ in audit_actions(doctor.id)]
    assert [a for a in actions if a[0] in {"user_deactivated", "user_reactivated"}] == [
        ("user_deactivated", hospital.id, hospital.admin.id),
        ("user_reactivated", hospital.id, hospital.admin.id),
    ]


async def test_super_admin_approves_independent_doctors(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    super_admin: Account,
    audit_actions: AuditActions,
) -> None:
    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "dr.solo@example.org",
            "password": STRONG,
            "full_name": "Sam Solo",
            "role": "doctor",
        },
    )
    assert registered.status_code == 201, registered.text
    doctor_id = registered.json()["data"]["user_id"]
    url = f"{USERS}/{doctor_id}"

    # Org admins neither see nor approve doctors outside their organization.
    hidden = await client.put(url, json={"is_approved": True}, headers=hospital.admin.headers)
    assert hidden.status_code == 404
    pending = await ids_listed(client, super_admin, role="doctor", is_approved=False)
    assert pending == {doctor_id}

    approved = await client.put(url, json={"is_approved": True}, headers=super_admin.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["data"]["is_approved"] is True
    assert await ids_listed(client, super_admin, role="doctor", is_approved=False) == set()
    actions = [(a, org, actor) for a, org, actor, _ in audit_actions(uuid.UUID(doctor_id))]
    assert ("doctor_approved", None, super_admin.id) in actions


async def test_org_admin_approves_their_doctors_and_approval_is_for_doctors_only(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, audit_actions: AuditActions
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, approved=False, login=False)
    response = await client.put(
        f"{USERS}/{doctor.id}", json={"is_approved": True}, headers=hospital.admin.headers
    )
    assert response.status_code == 200
    assert response.json()["data"]["is_approved"] is True
    assert [row[0] for row in audit_actions(doctor.id)][-1] == "doctor_approved"

    pharmacist = await factory.user("pharmacist", organization_id=hospital.id, login=False)
    refused = await client.put(
        f"{USERS}/{pharmacist.id}", json={"is_approved": False}, headers=hospital.admin.headers
    )
    assert_error(refused, 400, "VALIDATION_ERROR", fields={"is_approved"})


async def test_profile_fields_are_updated_and_audited(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, audit_actions: AuditActions
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, login=False)
    response = await client.put(
        f"{USERS}/{doctor.id}",
        json={"full_name": "Dr. Dana Doe", "phone": "+1 555 0100"},
        headers=hospital.admin.headers,
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["full_name"], data["phone"]) == ("Dr. Dana Doe", "+1 555 0100")
    cleared = await client.put(
        f"{USERS}/{doctor.id}", json={"phone": None}, headers=hospital.admin.headers
    )
    assert cleared.json()["data"]["phone"] is None
    rows = [(a, org, meta) for a, org, _, meta in audit_actions(doctor.id)]
    assert rows[-2:] == [
        ("user_updated", hospital.id, {"fields": ["full_name", "phone"]}),
        ("user_updated", hospital.id, {"fields": ["phone"]}),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"role": None}, "role"),
        ({"role": "wizard"}, "role"),
        ({"is_active": None}, "is_active"),
        ({"is_active": "sometimes"}, "is_active"),
        ({"full_name": ""}, "full_name"),
        ({"phone": "not a phone"}, "phone"),
        ({"email": "new@example.org"}, "email"),
        ({"organization_id": str(uuid.uuid4())}, "organization_id"),
    ],
)
async def test_update_rejects_bad_input(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    body: dict[str, Any],
    field: str | None,
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, login=False)
    response = await client.put(f"{USERS}/{doctor.id}", json=body, headers=hospital.admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields={field})


async def test_two_admins_removing_each_other_at_once_leave_one(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    second = await factory.user("admin", organization_id=hospital.id)
    first = hospital.admin
    responses = await asyncio.gather(
        client.put(f"{USERS}/{second.id}", json={"role": "doctor"}, headers=first.headers),
        client.put(f"{USERS}/{first.id}", json={"is_active": False}, headers=second.headers),
    )
    # The loser is refused either by the last-admin rule (409) or, if the winner's
    # demotion committed before it authenticated, because it is no longer an admin (403).
    codes = sorted(r.status_code for r in responses)
    assert codes in ([200, 409], [200, 403]), [r.text for r in responses]
    assert admin_sql(
        "SELECT count(*) FROM users WHERE organization_id = %s AND role = 'admin' AND is_active",
        [hospital.id],
    ) == [(1,)]


async def test_a_refused_role_is_named_by_its_value_not_its_python_repr(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    created = await client.post(
        USERS, json=member_body("super_admin"), headers=hospital.admin.headers
    )
    doctor = await factory.user("doctor", organization_id=hospital.id, login=False)
    changed = await client.put(
        f"{USERS}/{doctor.id}", json={"role": "super_admin"}, headers=hospital.admin.headers
    )
    for response in (created, changed):
        message = assert_error(response, 400, "VALIDATION_ERROR", fields={"role"})["message"]
        assert message == "The role 'super_admin' is not available in a hospital organization"
        assert "<Role" not in response.text
