"""GET /api/v1/admin/activity-logs: who sees which rows, filters, pagination."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import Account, Factory

URL = "/api/v1/admin/activity-logs"
AdminSql = Callable[..., list[tuple[Any, ...]]]
ROW_FIELDS = {
    "id",
    "seq",
    "organization_id",
    "user_id",
    "action",
    "entity_type",
    "entity_id",
    "ip_address",
    "user_agent",
    "metadata",
    "created_at",
}


@dataclass
class World:
    admin_a: Account
    doctor_a: Account
    admin_b: Account
    org_a: uuid.UUID
    org_b: uuid.UUID


@pytest.fixture
async def world(factory: Factory) -> World:
    org_a = await factory.organization("hospital")
    org_b = await factory.organization("pharmacy")
    return World(
        admin_a=await factory.user("admin", organization_id=org_a.id),
        doctor_a=await factory.user("doctor", organization_id=org_a.id),
        admin_b=await factory.user("admin", organization_id=org_b.id),
        org_a=org_a.id,
        org_b=org_b.id,
    )


async def logs(
    client: httpx.AsyncClient, account: Account, **params: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    response = await client.get(URL, headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return data["activity_logs"], data["pagination"]


async def test_anonymous_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


@pytest.mark.parametrize("role", ["doctor", "pharmacist", "sales"])
async def test_staff_who_are_not_admins_are_refused(
    client: httpx.AsyncClient, factory: Factory, role: str
) -> None:
    organization = await factory.organization("hospital")
    account = await factory.user(role, organization_id=organization.id)
    response = await client.get(URL, headers=account.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AUTHORIZATION_ERROR"


async def test_an_org_admin_sees_only_their_organization(
    client: httpx.AsyncClient, world: World, admin_sql: AdminSql
) -> None:
    rows, pagination = await logs(client, world.admin_a)
    assert {row["organization_id"] for row in rows} == {str(world.org_a)}
    assert sorted(row["user_id"] for row in rows) == sorted(
        [str(world.admin_a.id), str(world.doctor_a.id)]
    )
    assert pagination["total"] == 2
    # Org B's rows exist; admin A just never sees them.
    assert admin_sql(
        "SELECT count(*) FROM activity_logs WHERE organization_id = %s", [world.org_b]
    ) == [(1,)]
    rows_b, _ = await logs(client, world.admin_b)
    assert [(row["user_id"], row["action"]) for row in rows_b] == [(str(world.admin_b.id), "login")]


async def test_an_org_admin_asking_for_another_organization_gets_404(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(
        URL, headers=world.admin_a.headers, params={"organization_id": str(world.org_b)}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    own, pagination = await logs(client, world.admin_a, organization_id=str(world.org_a))
    assert pagination["total"] == 2
    assert {row["organization_id"] for row in own} == {str(world.org_a)}


async def test_a_super_admin_sees_everything_and_may_pick_an_organization(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    operator = await factory.user("super_admin")
    everything, pagination = await logs(client, operator)
    assert pagination["total"] == 4  # three staff logins and the operator's own
    assert {row["organization_id"] for row in everything} == {
        str(world.org_a),
        str(world.org_b),
        None,
    }
    only_b, _ = await logs(client, operator, organization_id=str(world.org_b))
    assert [(row["user_id"], row["organization_id"]) for row in only_b] == [
        (str(world.admin_b.id), str(world.org_b))
    ]


async def test_a_row_has_the_documented_fields(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    organization = await factory.organization("clinic")
    admin = await factory.user("admin", organization_id=organization.id, login=False)
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": admin.email, "password": admin.password},
        headers={"User-Agent": "log-reader/2.0"},
    )
    assert login.status_code == 200
    admin.access_token = login.json()["data"]["access_token"]
    [row], _ = await logs(client, admin)
    assert set(row) == ROW_FIELDS
    [(row_id, session_id, seq)] = admin_sql("SELECT id, entity_id, seq FROM activity_logs")
    assert row["id"] == str(row_id)
    assert row["seq"] == seq == 1
    assert row["organization_id"] == str(organization.id)
    assert row["user_id"] == str(admin.id)
    assert row["action"] == "login"
    assert row["entity_type"] == "session"
    assert row["entity_id"] == str(session_id)
    assert row["ip_address"] == "127.0.0.1"
    assert row["user_agent"] == "log-reader/2.0"
    assert row["metadata"] == {"method": "bearer"}
    assert row["created_at"].endswith("Z")


async def test_filters_narrow_the_rows(
    client: httpx.AsyncClient, world: World, admin_sql: AdminSql
) -> None:
    # One more row in org A: the doctor logs out.
    out = await client.post("/api/v1/auth/logout", headers=world.doctor_a.headers)
    assert out.status_code == 200
    [(session_id,)] = admin_sql(
        "SELECT entity_id FROM activity_logs WHERE action = 'logout' AND user_id = %s",
        [world.doctor_a.id],
    )
    by_action, _ = await logs(client, world.admin_a, action="logout")
    assert [(r["action"], r["user_id"]) for r in by_action] == [("logout", str(world.doctor_a.id))]
    by_user, _ = await logs(client, world.admin_a, user_id=str(world.doctor_a.id))
    assert [r["action"] for r in by_user] == ["logout", "login"]  # newest first
    by_entity, _ = await logs(
        client, world.admin_a, entity_type="session", entity_id=str(session_id)
    )
    assert [r["action"] for r in by_entity] == ["logout", "login"]
    assert {r["entity_id"] for r in by_entity} == {str(session_id)}
    nothing, pagination = await logs(client, world.admin_a, action="no_such_action")
    assert nothing == []
    assert pagination == {"page": 1, "limit": 20, "total": 0, "total_pages": 0}


async def test_the_time_range_is_inclusive(
    client: httpx.AsyncClient, world: World, admin_sql: AdminSql
) -> None:
    stamps = admin_sql(
        "SELECT created_at FROM activity_logs WHERE organization_id = %s ORDER BY seq",
        [world.org_a],
    )
    first, second = (row[0] for row in stamps)
    exactly_first, _ = await logs(
        client, world.admin_a, **{"from": first.isoformat(), "to": first.isoformat()}
    )
    assert [r["user_id"] for r in exactly_first] == [str(world.admin_a.id)]
    from_second, _ = await logs(client, world.admin_a, **{"from": second.isoformat()})
    assert [r["user_id"] for r in from_second] == [str(world.doctor_a.id)]
    # No offset means UTC.
    naive = second.astimezone(UTC).replace(tzinfo=None).isoformat()
    until_before_second, _ = await logs(
        client, world.admin_a, to=(second - timedelta(microseconds=1)).isoformat()
    )
    assert [r["user_id"] for r in until_before_second] == [str(world.admin_a.id)]
    from_naive, _ = await logs(client, world.admin_a, **{"from": naive})
    assert [r["user_id"] for r in from_naive] == [str(world.doctor_a.id)]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await logs(client, world.admin_a, **{"from": future}))[0] == []


async def test_a_backwards_time_range_is_a_400(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        URL,
        headers=world.admin_a.headers,
        params={"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == [{"field": "from", "message": "must not be later than 'to'"}]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00"}, "to"),
        ({"user_id": "not-a-uuid"}, "user_id"),
        ({"entity_id": "42"}, "entity_id"),
        ({"limit": "101"}, "limit"),
        ({"page": "0"}, "page"),
        ({"action": "x" * 101}, "action"),
    ],
)
async def test_bad_parameters_are_a_400_naming_the_field(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    response = await client.get(URL, headers=world.admin_a.headers, params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in error["details"]] == [field]


async def test_pagination_walks_every_row_once(
    client: httpx.AsyncClient, world: World, factory: Factory
) -> None:
    for _ in range(3):
        await factory.login(world.admin_a)
    # Org A now has five rows: two earlier logins and three more.
    first, pagination = await logs(client, world.admin_a, limit=2)
    assert pagination == {"page": 1, "limit": 2, "total": 5, "total_pages": 3}
    second, _ = await logs(client, world.admin_a, limit=2, page=2)
    third, _ = await logs(client, world.admin_a, limit=2, page=3)
    beyond, beyond_pagination = await logs(client, world.admin_a, limit=2, page=4)
    assert (len(first), len(second), len(third), beyond) == (2, 2, 1, [])
    assert beyond_pagination["total"] == 5
    seqs = [row["seq"] for row in first + second + third]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == 5
