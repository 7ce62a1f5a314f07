"""POST /api/v1/events/test: any signed-in person emits a test event to themselves."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from medhub.events.registry import handlers_for
from tests.auth.helpers import assert_error, detail_fields
from tests.events.conftest import Register
from tests.factories import Factory, run_jobs
from tests.mail.helpers import AdminSql, job_rows

URL = "/api/v1/events/test"


def stored_events(admin_sql: AdminSql) -> list[tuple[Any, ...]]:
    return admin_sql("SELECT id, name, payload, actor_id, organization_id FROM domain_events")


async def test_emits_a_test_event_for_the_caller(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    admin_sql: AdminSql,
    register_probe: Register,
) -> None:
    probe = register_probe("test.event")
    organization = await factory.organization("clinic")
    doctor = await factory.user("doctor", organization_id=organization.id)
    response = await client.post(URL, json={"message": "Ping"}, headers=doctor.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Event emitted"
    assert set(body["data"]) == {"event_id", "name"}
    assert body["data"]["name"] == "test.event"
    event_id = uuid.UUID(body["data"]["event_id"])
    assert stored_events(admin_sql) == [
        (
            event_id,
            "test.event",
            {"user_id": str(doctor.id), "message": "Ping"},
            doctor.id,
            organization.id,
        )
    ]
    jobs = job_rows(admin_sql, "medhub.dispatch_event")
    assert sorted(job.args["handler"] for job in jobs) == sorted(handlers_for("test.event"))
    await run_jobs(app)
    [seen] = probe.calls
    assert (seen.id, seen.payload["user_id"]) == (event_id, str(doctor.id))


@pytest.mark.parametrize("body", [None, {}])
async def test_the_message_defaults(
    client: httpx.AsyncClient,
    factory: Factory,
    admin_sql: AdminSql,
    body: dict[str, str] | None,
) -> None:
    account = await factory.user("patient", verified=False)
    response = await client.post(URL, json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    [(_id, _name, payload, actor, organization)] = stored_events(admin_sql)
    assert payload == {"user_id": str(account.id), "message": "Test event"}
    assert (actor, organization) == (account.id, None)


async def test_anonymous_callers_get_401(client: httpx.AsyncClient, admin_sql: AdminSql) -> None:
    response = await client.post(URL, json={"message": "Ping"})
    assert_error(response, 401, "AUTHENTICATION_ERROR")
    bad_token = await client.post(
        URL, json={"message": "Ping"}, headers={"Authorization": "Bearer not-a-token"}
    )
    assert_error(bad_token, 401, "AUTHENTICATION_ERROR")
    assert stored_events(admin_sql) == []


async def test_an_api_key_is_not_a_person_403(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    organization = await factory.organization("pharmacy")
    admin = await factory.user("admin", organization_id=organization.id)
    created = await client.post(
        "/api/v1/api-keys", json={"name": "ERP", "role": "admin"}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    key = created.json()["data"]["key"]
    response = await client.post(URL, json={"message": "Ping"}, headers={"X-API-Key": key})
    assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert stored_events(admin_sql) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "x" * 501}, "message"),
        ({"message": 42}, "message"),
        ({"message": "Ping", "to": "someone-else"}, "to"),
        (["Ping"], None),
    ],
)
async def test_bad_bodies_get_400(
    client: httpx.AsyncClient,
    factory: Factory,
    admin_sql: AdminSql,
    body: object,
    field: str | None,
) -> None:
    account = await factory.user("customer")
    response = await client.post(URL, json=body, headers=account.headers)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"], error
    if field is not None:
        assert field in detail_fields(response)
    assert stored_events(admin_sql) == []


async def test_malformed_json_gets_400(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user("customer")
    response = await client.post(
        URL,
        content=b'{"message": ',
        headers={**account.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert stored_events(admin_sql) == []
