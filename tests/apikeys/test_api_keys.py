"""/api/v1/api-keys: org admins mint, list and revoke keys; keys authenticate as their org."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import Account, Factory

URL = "/api/v1/api-keys"
LOGS = "/api/v1/admin/activity-logs"
AdminSql = Callable[..., list[tuple[Any, ...]]]
KEY_PATTERN = re.compile(r"^mh_[A-Za-z0-9_-]{43}$")
READ_FIELDS = {
    "id",
    "name",
    "role",
    "prefix",
    "organization_id",
    "created_by",
    "created_at",
    "last_used_at",
    "revoked_at",
}


@dataclass
class Tenant:
    admin: Account
    organization_id: uuid.UUID


@pytest.fixture
async def tenant(factory: Factory) -> Tenant:
    organization = await factory.organization("hospital")
    admin = await factory.user("admin", organization_id=organization.id)
    return Tenant(admin=admin, organization_id=organization.id)


@pytest.fixture
async def other_tenant(factory: Factory) -> Tenant:
    organization = await factory.organization("supplier")
    admin = await factory.user("admin", organization_id=organization.id)
    return Tenant(admin=admin, organization_id=organization.id)


async def create_key(
    client: httpx.AsyncClient, admin: Account, name: str = "ERP sync", role: str = "admin"
) -> dict[str, Any]:
    response = await client.post(URL, headers=admin.headers, json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def audit_rows(admin_sql: AdminSql, action: str) -> list[tuple[Any, ...]]:
    return admin_sql(
        "SELECT organization_id, user_id, entity_type, entity_id, metadata FROM activity_logs"
        " WHERE action = %s ORDER BY seq",
        [action],
    )


# --- create ------------------------------------------------------------------------------


async def test_a_created_key_is_shown_once_and_stored_as_a_digest(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    response = await client.post(
        URL, headers=tenant.admin.headers, json={"name": "  Lab integration  ", "role": "doctor"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"] == "API key created. Store it now: it cannot be shown again."
    data = body["data"]
    assert set(data) == {"id", "name", "role", "prefix", "key", "created_at"}
    key = data["key"]
    assert KEY_PATTERN.match(key), key
    assert data["prefix"] == key[:12]
    assert (data["name"], data["role"]) == ("Lab integration", "doctor")
    assert data["created_at"].endswith("Z")
    [(key_hash, prefix, organization_id, created_by, revoked_at)] = admin_sql(
        "SELECT key_hash, prefix, organization_id, created_by, revoked_at FROM api_keys"
        " WHERE id = %s",
        [data["id"]],
    )
    assert key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in key_hash
    assert prefix == key[:12]
    assert (organization_id, created_by, revoked_at) == (
        tenant.organization_id,
        tenant.admin.id,
        None,
    )
    assert audit_rows(admin_sql, "api_key_created") == [
        (
            tenant.organization_id,
            tenant.admin.id,
            "api_key",
            uuid.UUID(data["id"]),
            {"name": "Lab integration", "role": "doctor", "prefix": key[:12]},
        )
    ]


async def test_every_key_is_different(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await create_key(client, tenant.admin, "one")
    second = await create_key(client, tenant.admin, "two")
    assert first["key"] != second["key"]
    assert first["prefix"] != second["prefix"]


@pytest.mark.parametrize(
    ("kind", "allowed", "refused"),
    [
        ("supplier", ["admin", "sales", "distributor"], ["pharmacist", "doctor", "customer"]),
        ("pharmacy", ["admin", "pharmacist"], ["sales", "doctor", "patient"]),
        ("hospital", ["admin", "doctor", "pharmacist"], ["sales", "distributor", "customer"]),
        ("clinic", ["admin", "doctor", "pharmacist"], ["sales", "patient"]),
    ],
)
async def test_the_role_must_belong_to_the_organization_kind(
    client: httpx.AsyncClient,
    factory: Factory,
    kind: str,
    allowed: list[str],
    refused: list[str],
) -> None:
    organization = await factory.organization(kind)
    admin = await factory.user("admin", organization_id=organization.id)
    for role in allowed:
        created = await create_key(client, admin, f"{role} key", role)
        assert created["role"] == role
    for role in [*refused, "super_admin", "wizard"]:
        response = await client.post(URL, headers=admin.headers, json={"name": "no", "role": role})
        assert response.status_code == 400, role
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"] == [
            {"field": "role", "message": "must be one of: " + ", ".join(allowed)}
        ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "admin"}, "name"),
        ({"name": "", "role": "admin"}, "name"),
        ({"name": "   ", "role": "admin"}, "name"),
        ({"name": "x" * 101, "role": "admin"}, "name"),
        ({"name": "ok"}, "role"),
        ({"name": "ok", "role": "admin", "key": "mh_mine"}, "key"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql, body: dict[str, Any], field: str
) -> None:
    response = await client.post(URL, headers=tenant.admin.headers, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in error["details"]] == [field]
    assert admin_sql("SELECT count(*) FROM api_keys") == [(0,)]


# --- who may manage keys -----------------------------------------------------------------


async def test_anonymous_is_refused_everywhere(client: httpx.AsyncClient) -> None:
    some_id = uuid.uuid4()
    responses = [
        await client.post(URL, json={"name": "x", "role": "admin"}),
        await client.get(URL),
        await client.get(f"{URL}/{some_id}"),
        await client.delete(f"{URL}/{some_id}"),
    ]
    assert [r.status_code for r in responses] == [401] * 4
    assert {r.json()["error"]["code"] for r in responses} == {"AUTHENTICATION_ERROR"}


@pytest.mark.parametrize(
    "role_and_kind",
    [
        ("doctor", "hospital"),
        ("pharmacist", "pharmacy"),
        ("sales", "supplier"),
        ("super_admin", None),
    ],
)
async def test_only_org_admins_manage_keys(
    client: httpx.AsyncClient,
    factory: Factory,
    tenant: Tenant,
    admin_sql: AdminSql,
    role_and_kind: tuple[str, str | None],
) -> None:
    role, kind = role_and_kind
    organization_id = (await factory.organization(kind)).id if kind else None
    account = await factory.user(role, organization_id=organization_id)
    existing = await create_key(client, tenant.admin)
    responses = [
        await client.post(URL, headers=account.headers, json={"name": "x", "role": "admin"}),
        await client.get(URL, headers=account.headers),
        await client.get(f"{URL}/{existing['id']}", headers=account.headers),
        await client.delete(f"{URL}/{existing['id']}", headers=account.headers),
    ]
    assert [r.status_code for r in responses] == [403] * 4
    assert {r.json()["error"]["code"] for r in responses} == {"AUTHORIZATION_ERROR"}
    assert admin_sql("SELECT count(*), count(revoked_at) FROM api_keys") == [(1, 0)]


async def test_a_key_cannot_manage_keys_even_an_admin_key(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    created = await create_key(client, tenant.admin, role="admin")
    key = created["key"]
    responses = [
        await client.post(URL, headers=bearer(key), json={"name": "child", "role": "admin"}),
        await client.get(URL, headers=bearer(key)),
        await client.get(f"{URL}/{created['id']}", headers={"X-API-Key": key}),
        await client.delete(f"{URL}/{created['id']}", headers={"X-API-Key": key}),
    ]
    assert [r.status_code for r in responses] == [403] * 4
    assert "API key" in responses[0].json()["error"]["message"]
    assert admin_sql("SELECT count(*), count(revoked_at) FROM api_keys") == [(1, 0)]


# --- authenticating with a key -------------------------------------------------------------


async def test_a_key_authenticates_as_bearer_and_as_x_api_key(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    key = (await create_key(client, tenant.admin, role="admin"))["key"]
    for headers in (bearer(key), {"X-API-Key": key}):
        response = await client.get(LOGS, headers=headers)
        assert response.status_code == 200, response.text
        rows = response.json()["data"]["activity_logs"]
        # It acts for its own organization only.
        assert rows
        assert {row["organization_id"] for row in rows} == {str(tenant.organization_id)}


async def test_a_key_acts_with_its_own_role(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await create_key(client, tenant.admin, role="doctor"))["key"]
    response = await client.get(LOGS, headers={"X-API-Key": key})
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Your role (doctor) may not activity_logs.read"


@pytest.mark.parametrize(
    "credential",
    ["mh_" + "A" * 43, "mh_", "mh_short", "not-an-api-key"],
)
async def test_an_unknown_key_is_a_401(client: httpx.AsyncClient, credential: str) -> None:
    response = await client.get(LOGS, headers={"X-API-Key": credential})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


async def test_an_unknown_bearer_key_is_a_401(client: httpx.AsyncClient) -> None:
    response = await client.get(LOGS, headers=bearer("mh_" + secrets.token_urlsafe(32)))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key"


async def test_a_key_of_a_suspended_organization_is_a_401(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    key = (await create_key(client, tenant.admin))["key"]
    assert (await client.get(LOGS, headers=bearer(key))).status_code == 200
    admin_sql("UPDATE organizations SET status='suspended' WHERE id=%s", [tenant.organization_id])
    response = await client.get(LOGS, headers=bearer(key))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key's organization is suspended"


async def test_use_is_audited_at_most_once_a_minute_per_key(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    first = await create_key(client, tenant.admin, "first")
    second = await create_key(client, tenant.admin, "second")
    for _ in range(3):
        assert (await client.get(LOGS, headers=bearer(first["key"]))).status_code == 200
    assert (await client.get(LOGS, headers={"X-API-Key": second["key"]})).status_code == 200
    used = audit_rows(admin_sql, "api_key_used")
    assert [(row[0], row[1], row[2], row[3]) for row in used] == [
        (tenant.organization_id, None, "api_key", uuid.UUID(first["id"])),
        (tenant.organization_id, None, "api_key", uuid.UUID(second["id"])),
    ]
    assert used[0][4] == {"api_key_id": first["id"]}
    [(last_used,)] = admin_sql("SELECT last_used_at FROM api_keys WHERE id = %s", [first["id"]])
    assert last_used is not None
    # A minute later the next use is recorded again.
    admin_sql(
        "UPDATE api_keys SET last_used_at = last_used_at - interval '61 seconds' WHERE id = %s",
        [first["id"]],
    )
    assert (await client.get(LOGS, headers=bearer(first["key"]))).status_code == 200
    assert (await client.get(LOGS, headers=bearer(first["key"]))).status_code == 200
    used = audit_rows(admin_sql, "api_key_used")
    assert [row[3] for row in used] == [
        uuid.UUID(first["id"]),
        uuid.UUID(second["id"]),
        uuid.UUID(first["id"]),
    ]


async def test_concurrent_first_uses_are_audited_once(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    key = (await create_key(client, tenant.admin))["key"]
    responses = await asyncio.gather(*(client.get(LOGS, headers=bearer(key)) for _ in range(10)))
    assert {r.status_code for r in responses} == {200}
    assert len(audit_rows(admin_sql, "api_key_used")) == 1


async def test_a_refused_request_does_not_count_as_use(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    created = await create_key(client, tenant.admin)
    # The key authenticates, then the route refuses it: the request's writes roll back,
    # its audit row among them.
    assert (await client.get(URL, headers=bearer(created["key"]))).status_code == 403
    assert audit_rows(admin_sql, "api_key_used") == []
    assert admin_sql("SELECT last_used_at FROM api_keys") == [(None,)]


# --- list and get --------------------------------------------------------------------------


async def test_list_and_get_never_show_the_key_or_its_hash(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    created = await create_key(client, tenant.admin, role="pharmacist")
    [(key_hash,)] = admin_sql("SELECT key_hash FROM api_keys")
    listed = await client.get(URL, headers=tenant.admin.headers)
    fetched = await client.get(f"{URL}/{created['id']}", headers=tenant.admin.headers)
    assert listed.status_code == fetched.status_code == 200
    for response in (listed, fetched):
        assert created["key"] not in response.text
        assert created["key"][12:] not in response.text
        assert key_hash not in response.text
    [row] = listed.json()["data"]["api_keys"]
    assert set(row) == READ_FIELDS
    assert fetched.json()["data"] == row
    assert row == {
        "id": created["id"],
        "name": "ERP sync",
        "role": "pharmacist",
        "prefix": created["prefix"],
        "organization_id": str(tenant.organization_id),
        "created_by": str(tenant.admin.id),
        "created_at": created["created_at"],
        "last_used_at": None,
        "revoked_at": None,
    }


async def test_an_admin_sees_only_their_organization_keys(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await create_key(client, tenant.admin, "mine")
    theirs = await create_key(client, other_tenant.admin, "theirs", role="admin")
    listed = await client.get(URL, headers=tenant.admin.headers)
    assert [k["id"] for k in listed.json()["data"]["api_keys"]] == [mine["id"]]
    for response in (
        await client.get(f"{URL}/{theirs['id']}", headers=tenant.admin.headers),
        await client.delete(f"{URL}/{theirs['id']}", headers=tenant.admin.headers),
        await client.get(f"{URL}/{uuid.uuid4()}", headers=tenant.admin.headers),
        await client.delete(f"{URL}/{uuid.uuid4()}", headers=tenant.admin.headers),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "NOT_FOUND",
            "message": "API key not found",
            "details": [],
        }
    # Their key still works.
    still = await client.get(LOGS, headers=bearer(theirs["key"]))
    assert still.status_code == 200


async def test_a_malformed_id_is_a_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"{URL}/not-a-uuid", headers=tenant.admin.headers)
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["error"]["details"]] == ["key_id"]


async def test_the_list_is_paginated_newest_first(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ids = [(await create_key(client, tenant.admin, f"key {n}"))["id"] for n in range(3)]
    page_one = (await client.get(URL, headers=tenant.admin.headers, params={"limit": 2})).json()
    page_two = (
        await client.get(URL, headers=tenant.admin.headers, params={"limit": 2, "page": 2})
    ).json()
    assert page_one["data"]["pagination"] == {"page": 1, "limit": 2, "total": 3, "total_pages": 2}
    listed = [k["id"] for k in page_one["data"]["api_keys"] + page_two["data"]["api_keys"]]
    assert listed == list(reversed(ids))
    bad = await client.get(URL, headers=tenant.admin.headers, params={"limit": 0})
    assert bad.status_code == 400


# --- revoke --------------------------------------------------------------------------------


async def test_a_revoked_key_is_refused_at_once_and_listed_only_on_request(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    kept = await create_key(client, tenant.admin, "kept")
    revoked = await create_key(client, tenant.admin, "revoked")
    assert (await client.get(LOGS, headers=bearer(revoked["key"]))).status_code == 200
    response = await client.delete(f"{URL}/{revoked['id']}", headers=tenant.admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "API key revoked"
    assert response.json()["data"]["revoked_at"] is not None
    for headers in (bearer(revoked["key"]), {"X-API-Key": revoked["key"]}):
        refused = await client.get(LOGS, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["message"] == "Invalid API key"
    assert (await client.get(LOGS, headers=bearer(kept["key"]))).status_code == 200
    active = await client.get(URL, headers=tenant.admin.headers)
    assert [k["id"] for k in active.json()["data"]["api_keys"]] == [kept["id"]]
    every = await client.get(URL, headers=tenant.admin.headers, params={"include_revoked": True})
    listed = {k["id"]: k["revoked_at"] for k in every.json()["data"]["api_keys"]}
    assert listed.keys() == {kept["id"], revoked["id"]}
    assert listed[kept["id"]] is None
    assert listed[revoked["id"]] is not None
    # A revoked key is gone from the plain read, like from the plain list.
    gone = await client.get(f"{URL}/{revoked['id']}", headers=tenant.admin.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "NOT_FOUND"
    fetched = await client.get(
        f"{URL}/{revoked['id']}", headers=tenant.admin.headers, params={"include_revoked": True}
    )
    assert fetched.json()["data"]["revoked_at"] == listed[revoked["id"]]
    still = await client.get(f"{URL}/{kept['id']}", headers=tenant.admin.headers)
    assert still.status_code == 200
    assert audit_rows(admin_sql, "api_key_revoked") == [
        (
            tenant.organization_id,
            tenant.admin.id,
            "api_key",
            uuid.UUID(revoked["id"]),
            {"name": "revoked", "prefix": revoked["prefix"]},
        )
    ]


async def test_revoking_twice_is_a_409(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    created = await create_key(client, tenant.admin)
    assert (
        await client.delete(f"{URL}/{created['id']}", headers=tenant.admin.headers)
    ).status_code == 200
    [(revoked_at,)] = admin_sql("SELECT revoked_at FROM api_keys")
    again = await client.delete(f"{URL}/{created['id']}", headers=tenant.admin.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "INVALID_STATE_TRANSITION"
    assert again.json()["error"]["message"] == "This API key is already revoked"
    assert admin_sql("SELECT revoked_at FROM api_keys") == [(revoked_at,)]
    assert len(audit_rows(admin_sql, "api_key_revoked")) == 1


async def test_concurrent_revocations_make_one_revocation(
    client: httpx.AsyncClient, tenant: Tenant, admin_sql: AdminSql
) -> None:
    created = await create_key(client, tenant.admin)
    responses = await asyncio.gather(
        *(client.delete(f"{URL}/{created['id']}", headers=tenant.admin.headers) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert len(audit_rows(admin_sql, "api_key_revoked")) == 1
