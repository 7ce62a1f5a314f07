"""/users/addresses: CRUD, pagination, one default per type (also under concurrency), ownership."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.auth.helpers import API, AdminSql, assert_error, detail_fields
from tests.factories import Account, Factory

ADDRESSES = f"{API}/users/addresses"
ADDRESS_FIELDS = {
    "id",
    "address_type",
    "street_address",
    "city",
    "state_province",
    "postal_code",
    "country",
    "is_default",
    "created_at",
    "updated_at",
}


def address_body(**overrides: Any) -> dict[str, Any]:
    return {
        "address_type": "shipping",
        "street_address": "742 Evergreen Terrace",
        "city": "Springfield",
        "state_province": "OR",
        "postal_code": "97403",
        "country": "US",
        **overrides,
    }


async def add(client: httpx.AsyncClient, account: Account, **overrides: Any) -> dict[str, Any]:
    response = await client.post(ADDRESSES, json=address_body(**overrides), headers=account.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def defaults(admin_sql: AdminSql, account: Account) -> dict[str, list[str]]:
    rows = admin_sql(
        "SELECT address_type, id::text FROM addresses WHERE user_id = %s AND is_default"
        " ORDER BY address_type",
        (account.id,),
    )
    found: dict[str, list[str]] = {}
    for address_type, address_id in rows:
        found.setdefault(address_type, []).append(address_id)
    return found


async def test_create_read_update_delete(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    response = await client.post(
        ADDRESSES, json=address_body(street_address="  1 Infinite Loop "), headers=account.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["message"] == "Address added"
    created = response.json()["data"]
    assert set(created) == ADDRESS_FIELDS
    assert created["street_address"] == "1 Infinite Loop"
    assert created["is_default"] is False
    address_id = created["id"]

    read = await client.get(f"{ADDRESSES}/{address_id}", headers=account.headers)
    assert read.status_code == 200
    assert read.json()["data"] == created

    updated = await client.put(
        f"{ADDRESSES}/{address_id}",
        json={"city": "Cupertino", "state_province": None},
        headers=account.headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["message"] == "Address updated"
    data = updated.json()["data"]
    assert (data["city"], data["state_province"], data["street_address"]) == (
        "Cupertino",
        None,
        "1 Infinite Loop",
    )

    deleted = await client.delete(f"{ADDRESSES}/{address_id}", headers=account.headers)
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "data": None, "message": "Address deleted"}
    assert_error(
        await client.get(f"{ADDRESSES}/{address_id}", headers=account.headers), 404, "NOT_FOUND"
    )
    assert_error(
        await client.delete(f"{ADDRESSES}/{address_id}", headers=account.headers),
        404,
        "NOT_FOUND",
    )
    actions = [
        row[0]
        for row in admin_sql(
            "SELECT action FROM activity_logs WHERE entity_id = %s ORDER BY seq", (address_id,)
        )
    ]
    assert actions == ["address_created", "address_updated", "address_deleted"]


async def test_list_is_paginated_and_only_yours(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user()
    other = await factory.user()
    await add(client, other)
    ids = [(await add(client, account, street_address=f"{n} Pine St"))["id"] for n in range(3)]
    first = await client.get(f"{ADDRESSES}?page=1&limit=2", headers=account.headers)
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert data["pagination"] == {"page": 1, "limit": 2, "total": 3, "total_pages": 2}
    assert len(data["addresses"]) == 2
    second = (await client.get(f"{ADDRESSES}?page=2&limit=2", headers=account.headers)).json()
    assert len(second["data"]["addresses"]) == 1
    listed = [a["id"] for a in data["addresses"] + second["data"]["addresses"]]
    assert sorted(listed) == sorted(ids)
    assert_error(
        await client.get(f"{ADDRESSES}?limit=101", headers=account.headers),
        400,
        "VALIDATION_ERROR",
    )
    empty = await factory.user()
    nothing = (await client.get(ADDRESSES, headers=empty.headers)).json()["data"]
    assert nothing["addresses"] == []
    assert nothing["pagination"]["total"] == 0


async def test_a_new_default_replaces_the_old_one_of_its_type_only(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    ship_a = await add(client, account, is_default=True)
    bill = await add(client, account, address_type="billing", is_default=True)
    assert defaults(admin_sql, account) == {"billing": [bill["id"]], "shipping": [ship_a["id"]]}
    ship_b = await add(client, account, is_default=True)
    assert ship_b["is_default"] is True
    assert defaults(admin_sql, account) == {"billing": [bill["id"]], "shipping": [ship_b["id"]]}
    old = (await client.get(f"{ADDRESSES}/{ship_a['id']}", headers=account.headers)).json()
    assert old["data"]["is_default"] is False

    # Making an existing address the default, by update.
    made = await client.put(
        f"{ADDRESSES}/{ship_a['id']}", json={"is_default": True}, headers=account.headers
    )
    assert made.status_code == 200, made.text
    assert defaults(admin_sql, account) == {"billing": [bill["id"]], "shipping": [ship_a["id"]]}
    # Re-sending the same default is harmless.
    again = await client.put(
        f"{ADDRESSES}/{ship_a['id']}", json={"is_default": True}, headers=account.headers
    )
    assert again.status_code == 200
    assert defaults(admin_sql, account) == {"billing": [bill["id"]], "shipping": [ship_a["id"]]}
    # Unsetting leaves no default of that type.
    unset = await client.put(
        f"{ADDRESSES}/{ship_a['id']}", json={"is_default": False}, headers=account.headers
    )
    assert unset.status_code == 200
    assert defaults(admin_sql, account) == {"billing": [bill["id"]]}


async def test_changing_the_type_of_a_default_keeps_one_default_per_type(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    ship = await add(client, account, is_default=True)
    bill = await add(client, account, address_type="billing", is_default=True)
    moved = await client.put(
        f"{ADDRESSES}/{ship['id']}", json={"address_type": "billing"}, headers=account.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["is_default"] is True
    assert defaults(admin_sql, account) == {"billing": [ship["id"]]}
    previous = (await client.get(f"{ADDRESSES}/{bill['id']}", headers=account.headers)).json()
    assert previous["data"]["is_default"] is False

    # Moving a non-default address into a type leaves that type's default alone.
    plain = await add(client, account)
    await client.put(
        f"{ADDRESSES}/{plain['id']}", json={"address_type": "billing"}, headers=account.headers
    )
    assert defaults(admin_sql, account) == {"billing": [ship["id"]]}


async def test_another_users_address_is_404_and_untouched(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    owner = await factory.user()
    intruder = await factory.user()
    address = await add(client, owner, is_default=True)
    url = f"{ADDRESSES}/{address['id']}"
    assert_error(await client.get(url, headers=intruder.headers), 404, "NOT_FOUND")
    assert_error(
        await client.put(url, json={"city": "Stolen"}, headers=intruder.headers), 404, "NOT_FOUND"
    )
    assert_error(await client.delete(url, headers=intruder.headers), 404, "NOT_FOUND")
    # Making one of the intruder's own addresses default does not touch the owner's default.
    await add(client, intruder, is_default=True)
    rows = admin_sql("SELECT city, is_default FROM addresses WHERE id = %s", (address["id"],))
    assert rows == [("Springfield", True)]
    unknown = f"{ADDRESSES}/{uuid.uuid4()}"
    assert_error(await client.get(unknown, headers=owner.headers), 404, "NOT_FOUND")


async def test_address_bad_input_is_400(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    create_cases: list[tuple[dict[str, Any], str]] = [
        (address_body(address_type="home"), "address_type"),
        (address_body(city=""), "city"),
        (address_body(country="U"), "country"),
        (address_body(postal_code=None), "postal_code"),
        (address_body(is_default="sometimes"), "is_default"),
        (address_body(user_id=str(uuid.uuid4())), "user_id"),
        ({k: v for k, v in address_body().items() if k != "street_address"}, "street_address"),
    ]
    for body, field in create_cases:
        response = await client.post(ADDRESSES, json=body, headers=account.headers)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert field in detail_fields(response), (body, response.text)
    assert admin_sql("SELECT count(*) FROM addresses") == [(0,)]

    address = await add(client, account)
    url = f"{ADDRESSES}/{address['id']}"
    for body, field in (
        ({"city": None}, "city"),
        ({"address_type": None}, "address_type"),
        # Found by the API fuzzing: an explicit null here reached the NOT NULL column (500).
        ({"is_default": None}, "is_default"),
        ({"country": "U"}, "country"),
        ({"address_type": "office"}, "address_type"),
        ({"id": str(uuid.uuid4())}, "id"),
    ):
        response = await client.put(url, json=body, headers=account.headers)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(response) == {field}, (body, response.text)
    assert_error(
        await client.get(f"{ADDRESSES}/not-a-uuid", headers=account.headers),
        400,
        "VALIDATION_ERROR",
    )


async def test_addresses_need_a_login(client: httpx.AsyncClient) -> None:
    one = f"{ADDRESSES}/{uuid.uuid4()}"
    for method, path in (
        ("GET", ADDRESSES),
        ("POST", ADDRESSES),
        ("GET", one),
        ("PUT", one),
        ("DELETE", one),
    ):
        body = address_body() if method in ("POST", "PUT") else None
        response = await client.request(method, path, json=body)
        assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_concurrent_make_default_never_leaves_two_defaults(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    current = await add(client, account, is_default=True)
    candidates = [
        (await add(client, account, street_address=f"{n} Oak St"))["id"] for n in range(4)
    ]
    responses = await asyncio.gather(
        *(
            client.put(f"{ADDRESSES}/{a}", json={"is_default": True}, headers=account.headers)
            for a in candidates
        )
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    assert 200 in statuses
    found = defaults(admin_sql, account)
    assert list(found) == ["shipping"]
    [winner] = found["shipping"]
    assert winner != current["id"]
    assert statuses[candidates.index(winner)] == 200


async def test_concurrent_default_creates_never_leave_two_defaults(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    responses = await asyncio.gather(
        *(
            client.post(
                ADDRESSES,
                json=address_body(street_address=f"{n} Birch St", is_default=True),
                headers=account.headers,
            )
            for n in range(4)
        )
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    assert 201 in statuses
    found = defaults(admin_sql, account)
    assert len(found["shipping"]) == 1
