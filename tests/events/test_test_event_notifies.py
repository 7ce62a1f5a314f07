"""The test event ends as an in-app notification for the caller, once."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import Factory, run_jobs


async def test_test_event_notifies_the_caller_once(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    patient = await factory.user("patient")
    other = await factory.user("patient")
    emitted = await client.post(
        "/api/v1/events/test", json={"message": "Ping"}, headers=patient.headers
    )
    assert emitted.status_code == 201, emitted.text
    await run_jobs(app)
    await run_jobs(app)  # nothing left to run: the handler's receipt is there
    listed = await client.get("/api/v1/notifications", headers=patient.headers)
    assert listed.status_code == 200
    data = listed.json()["data"]
    assert [(n["category"], n["title"], n["body"]) for n in data["notifications"]] == [
        ("test", "Test event", "Ping")
    ]
    assert data["notifications"][0]["data"]["event_id"] == emitted.json()["data"]["event_id"]
    assert data["unread_count"] == 1
    others = await client.get("/api/v1/notifications", headers=other.headers)
    assert others.json()["data"]["notifications"] == []
