"""GET/PUT /users/me (= /users/profile) and /users/stats."""

from __future__ import annotations

import hashlib
import secrets
import uuid

import httpx
import pytest

from tests.auth.helpers import (
    API,
    AdminSql,
    assert_error,
    detail_fields,
    login_ok,
    scalar,
)
from tests.factories import Factory

PROFILE_FIELDS = {
    "id",
    "email",
    "full_name",
    "company_name",
    "phone",
    "role",
    "organization_id",
    "is_verified",
    "is_active",
    "is_approved",
    "created_at",
    "last_login",
}


async def test_me_and_profile_are_the_same_resource(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    organization = await factory.organization("pharmacy")
    account = await factory.user(
        "pharmacist", organization_id=organization.id, full_name="Pia Pharm"
    )
    me = await client.get(f"{API}/users/me", headers=account.headers)
    profile = await client.get(f"{API}/users/profile", headers=account.headers)
    assert me.status_code == profile.status_code == 200
    assert me.json() == profile.json()
    data = me.json()["data"]
    assert set(data) == PROFILE_FIELDS
    assert data["id"] == str(account.id)
    assert data["email"] == account.email
    assert data["full_name"] == "Pia Pharm"
    assert data["role"] == "pharmacist"
    assert data["organization_id"] == str(organization.id)
    assert (data["is_verified"], data["is_active"], data["is_approved"]) == (True, True, True)
    assert data["last_login"] is not None
    assert "password" not in me.text
    assert "failed_login" not in me.text


async def test_updating_one_spelling_shows_in_the_other(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    updated = await client.put(
        f"{API}/users/me",
        json={"full_name": "  Grace Hopper ", "company_name": "Navy", "phone": "+1 (555) 010-9999"},
        headers=account.headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["message"] == "Profile updated"
    data = updated.json()["data"]
    assert (data["full_name"], data["company_name"], data["phone"]) == (
        "Grace Hopper",
        "Navy",
        "+1 (555) 010-9999",
    )
    read = (await client.get(f"{API}/users/profile", headers=account.headers)).json()["data"]
    assert read["full_name"] == "Grace Hopper"
    again = await client.put(
        f"{API}/users/profile", json={"company_name": None}, headers=account.headers
    )
    assert again.status_code == 200, again.text
    read = (await client.get(f"{API}/users/me", headers=account.headers)).json()["data"]
    assert (read["full_name"], read["company_name"], read["phone"]) == (
        "Grace Hopper",
        None,
        "+1 (555) 010-9999",
    )
    stored = admin_sql("SELECT full_name, company_name FROM users WHERE id = %s", (account.id,))
    assert stored == [("Grace Hopper", None)]
    audited = admin_sql(
        "SELECT metadata->'fields' FROM activity_logs WHERE action = 'profile_updated'"
        " AND user_id = %s ORDER BY seq",
        (account.id,),
    )
    assert audited == [(["company_name", "full_name", "phone"],), (["company_name"],)]


async def test_empty_update_changes_nothing(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user(full_name="Stay Same")
    response = await client.put(f"{API}/users/me", json={}, headers=account.headers)
    assert response.status_code == 200
    assert response.json()["data"]["full_name"] == "Stay Same"


@pytest.mark.parametrize("path", ["/users/me", "/users/profile"])
async def test_profile_update_validation(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql, path: str
) -> None:
    account = await factory.user(full_name="Kept Name")
    cases: list[tuple[dict[str, object], str]] = [
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"full_name": None}, "full_name"),
        ({"full_name": ""}, "full_name"),
        ({"full_name": "x" * 256}, "full_name"),
        ({"role": "super_admin"}, "role"),
        ({"email": "new@example.org"}, "email"),
        ({"is_verified": True}, "is_verified"),
        ({"organization_id": str(uuid.uuid4())}, "organization_id"),
    ]
    for body, field in cases:
        response = await client.put(f"{API}{path}", json=body, headers=account.headers)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(response) == {field}, (body, response.text)
    stored = admin_sql(
        "SELECT full_name, role, email, is_verified, organization_id FROM users WHERE id = %s",
        (account.id,),
    )
    assert stored == [("Kept Name", "customer", account.email, True, None)]


async def test_profile_routes_need_a_login(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/users/me"),
        ("GET", "/users/profile"),
        ("PUT", "/users/me"),
        ("PUT", "/users/profile"),
        ("GET", "/users/stats"),
    ):
        response = await client.request(
            method, f"{API}{path}", json={} if method == "PUT" else None
        )
        assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_api_keys_have_no_profile(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    organization = await factory.organization("supplier")
    key = "mh_" + secrets.token_urlsafe(24)
    admin_sql(
        "INSERT INTO api_keys (id, organization_id, name, prefix, key_hash, role)"
        " VALUES (%s, %s, 'probe', %s, %s, 'distributor')",
        (uuid.uuid4(), organization.id, key[:8], hashlib.sha256(key.encode()).hexdigest()),
    )
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        response = await client.get(f"{API}/users/me", headers=headers)
        error = assert_error(response, 403, "AUTHORIZATION_ERROR")
        assert "API key" in error["message"]
        assert_error(
            await client.post(f"{API}/auth/logout", headers=headers), 403, "AUTHORIZATION_ERROR"
        )


async def test_stats_count_your_own_records(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    extra = await login_ok(client, account.email)
    ended = await login_ok(client, account.email)
    assert (await client.post(f"{API}/auth/logout", headers=ended.headers)).status_code == 200
    for n in range(2):
        created = await client.post(
            f"{API}/users/addresses",
            json={
                "address_type": "shipping",
                "street_address": f"{n} Main St",
                "city": "Springfield",
                "postal_code": "12345",
                "country": "US",
            },
            headers=account.headers,
        )
        assert created.status_code == 201
    # Someone else's records do not count.
    other = await factory.user()
    await client.post(
        f"{API}/users/addresses",
        json={
            "address_type": "billing",
            "street_address": "1 Elm St",
            "city": "Shelbyville",
            "postal_code": "54321",
            "country": "US",
        },
        headers=other.headers,
    )
    response = await client.get(f"{API}/users/stats", headers=extra.headers)
    assert response.status_code == 200, response.text
    logged = scalar(
        admin_sql, "SELECT count(*) FROM activity_logs WHERE user_id = %s", (account.id,)
    )
    assert logged >= 6  # 3 logins, 1 logout, 2 addresses
    assert response.json()["data"] == {
        "addresses": 2,
        "active_sessions": 2,
        "activity_log_entries": logged,
    }
