"""Tenant provisioning by super admins: list, create (with the first admin), read, update,
suspend, reactivate and soft-delete, and what each of those does to the members."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.factories import Account, Factory
from tests.organizations.conftest import AdminSql, Tenant

AuditActions = Callable[[uuid.UUID], list[tuple[Any, ...]]]
TENANTS = "/api/v1/admin/tenants"
STRONG = "Valid-Passw0rd-2024!"


def tenant_body(name: str = "Saint Mary Hospital", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "kind": "hospital",
        "admin": {
            "email": f"admin-{uuid.uuid4().hex[:8]}@example.org",
            "password": STRONG,
            "full_name": "Ada Admin",
        },
    }
    body.update(overrides)
    return body


# --- list -----------------------------------------------------------------------------------


async def test_list_filters_searches_and_pages(
    client: httpx.AsyncClient, factory: Factory, super_admin: Account, admin_sql: AdminSql
) -> None:
    # Only this test's tenants: not the default supplier the migrations create.
    admin_sql("DELETE FROM organizations WHERE slug = 'medpharm'")
    alpha = await factory.organization("hospital", name="Alpha Care")
    beta = await factory.organization("pharmacy", name="Beta Pharma")
    gamma = await factory.organization("supplier", name="Gamma Supply", status="suspended")
    gone = await factory.organization("clinic", name="Gone Clinic", status="deleted")

    everything = await client.get(TENANTS, headers=super_admin.headers)
    assert everything.status_code == 200, everything.text
    data = everything.json()["data"]
    # Newest first; soft-deleted tenants are left out unless asked for.
    assert [t["id"] for t in data["tenants"]] == [str(gamma.id), str(beta.id), str(alpha.id)]
    assert data["pagination"] == {"page": 1, "limit": 20, "total": 3, "total_pages": 1}
    first = data["tenants"][2]
    assert first["name"] == "Alpha Care"
    assert first["kind"] == "hospital"
    assert first["status"] == "active"
    assert first["slug"] == alpha.slug
    assert first["settings"] == {}

    async def ids(**params: Any) -> list[str]:
        response = await client.get(TENANTS, params=params, headers=super_admin.headers)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["data"]["tenants"]]

    assert await ids(kind="pharmacy") == [str(beta.id)]
    assert await ids(status="suspended") == [str(gamma.id)]
    assert await ids(status="deleted") == [str(gone.id)]
    assert await ids(search="ALPHA") == [str(alpha.id)]
    assert await ids(search=beta.slug) == [str(beta.id)]
    assert await ids(search="%") == []
    assert await ids(sort="name", order="asc") == [str(alpha.id), str(beta.id), str(gamma.id)]
    paged = await client.get(TENANTS, params={"limit": 2, "page": 2}, headers=super_admin.headers)
    assert [t["id"] for t in paged.json()["data"]["tenants"]] == [str(alpha.id)]
    assert paged.json()["data"]["pagination"]["total_pages"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [({"kind": "spaceship"}, "kind"), ({"status": "gone"}, "status"), ({"limit": 500}, "limit")],
)
async def test_list_rejects_bad_filters(
    client: httpx.AsyncClient, super_admin: Account, params: dict[str, Any], field: str
) -> None:
    response = await client.get(TENANTS, params=params, headers=super_admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields={field})


async def test_tenant_routes_need_a_super_admin(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    customer = await factory.user("customer")
    supplier = await factory.organization("supplier")
    sales = await factory.user("sales", organization_id=supplier.id)
    target = f"{TENANTS}/{hospital.id}"
    calls = [
        ("GET", TENANTS, None),
        ("POST", TENANTS, tenant_body()),
        ("GET", target, None),
        ("PUT", target, {"name": "Renamed"}),
        ("DELETE", target, None),
    ]
    for method, url, body in calls:
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)
        assert_error(anonymous, 401, "AUTHENTICATION_ERROR")
        for account in (hospital.admin, customer, sales):
            denied = await client.request(method, url, json=body, headers=account.headers)
            assert denied.status_code == 403, (method, url, account.role)
            assert_error(denied, 403, "AUTHORIZATION_ERROR")
    # Nothing was changed by the refused calls.
    detail = await client.get(target, headers=(await factory.user("super_admin")).headers)
    assert detail.json()["data"]["name"] == hospital.organization.name
    assert detail.json()["data"]["status"] == "active"


# --- create ---------------------------------------------------------------------------------


async def test_create_provisions_the_organization_and_its_admin(
    client: httpx.AsyncClient,
    super_admin: Account,
    admin_sql: AdminSql,
    audit_actions: AuditActions,
) -> None:
    body = tenant_body("St. Mary's Hôpital (Nord)")
    response = await client.post(TENANTS, json=body, headers=super_admin.headers)
    assert response.status_code == 201, response.text
    assert response.json()["message"] == "Organization created"
    data = response.json()["data"]
    tenant_id = uuid.UUID(data["id"])
    admin_id = uuid.UUID(data["admin_user_id"])
    assert data["slug"] == "st-mary-s-hopital-nord"
    assert data["kind"] == "hospital"
    assert data["status"] == "active"
    assert data["deleted_at"] is None

    [(role, organization_id, verified, approved, active)] = admin_sql(
        "SELECT role, organization_id, is_verified, is_approved, is_active FROM users "
        "WHERE id = %s",
        [admin_id],
    )
    assert (role, organization_id, verified, approved, active) == (
        "admin",
        tenant_id,
        True,
        True,
        True,
    )
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": body["admin"]["email"], "password": body["admin"]["password"]},
    )
    assert login.status_code == 200, login.text
    assert login.json()["data"]["user"]["organization_id"] == str(tenant_id)

    detail = await client.get(f"{TENANTS}/{tenant_id}", headers=super_admin.headers)
    assert detail.status_code == 200
    assert detail.json()["data"]["member_count"] == 1

    [(action, org, actor, metadata)] = audit_actions(tenant_id)
    assert (action, org, actor) == ("tenant_created", tenant_id, super_admin.id)
    assert metadata["slug"] == "st-mary-s-hopital-nord"
    [(action, org, actor, metadata)] = audit_actions(admin_id)
    assert (action, org, actor, metadata) == (
        "user_created",
        tenant_id,
        super_admin.id,
        {"role": "admin"},
    )


async def test_generated_slugs_get_a_numeric_suffix_when_taken(
    client: httpx.AsyncClient, super_admin: Account
) -> None:
    slugs = []
    for _ in range(3):
        response = await client.post(
            TENANTS, json=tenant_body("Acme Clinic", kind="clinic"), headers=super_admin.headers
        )
        assert response.status_code == 201, response.text
        slugs.append(response.json()["data"]["slug"])
    assert slugs == ["acme-clinic", "acme-clinic-2", "acme-clinic-3"]
    # A name with nothing usable in a slug falls back to the kind.
    response = await client.post(
        TENANTS, json=tenant_body("東京病院", kind="pharmacy"), headers=super_admin.headers
    )
    assert response.json()["data"]["slug"] == "pharmacy"


async def test_given_slug_is_used_and_a_taken_one_is_a_conflict(
    client: httpx.AsyncClient, super_admin: Account, admin_sql: AdminSql
) -> None:
    first = await client.post(
        TENANTS, json=tenant_body(slug="north-7"), headers=super_admin.headers
    )
    assert first.status_code == 201, first.text
    assert first.json()["data"]["slug"] == "north-7"
    again = tenant_body("Another Name", slug="north-7")
    taken = await client.post(TENANTS, json=again, headers=super_admin.headers)
    assert_error(taken, 409, "CONFLICT", fields={"slug"})
    # All or nothing: the second admin account was not created either.
    assert admin_sql("SELECT count(*) FROM users WHERE email = %s", [again["admin"]["email"]]) == [
        (0,)
    ]
    assert admin_sql("SELECT count(*) FROM organizations WHERE slug <> 'medpharm'") == [(1,)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "Bad_Slug"}, "slug"),
        ({"slug": "-edge"}, "slug"),
        ({"slug": "x" * 65}, "slug"),
        ({"kind": "spaceship"}, "kind"),
        ({"name": ""}, "name"),
        ({"admin": None}, "admin"),
        ({"admin": {"email": "not-an-email", "password": STRONG, "full_name": "A"}}, "admin.email"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient,
    super_admin: Account,
    admin_sql: AdminSql,
    change: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(TENANTS, json=tenant_body(**change), headers=super_admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert admin_sql("SELECT count(*) FROM organizations WHERE slug <> 'medpharm'") == [(0,)]


async def test_a_bad_admin_account_creates_no_organization(
    client: httpx.AsyncClient, factory: Factory, super_admin: Account, admin_sql: AdminSql
) -> None:
    weak = tenant_body("Weak Clinic")
    weak["admin"]["password"] = "password"
    response = await client.post(TENANTS, json=weak, headers=super_admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields={"admin.password"})

    existing = await factory.user("customer", login=False)
    taken = tenant_body("Taken Clinic")
    taken["admin"]["email"] = existing.email.upper()
    response = await client.post(TENANTS, json=taken, headers=super_admin.headers)
    assert_error(response, 409, "CONFLICT", fields={"admin.email"})
    assert admin_sql("SELECT count(*) FROM organizations WHERE slug <> 'medpharm'") == [(0,)]
    assert admin_sql("SELECT count(*) FROM activity_logs WHERE action = 'tenant_created'") == [(0,)]


# --- read -----------------------------------------------------------------------------------


async def test_get_counts_members_and_unknown_ids_are_not_found(
    client: httpx.AsyncClient, factory: Factory, super_admin: Account, hospital: Tenant
) -> None:
    await factory.user("doctor", organization_id=hospital.id, login=False)
    await factory.user("pharmacist", organization_id=hospital.id, login=False)
    response = await client.get(f"{TENANTS}/{hospital.id}", headers=super_admin.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == str(hospital.id)
    assert data["member_count"] == 3

    missing = await client.get(f"{TENANTS}/{uuid.uuid4()}", headers=super_admin.headers)
    assert_error(missing, 404, "NOT_FOUND")
    malformed = await client.get(f"{TENANTS}/not-a-uuid", headers=super_admin.headers)
    assert_error(malformed, 400, "VALIDATION_ERROR", fields={"tenant_id"})


# --- update ---------------------------------------------------------------------------------


async def test_update_renames_and_replaces_settings(
    client: httpx.AsyncClient, super_admin: Account, hospital: Tenant, audit_actions: AuditActions
) -> None:
    response = await client.put(
        f"{TENANTS}/{hospital.id}",
        json={"name": "General Hospital", "settings": {"timezone": "Europe/Paris"}},
        headers=super_admin.headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["name"] == "General Hospital"
    assert data["settings"] == {"timezone": "Europe/Paris"}
    assert data["status"] == "active"
    assert data["updated_at"] >= data["created_at"]
    actions = audit_actions(hospital.id)
    assert [(a, org, actor) for a, org, actor, _ in actions] == [
        ("tenant_updated", hospital.id, super_admin.id)
    ]
    assert actions[0][3] == {"fields": ["name", "settings"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "deleted"}, "status"),
        ({"name": None}, "name"),
        ({"settings": []}, "settings"),
        ({"slug": "new"}, "slug"),
        ({}, None),
    ],
)
async def test_update_rejects_bad_input(
    client: httpx.AsyncClient,
    super_admin: Account,
    hospital: Tenant,
    body: dict[str, Any],
    field: str | None,
) -> None:
    response = await client.put(f"{TENANTS}/{hospital.id}", json=body, headers=super_admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields={field})


async def test_update_of_an_unknown_tenant_is_not_found(
    client: httpx.AsyncClient, super_admin: Account
) -> None:
    response = await client.put(
        f"{TENANTS}/{uuid.uuid4()}", json={"name": "X"}, headers=super_admin.headers
    )
    assert response.status_code == 404


async def test_suspension_locks_members_out_and_reactivation_lets_them_back(
    client: httpx.AsyncClient,
    factory: Factory,
    super_admin: Account,
    hospital: Tenant,
    audit_actions: AuditActions,
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)
    assert (await client.get("/api/v1/users/me", headers=doctor.headers)).status_code == 200

    suspended = await client.put(
        f"{TENANTS}/{hospital.id}", json={"status": "suspended"}, headers=super_admin.headers
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["data"]["status"] == "suspended"

    # The token they already hold is refused from the next request on...
    for account in (doctor, hospital.admin):
        me = await client.get("/api/v1/users/me", headers=account.headers)
        assert me.status_code == 401
        assert "suspended" in me.json()["error"]["message"]
    # ...and they cannot log in again.
    login = await client.post(
        "/api/v1/auth/login", json={"email": doctor.email, "password": doctor.password}
    )
    assert_error(login, 403, "AUTHORIZATION_ERROR")
    # Members of other organizations are unaffected.
    other = await factory.user("doctor", organization_id=(await factory.organization()).id)
    assert (await client.get("/api/v1/users/me", headers=other.headers)).status_code == 200

    reactivated = await client.put(
        f"{TENANTS}/{hospital.id}", json={"status": "active"}, headers=super_admin.headers
    )
    assert reactivated.status_code == 200
    assert reactivated.json()["data"]["status"] == "active"
    await factory.login(doctor)
    me = await client.get("/api/v1/users/me", headers=doctor.headers)
    assert me.status_code == 200
    assert me.json()["data"]["id"] == str(doctor.id)

    actions = [(a, org, actor, meta) for a, org, actor, meta in audit_actions(hospital.id)]
    assert actions == [
        ("tenant_suspended", hospital.id, super_admin.id, {"from": "active", "to": "suspended"}),
        ("tenant_reactivated", hospital.id, super_admin.id, {"from": "suspended", "to": "active"}),
    ]


async def test_suspending_a_suspended_tenant_changes_nothing(
    client: httpx.AsyncClient, super_admin: Account, hospital: Tenant, audit_actions: AuditActions
) -> None:
    for _ in range(2):
        response = await client.put(
            f"{TENANTS}/{hospital.id}", json={"status": "suspended"}, headers=super_admin.headers
        )
        assert response.status_code == 200
    assert [row[0] for row in audit_actions(hospital.id)] == ["tenant_suspended"]


# --- delete ---------------------------------------------------------------------------------


async def test_soft_delete(
    *,
    client: httpx.AsyncClient,
    factory: Factory,
    super_admin: Account,
    hospital: Tenant,
    admin_sql: AdminSql,
    audit_actions: AuditActions,
) -> None:
    url = f"{TENANTS}/{hospital.id}"
    deleted = await client.delete(url, headers=super_admin.headers)
    assert deleted.status_code == 200, deleted.text
    data = deleted.json()["data"]
    assert data["status"] == "deleted"
    assert data["deleted_at"] is not None
    # The row stays (soft delete), and so do its members' accounts.
    assert admin_sql("SELECT status FROM organizations WHERE id = %s", [hospital.id]) == [
        ("deleted",)
    ]
    assert admin_sql("SELECT count(*) FROM users WHERE organization_id = %s", [hospital.id]) == [
        (1,)
    ]
    # Members are out.
    assert (await client.get("/api/v1/users/me", headers=hospital.admin.headers)).status_code == 401
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": hospital.admin.email, "password": hospital.admin.password},
    )
    assert login.status_code == 403
    # Gone from the default list, still readable by id.
    listed = await client.get(TENANTS, headers=super_admin.headers)
    assert str(hospital.id) not in [t["id"] for t in listed.json()["data"]["tenants"]]
    detail = await client.get(url, headers=super_admin.headers)
    assert detail.json()["data"]["status"] == "deleted"

    twice = await client.delete(url, headers=super_admin.headers)
    assert_error(twice, 409, "INVALID_STATE_TRANSITION")
    for body in ({"name": "Back"}, {"status": "active"}):
        update = await client.put(url, json=body, headers=super_admin.headers)
        assert_error(update, 409, "INVALID_STATE_TRANSITION")
    assert admin_sql("SELECT status FROM organizations WHERE id = %s", [hospital.id]) == [
        ("deleted",)
    ]

    [(action, org, actor, metadata)] = audit_actions(hospital.id)
    assert (action, org, actor, metadata) == (
        "tenant_deleted",
        hospital.id,
        super_admin.id,
        {"from": "active"},
    )


async def test_delete_of_an_unknown_tenant_is_not_found(
    client: httpx.AsyncClient, super_admin: Account
) -> None:
    response = await client.delete(f"{TENANTS}/{uuid.uuid4()}", headers=super_admin.headers)
    assert response.status_code == 404


async def test_concurrent_creations_with_one_name_get_distinct_slugs(
    client: httpx.AsyncClient, super_admin: Account, admin_sql: AdminSql
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(TENANTS, json=tenant_body("Race Clinic"), headers=super_admin.headers)
            for _ in range(4)
        )
    )
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    slugs = sorted(r.json()["data"]["slug"] for r in responses)
    assert slugs == ["race-clinic", "race-clinic-2", "race-clinic-3", "race-clinic-4"]
    assert admin_sql("SELECT count(*) FROM users WHERE role = 'admin'") == [(4,)]
