"""/api/v1/notifications: your own list, read marks, deletion and channel preferences."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.assertions import assert_error
from tests.factories import Account, Factory
from tests.notifications.conftest import URL, AdminSql
from tests.notifications.helpers import send, send_many

CATEGORIES = [
    "account",
    "security",
    "order",
    "inquiry",
    "prescription",
    "appointment",
    "review",
    "reminder",
    "stock",
    "system",
    "test",
]
EMAIL_BY_DEFAULT = {"security", "order", "prescription", "appointment", "reminder", "stock"}


@pytest.fixture
async def ann(factory: Factory) -> Account:
    return await factory.user("patient", full_name="Ann Lee")


@pytest.fixture
async def bob(factory: Factory) -> Account:
    return await factory.user("customer", full_name="Bob Roe")


# --- list --------------------------------------------------------------------------------


async def test_list_is_newest_first_with_pagination_and_unread_count(
    app: FastAPI, client: httpx.AsyncClient, ann: Account, bob: Account
) -> None:
    seqs = await send_many(app, ann.id, 3)
    await send(app, bob.id, title="not for ann")

    response = await client.get(URL, headers=ann.headers, params={"limit": 2})

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["pagination"] == {"page": 1, "limit": 2, "total": 3, "total_pages": 2}
    assert data["unread_count"] == 3
    assert [n["title"] for n in data["notifications"]] == ["n3", "n2"]
    first = data["notifications"][0]
    assert set(first) == {
        "id",
        "seq",
        "category",
        "title",
        "body",
        "data",
        "is_read",
        "read_at",
        "created_at",
    }
    assert first["seq"] == seqs[2]
    assert first["category"] == "system"
    assert first["body"] == "body 3"
    assert first["is_read"] is False
    assert first["read_at"] is None
    assert first["created_at"].endswith("Z")

    page_two = (await client.get(URL, headers=ann.headers, params={"limit": 2, "page": 2})).json()
    assert [n["title"] for n in page_two["data"]["notifications"]] == ["n1"]


async def test_list_filters_by_unread_and_category(
    app: FastAPI, client: httpx.AsyncClient, ann: Account
) -> None:
    order = await send(app, ann.id, "order", "Order shipped", "ORD-2026-000001", {"order": 1})
    await send(app, ann.id, "reminder", "Take your pills", "08:00")
    assert order is not None
    await client.put(f"{URL}/{order.id}/read", headers=ann.headers)

    unread = (await client.get(URL, headers=ann.headers, params={"unread": "true"})).json()
    assert [n["title"] for n in unread["data"]["notifications"]] == ["Take your pills"]
    assert unread["data"]["unread_count"] == 1

    read = (await client.get(URL, headers=ann.headers, params={"unread": "false"})).json()
    assert [n["title"] for n in read["data"]["notifications"]] == ["Order shipped"]
    assert read["data"]["notifications"][0]["data"] == {"order": 1}

    orders = (await client.get(URL, headers=ann.headers, params={"category": "order"})).json()
    assert [n["title"] for n in orders["data"]["notifications"]] == ["Order shipped"]
    assert orders["data"]["pagination"]["total"] == 1
    # The unread count is the user's, whatever the filter.
    assert orders["data"]["unread_count"] == 1


async def test_list_bad_filters_are_400_naming_the_field(
    client: httpx.AsyncClient, ann: Account
) -> None:
    response = await client.get(
        URL, headers=ann.headers, params={"category": "gossip", "unread": "maybe", "limit": 0}
    )
    assert_error(response, 400, "VALIDATION_ERROR", fields={"category", "unread", "limit"})


async def test_a_new_user_has_an_empty_list(client: httpx.AsyncClient, ann: Account) -> None:
    response = await client.get(URL, headers=ann.headers)
    assert response.json()["data"] == {
        "notifications": [],
        "pagination": {"page": 1, "limit": 20, "total": 0, "total_pages": 0},
        "unread_count": 0,
    }


# --- anonymous and API keys ----------------------------------------------------------


# A fixed id: parameters are part of the test ids, which must be the same in every
# xdist worker (a random one per import made their collections differ).
SOME_ID = uuid.UUID("6f1c2a52-7d8e-4b9a-9c3d-0e5f1a2b3c4d")
ENDPOINTS = [
    ("GET", URL),
    ("GET", f"{URL}/stream"),
    ("GET", f"{URL}/preferences"),
    ("PUT", f"{URL}/preferences"),
    ("PUT", f"{URL}/read-all"),
    ("PUT", f"{URL}/{SOME_ID}/read"),
    ("DELETE", f"{URL}/{SOME_ID}"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_anonymous_is_401_everywhere(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"preferences": []})
    assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_an_api_key_has_no_notifications(client: httpx.AsyncClient, factory: Factory) -> None:
    organization = await factory.organization("pharmacy")
    admin = await factory.user("admin", organization_id=organization.id)
    created = await client.post(
        "/api/v1/api-keys", headers=admin.headers, json={"name": "ERP", "role": "admin"}
    )
    assert created.status_code == 201, created.text
    key = created.json()["data"]["key"]

    response = await client.get(URL, headers={"Authorization": f"Bearer {key}"})

    assert_error(response, 403, "AUTHORIZATION_ERROR")


# --- read marks ------------------------------------------------------------------------


async def test_mark_read_sets_read_at_once(
    app: FastAPI, client: httpx.AsyncClient, ann: Account
) -> None:
    notification = await send(app, ann.id)
    assert notification is not None

    first = await client.put(f"{URL}/{notification.id}/read", headers=ann.headers)
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert data["id"] == str(notification.id)
    assert data["is_read"] is True
    assert data["read_at"].endswith("Z")

    again = await client.put(f"{URL}/{notification.id}/read", headers=ann.headers)
    assert again.json()["data"]["read_at"] == data["read_at"]
    listed = (await client.get(URL, headers=ann.headers)).json()["data"]
    assert listed["unread_count"] == 0


async def test_read_all_says_how_many(
    app: FastAPI, client: httpx.AsyncClient, ann: Account, bob: Account
) -> None:
    await send_many(app, ann.id, 3)
    await send(app, bob.id)

    response = await client.put(f"{URL}/read-all", headers=ann.headers)

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"marked_read": 3}
    assert (await client.put(f"{URL}/read-all", headers=ann.headers)).json()["data"] == {
        "marked_read": 0
    }
    # Bob's stays unread.
    assert (await client.get(URL, headers=bob.headers)).json()["data"]["unread_count"] == 1


async def test_a_bad_id_is_400(client: httpx.AsyncClient, ann: Account) -> None:
    response = await client.put(f"{URL}/not-a-uuid/read", headers=ann.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields={"notification_id"})


# --- another user's notification ---------------------------------------------------------


async def test_another_users_notification_is_404(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account, bob: Account
) -> None:
    bobs = await send(app, bob.id, title="for bob")
    assert bobs is not None

    read = await client.put(f"{URL}/{bobs.id}/read", headers=ann.headers)
    delete = await client.delete(f"{URL}/{bobs.id}", headers=ann.headers)
    listed = await client.get(URL, headers=ann.headers)

    assert_error(read, 404, "NOT_FOUND")
    assert_error(delete, 404, "NOT_FOUND")
    assert listed.json()["data"]["notifications"] == []
    assert admin_sql("SELECT title, read_at FROM notifications WHERE id = %s", [bobs.id]) == [
        ("for bob", None)
    ]


async def test_a_super_admin_sees_only_their_own_too(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, bob: Account
) -> None:
    root = await factory.user("super_admin")
    bobs = await send(app, bob.id)
    assert bobs is not None

    assert (await client.get(URL, headers=root.headers)).json()["data"]["notifications"] == []
    assert_error(await client.put(f"{URL}/{bobs.id}/read", headers=root.headers), 404, "NOT_FOUND")


# --- delete ------------------------------------------------------------------------------


async def test_delete_removes_it_and_is_audited(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account
) -> None:
    notification = await send(app, ann.id)
    assert notification is not None

    response = await client.delete(f"{URL}/{notification.id}", headers=ann.headers)

    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Notification deleted"
    assert admin_sql("SELECT count(*) FROM notifications") == [(0,)]
    assert admin_sql(
        "SELECT user_id, entity_id FROM activity_logs WHERE action = 'notification_deleted'"
    ) == [(ann.id, notification.id)]
    assert_error(
        await client.delete(f"{URL}/{notification.id}", headers=ann.headers), 404, "NOT_FOUND"
    )


# --- preferences --------------------------------------------------------------------------


async def test_preferences_default_for_every_category(
    client: httpx.AsyncClient, ann: Account
) -> None:
    response = await client.get(f"{URL}/preferences", headers=ann.headers)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["preferences"] == [
        {"category": c, "email": c in EMAIL_BY_DEFAULT, "sms": False, "in_app": True}
        for c in CATEGORIES
    ]


async def test_preferences_round_trip_with_a_partial_list(
    client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account, bob: Account
) -> None:
    response = await client.put(
        f"{URL}/preferences",
        headers=ann.headers,
        json={
            "preferences": [
                {"category": "order", "email": False, "sms": True},
                {"category": "account", "in_app": False},
            ]
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Preferences updated"
    expected = {
        c: {"category": c, "email": c in EMAIL_BY_DEFAULT, "sms": False, "in_app": True}
        for c in CATEGORIES
    }
    expected["order"] = {"category": "order", "email": False, "sms": True, "in_app": True}
    expected["account"] = {"category": "account", "email": False, "sms": False, "in_app": False}
    assert response.json()["data"]["preferences"] == list(expected.values())
    again = await client.get(f"{URL}/preferences", headers=ann.headers)
    assert again.json()["data"]["preferences"] == list(expected.values())

    # A later change keeps what it does not mention.
    await client.put(
        f"{URL}/preferences",
        headers=ann.headers,
        json={"preferences": [{"category": "order", "in_app": False}]},
    )
    order = (await client.get(f"{URL}/preferences", headers=ann.headers)).json()["data"][
        "preferences"
    ][2]
    assert order == {"category": "order", "email": False, "sms": True, "in_app": False}

    # Bob's are untouched, and the change is in the activity log.
    bobs = (await client.get(f"{URL}/preferences", headers=bob.headers)).json()["data"]
    assert bobs["preferences"][2]["email"] is True
    [(metadata,)] = admin_sql(
        "SELECT metadata FROM activity_logs WHERE action = 'notification_preferences_updated'"
        " ORDER BY seq LIMIT 1"
    )
    assert metadata["preferences"]["order"] == {"email": False, "sms": True, "in_app": True}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preferences": [{"category": "gossip", "email": True}]}, "preferences.0.category"),
        ({"preferences": [{"category": "order", "email": "sometimes"}]}, "preferences.0.email"),
        ({"preferences": [{"category": "order", "push": True}]}, "preferences.0.push"),
        ({"preferences": []}, "preferences"),
        ({"preferences": [{"category": "order"}, {"category": "order"}]}, "preferences"),
        ({}, "preferences"),
    ],
)
async def test_bad_preferences_are_400_and_change_nothing(
    client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account, body: Any, field: str
) -> None:
    response = await client.put(f"{URL}/preferences", headers=ann.headers, json=body)

    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert admin_sql("SELECT count(*) FROM notification_preferences") == [(0,)]
