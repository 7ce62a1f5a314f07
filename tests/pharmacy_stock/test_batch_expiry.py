"""PUT /pharmacy/inventory/batches/{batch_id}: a delivered reorder's batch arrives without
an expiry date (orders carry none); the staff record it from the packs, or correct a
recorded one with a reason. Audited with both dates; first-expiry-first-out, the
expired-batch refusal and the low-stock rule follow it. (401 and 403 for every role
outside the pharmacy's staff: `test_inventory`'s access tests list this route too.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from medhub.kit.db import Database
from medhub.pharmacy_stock.exceptions import BatchExpired
from tests import commerce
from tests.assertions import assert_error
from tests.factories import Account, Factory
from tests.pharmacy_stock.conftest import (
    INVENTORY,
    AdminSql,
    Pharmacy,
    deliver,
    in_days,
    low_stock_notifications,
    make_pharmacy,
    receive,
    reorder,
    stocked,
    take,
    today,
)


def url(batch_id: str) -> str:
    return f"{INVENTORY}/batches/{batch_id}"


async def put_expiry(
    client: httpx.AsyncClient, account: Account, batch_id: str, body: object
) -> httpx.Response:
    return await client.put(url(batch_id), json=body, headers=account.headers)


def batch_id_of(item: dict[str, Any], batch_number: str) -> str:
    return str(next(b["id"] for b in item["batches"] if b["batch_number"] == batch_number))


def expiry_audits(admin_sql: AdminSql, pharmacy: Pharmacy) -> list[tuple[Any, ...]]:
    return admin_sql(
        "SELECT user_id, entity_id, metadata FROM activity_logs"
        " WHERE action = 'pharmacy_batch_expiry_set' AND organization_id = %s ORDER BY seq",
        [pharmacy.id],
    )


def expiry_of(admin_sql: AdminSql, batch_id: str) -> Any:
    [(expiry,)] = admin_sql("SELECT expiry_date FROM pharmacy_batches WHERE id = %s", [batch_id])
    return expiry


def movement_count(admin_sql: AdminSql, pharmacy: Pharmacy) -> int:
    [(count,)] = admin_sql(
        "SELECT count(*) FROM pharmacy_stock_movements WHERE organization_id = %s", [pharmacy.id]
    )
    return int(count)


async def test_a_delivered_batch_gets_its_expiry_and_stock_follows_it(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    product = await commerce.product(client, supplier.admin, name="Amoxil 500mg", price="12.50")
    await stocked(client, pharmacy.pharmacist, product["id"], "SHELF", 5)  # expires in 365 days
    address_id = await commerce.address(client, pharmacy.pharmacist)
    placed = (await reorder(client, pharmacy, address_id, [(product["id"], 10)])).json()["data"]
    delivered = await deliver(client, supplier, placed["order_id"])
    assert delivered.status_code == 200, delivered.text
    restocked = f"{placed['order_number']}-1"
    item = (await client.get(f"{INVENTORY}/{product['id']}", headers=pharmacy.admin.headers)).json()
    batch_id = batch_id_of(item["data"], restocked)
    # Without a date the delivered batch is taken after every dated one.
    assert [b["batch_number"] for b in item["data"]["batches"]] == ["SHELF", restocked]
    movements_before = movement_count(admin_sql, pharmacy)

    response = await put_expiry(client, pharmacy.pharmacist, batch_id, {"expiry_date": in_days(30)})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Batch expiry set"
    data = body["data"]
    assert data["previous_expiry_date"] is None
    assert (data["batch"]["id"], data["batch"]["batch_number"]) == (batch_id, restocked)
    assert (data["batch"]["expiry_date"], data["batch"]["expired"]) == (in_days(30), False)
    assert [b["batch_number"] for b in data["item"]["batches"]] == [restocked, "SHELF"]
    assert data["item"]["next_expiry"] == in_days(30)
    assert str(expiry_of(admin_sql, batch_id)) == in_days(30)
    # An attribute of the lot, not a change of units: an audit row, no movement.
    assert movement_count(admin_sql, pharmacy) == movements_before
    assert expiry_audits(admin_sql, pharmacy) == [
        (
            pharmacy.pharmacist.id,
            uuid.UUID(product["id"]),
            {
                "batch_id": batch_id,
                "batch_number": restocked,
                "from": None,
                "to": in_days(30),
            },
        )
    ]

    # First-expiry-first-out now takes the delivered batch first...
    [taken] = await take(database, pharmacy, product["id"], 3)
    assert (taken.batch_number, taken.quantity) == (restocked, 3)
    assert str(taken.expiry_date) == in_days(30)
    # ...and more of the same lot can be received with its date (409 before: no date).
    again = await receive(
        client, pharmacy.pharmacist, product["id"], restocked, 4, expiry_date=in_days(30)
    )
    assert again.status_code == 201, again.text

    # A correction (with its reason) to a date already past: the packs on the shelf are
    # expired at once, refused by name and skipped by first-expiry-first-out.
    yesterday = in_days(-1)
    corrected = await put_expiry(
        client,
        pharmacy.admin,
        batch_id,
        {"expiry_date": yesterday, "reason": "Misread the date on the packs"},
    )
    assert corrected.status_code == 200, corrected.text
    data = corrected.json()["data"]
    assert data["previous_expiry_date"] == in_days(30)
    assert (data["batch"]["expiry_date"], data["batch"]["expired"]) == (yesterday, True)
    assert (data["item"]["on_hand"], data["item"]["available"]) == (16, 5)
    assert data["item"]["expired_quantity"] == 11
    with pytest.raises(BatchExpired):
        await take(database, pharmacy, product["id"], 1, batch_number=restocked)
    [from_shelf] = await take(database, pharmacy, product["id"], 2)
    assert from_shelf.batch_number == "SHELF"
    audits = expiry_audits(admin_sql, pharmacy)
    assert [row[0] for row in audits] == [pharmacy.pharmacist.id, pharmacy.admin.id]
    assert audits[1][2] == {
        "batch_id": batch_id,
        "batch_number": restocked,
        "from": in_days(30),
        "to": yesterday,
        "reason": "Misread the date on the packs",
    }


async def test_setting_the_recorded_date_again_changes_nothing(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    item = await stocked(client, pharmacy.pharmacist, product["id"], "SAME", 5)
    batch_id = batch_id_of(item["item"], "SAME")

    response = await put_expiry(client, pharmacy.admin, batch_id, {"expiry_date": in_days(365)})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["previous_expiry_date"] == in_days(365)
    assert expiry_audits(admin_sql, pharmacy) == []


async def test_bad_input_is_refused_with_details_and_changes_nothing(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    dated = await stocked(client, pharmacy.pharmacist, product["id"], "DATED", 5)
    batch_id = batch_id_of(dated["item"], "DATED")
    who = pharmacy.pharmacist

    cases: list[tuple[object, str]] = [
        ({"expiry_date": "next month"}, "expiry_date"),
        ({"expiry_date": "2027-13-01"}, "expiry_date"),
        ({"expiry_date": 20270101}, "expiry_date"),
        ({"expiry_date": "3000-01-01"}, "expiry_date"),
        ({"expiry_date": None}, "expiry_date"),
        ({}, "expiry_date"),
        ({"expiry_date": in_days(30), "reason": ""}, "reason"),
        ({"expiry_date": in_days(30), "quantity": 3}, "quantity"),
        # A recorded date is changed only with a reason.
        ({"expiry_date": in_days(30)}, "reason"),
    ]
    for body, field in cases:
        response = await put_expiry(client, who, batch_id, body)
        error = assert_error(response, 400, "VALIDATION_ERROR", field)
        assert error["details"], body
    not_an_id = await put_expiry(client, who, "not-a-uuid", {"expiry_date": in_days(30)})
    assert_error(not_an_id, 400, "VALIDATION_ERROR", "batch_id")

    assert str(expiry_of(admin_sql, batch_id)) == in_days(365)
    assert expiry_audits(admin_sql, pharmacy) == []


async def test_another_pharmacys_batch_is_404_and_untouched(
    client: httpx.AsyncClient,
    factory: Factory,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    other = await make_pharmacy(factory)
    theirs = await stocked(client, other.pharmacist, product["id"], "THEIRS", 5)
    their_batch = batch_id_of(theirs["item"], "THEIRS")
    body = {"expiry_date": in_days(10), "reason": "Recount"}

    for account in (pharmacy.pharmacist, pharmacy.admin):
        response = await put_expiry(client, account, their_batch, body)
        assert_error(response, 404, "BATCH_NOT_FOUND", "batch_id")
    unknown = await put_expiry(client, pharmacy.pharmacist, str(uuid.uuid4()), body)
    assert_error(unknown, 404, "BATCH_NOT_FOUND", "batch_id")

    assert str(expiry_of(admin_sql, their_batch)) == in_days(365)
    assert expiry_audits(admin_sql, other) == []
    assert expiry_audits(admin_sql, pharmacy) == []


async def test_a_used_up_batch_keeps_its_date_409(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    item = await stocked(client, pharmacy.pharmacist, product["id"], "GONE", 3)
    batch_id = batch_id_of(item["item"], "GONE")
    emptied = await client.post(
        f"{INVENTORY}/adjust",
        json={"product_id": product["id"], "batch_number": "GONE", "quantity": -3, "reason": "x"},
        headers=pharmacy.pharmacist.headers,
    )
    assert emptied.status_code == 200, emptied.text

    response = await put_expiry(
        client, pharmacy.pharmacist, batch_id, {"expiry_date": in_days(20), "reason": "Recount"}
    )

    assert_error(response, 409, "BATCH_USED_UP")
    assert str(expiry_of(admin_sql, batch_id)) == in_days(365)
    assert expiry_audits(admin_sql, pharmacy) == []


async def test_an_expiry_that_empties_the_usable_stock_alerts_once(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    who = pharmacy.pharmacist
    item = await stocked(client, who, product["id"], "ONLY", 10)
    batch_id = batch_id_of(item["item"], "ONLY")
    point = await client.put(
        f"{INVENTORY}/{product['id']}", json={"reorder_point": 5}, headers=who.headers
    )
    assert point.json()["data"]["low_stock"] is False
    staff = (pharmacy.admin.id, pharmacy.pharmacist.id)

    expired = await put_expiry(
        client, who, batch_id, {"expiry_date": today().isoformat(), "reason": "Expires today"}
    )

    assert expired.status_code == 200, expired.text
    item = expired.json()["data"]["item"]
    # Ten on the shelf, none usable: low, though on-hand is above the reorder point.
    assert (item["on_hand"], item["available"], item["expired_quantity"]) == (10, 0, 10)
    assert item["low_stock"] is True
    assert [low_stock_notifications(admin_sql, user_id) for user_id in staff] == [1, 1]
    [(body, data)] = admin_sql(
        "SELECT body, data FROM notifications WHERE user_id = %s AND category = 'stock'",
        [pharmacy.admin.id],
    )
    assert "0 usable: 10 on hand, 10 of them expired" in body
    assert (data["on_hand"], data["available"], data["expired_quantity"]) == (10, 0, 10)
    # Correcting it once more (still expired) is no new crossing.
    again = await put_expiry(
        client, who, batch_id, {"expiry_date": in_days(-3), "reason": "Checked again"}
    )
    assert again.status_code == 200, again.text
    assert [low_stock_notifications(admin_sql, user_id) for user_id in staff] == [1, 1]
