"""The pharmacy's stock endpoints: receiving into batches, adjusting, the reorder
point, the inventory list with its filters and the movement log; who may use them and
whose rows they show."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests import commerce
from tests.assertions import assert_error
from tests.factories import Factory
from tests.pharmacy_stock.conftest import (
    INVENTORY,
    AdminSql,
    Pharmacy,
    batches,
    in_days,
    make_pharmacy,
    on_hand,
    receive,
    stocked,
    today,
)

# --- receiving -------------------------------------------------------------------------------


async def test_receiving_creates_a_batch_and_again_adds_to_it(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    expiry = in_days(200)
    first = await receive(
        client, pharmacy.pharmacist, product["id"], "LOT-A", 40, expiry_date=expiry
    )
    again = await receive(client, pharmacy.admin, product["id"], "LOT-A", 10, expiry_date=expiry)

    assert first.status_code == 201, first.text
    data = first.json()["data"]
    assert data["movement"]["kind"] == "received"
    assert (data["movement"]["quantity"], data["movement"]["quantity_after"]) == (40, 40)
    assert data["movement"]["batch_number"] == "LOT-A"
    item = data["item"]
    assert (item["product_id"], item["product_name"]) == (product["id"], "Amoxil 500mg")
    assert (item["on_hand"], item["available"], item["reorder_point"]) == (40, 40, 0)
    assert item["low_stock"] is False
    assert item["next_expiry"] == expiry
    [batch] = item["batches"]
    assert batch["batch_number"] == "LOT-A"
    assert (batch["received_quantity"], batch["remaining_quantity"]) == (40, 40)
    assert (batch["unit_cost"], batch["currency"], batch["expired"]) == (2.4, "USD", False)

    assert again.status_code == 201, again.text
    [batch] = again.json()["data"]["item"]["batches"]
    assert (batch["received_quantity"], batch["remaining_quantity"]) == (50, 50)
    assert on_hand(admin_sql, pharmacy, product["id"]) == 50
    one = await client.get(f"{INVENTORY}/{product['id']}", headers=pharmacy.admin.headers)
    assert one.status_code == 200, one.text
    assert one.json()["data"] == again.json()["data"]["item"]
    [(logged,)] = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'pharmacy_stock_received'"
        " AND organization_id = %s",
        [pharmacy.id],
    )
    assert logged == 2


async def test_a_product_without_expiry_is_received_with_null(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any]
) -> None:
    response = await client.post(
        f"{INVENTORY}/receive",
        json={
            "product_id": product["id"],
            "batch_number": "NOEXP-1",
            "expiry_date": None,
            "quantity": 5,
        },
        headers=pharmacy.pharmacist.headers,
    )

    assert response.status_code == 201, response.text
    [batch] = response.json()["data"]["item"]["batches"]
    assert (batch["expiry_date"], batch["unit_cost"], batch["expired"]) == (None, None, False)


async def test_receiving_refuses_bad_input_with_details(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any]
) -> None:
    url = f"{INVENTORY}/receive"
    headers = pharmacy.pharmacist.headers
    base = {"product_id": product["id"], "batch_number": "L1", "expiry_date": in_days(30)}

    zero = await client.post(url, json={**base, "quantity": 0}, headers=headers)
    no_expiry_key = await client.post(
        url,
        json={"product_id": product["id"], "batch_number": "L1", "quantity": 1},
        headers=headers,
    )
    bad_date = await client.post(
        url, json={**base, "expiry_date": "next year", "quantity": 1}, headers=headers
    )
    negative_cost = await client.post(
        url, json={**base, "quantity": 1, "unit_cost": "-1"}, headers=headers
    )
    empty_batch = await client.post(
        url, json={**base, "batch_number": " ", "quantity": 1}, headers=headers
    )
    unknown_product = await client.post(
        url, json={**base, "product_id": str(uuid.uuid4()), "quantity": 1}, headers=headers
    )
    extra = await client.post(url, json={**base, "quantity": 1, "price": 3}, headers=headers)

    assert_error(zero, 400, "VALIDATION_ERROR", "quantity")
    assert_error(no_expiry_key, 400, "VALIDATION_ERROR", "expiry_date")
    assert_error(bad_date, 400, "VALIDATION_ERROR", "expiry_date")
    assert_error(negative_cost, 400, "VALIDATION_ERROR", "unit_cost")
    assert_error(empty_batch, 400, "VALIDATION_ERROR", "batch_number")
    assert_error(unknown_product, 400, "VALIDATION_ERROR", "product_id")
    assert_error(extra, 400, "VALIDATION_ERROR", "price")


async def test_an_expired_batch_or_another_expiry_is_refused(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    expired_today = await receive(
        client, pharmacy.pharmacist, product["id"], "OLD", 5, expiry_date=today().isoformat()
    )
    await stocked(client, pharmacy.pharmacist, product["id"], "LOT-B", 5)
    other_expiry = await receive(
        client, pharmacy.pharmacist, product["id"], "LOT-B", 5, expiry_date=in_days(10)
    )

    assert_error(expired_today, 409, "BATCH_EXPIRED", "expiry_date")
    error = assert_error(other_expiry, 409, "BATCH_EXPIRY_MISMATCH", "expiry_date")
    assert in_days(365) in error["message"]
    assert batches(admin_sql, pharmacy, product["id"]) == {"LOT-B": 5}


# --- adjusting -------------------------------------------------------------------------------


async def test_adjusting_a_batch_both_ways_never_below_zero(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    await stocked(client, pharmacy.pharmacist, product["id"], "LOT-C", 10)
    url = f"{INVENTORY}/adjust"

    def body(quantity: int, batch: str = "LOT-C") -> dict[str, Any]:
        return {
            "product_id": product["id"],
            "batch_number": batch,
            "quantity": quantity,
            "reason": "Counted",
        }

    down = await client.post(url, json=body(-4), headers=pharmacy.pharmacist.headers)
    up = await client.post(url, json=body(1), headers=pharmacy.admin.headers)
    too_much = await client.post(url, json=body(-8), headers=pharmacy.pharmacist.headers)
    zero = await client.post(url, json=body(0), headers=pharmacy.pharmacist.headers)
    no_reason = await client.post(
        url,
        json={**body(-1), "reason": ""},
        headers=pharmacy.pharmacist.headers,
    )
    unknown = await client.post(url, json=body(-1, "NOPE"), headers=pharmacy.pharmacist.headers)

    assert down.status_code == 200, down.text
    movement = down.json()["data"]["movement"]
    assert (movement["kind"], movement["quantity"], movement["quantity_after"]) == (
        "adjusted",
        -4,
        6,
    )
    assert movement["reason"] == "Counted"
    assert movement["actor_id"] == str(pharmacy.pharmacist.id)
    assert up.json()["data"]["item"]["on_hand"] == 7
    error = assert_error(too_much, 409, "INSUFFICIENT_STOCK", "quantity")
    assert "7" in error["message"]
    assert_error(zero, 400, "VALIDATION_ERROR", "quantity")
    assert_error(no_reason, 400, "VALIDATION_ERROR", "reason")
    assert_error(unknown, 404, "BATCH_NOT_FOUND", "batch_number")
    assert batches(admin_sql, pharmacy, product["id"]) == {"LOT-C": 7}
    assert on_hand(admin_sql, pharmacy, product["id"]) == 7


# --- reorder point and low-stock flag ---------------------------------------------------------


async def test_the_reorder_point_sets_the_low_stock_flag(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any]
) -> None:
    await stocked(client, pharmacy.pharmacist, product["id"], "LOT-D", 10)
    url = f"{INVENTORY}/{product['id']}"

    set_low = await client.put(url, json={"reorder_point": 10}, headers=pharmacy.admin.headers)
    set_high = await client.put(url, json={"reorder_point": 9}, headers=pharmacy.pharmacist.headers)
    negative = await client.put(url, json={"reorder_point": -1}, headers=pharmacy.admin.headers)
    missing = await client.put(url, json={}, headers=pharmacy.admin.headers)
    not_in_catalog = await client.put(
        f"{INVENTORY}/{uuid.uuid4()}", json={"reorder_point": 1}, headers=pharmacy.admin.headers
    )

    assert set_low.status_code == 200, set_low.text
    assert (set_low.json()["data"]["reorder_point"], set_low.json()["data"]["low_stock"]) == (
        10,
        True,
    )
    assert set_high.json()["data"]["low_stock"] is False
    assert_error(negative, 400, "VALIDATION_ERROR", "reorder_point")
    assert_error(missing, 400, "VALIDATION_ERROR", "reorder_point")
    assert_error(not_in_catalog, 404, "NOT_FOUND")


async def test_setting_the_same_reorder_point_again_changes_nothing(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any], admin_sql: AdminSql
) -> None:
    url = f"{INVENTORY}/{product['id']}"
    for _ in range(3):
        response = await client.put(url, json={"reorder_point": 7}, headers=pharmacy.admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["reorder_point"] == 7

    [(audited,)] = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'pharmacy_reorder_point_set'"
        " AND entity_id = %s",
        [product["id"]],
    )
    assert audited == 1


async def test_a_reorder_point_may_be_set_before_the_first_delivery(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any]
) -> None:
    response = await client.put(
        f"{INVENTORY}/{product['id']}", json={"reorder_point": 5}, headers=pharmacy.admin.headers
    )

    assert response.status_code == 200, response.text
    item = response.json()["data"]
    assert (item["on_hand"], item["reorder_point"], item["low_stock"], item["batches"]) == (
        0,
        5,
        True,
        [],
    )


# --- the inventory list ----------------------------------------------------------------------


async def test_the_inventory_lists_filters_sorts_and_pages(
    client: httpx.AsyncClient,
    pharmacy: Pharmacy,
    supplier: commerce.Supplier,
) -> None:
    amoxil = await commerce.product(client, supplier.admin, name="Amoxil 500mg")
    cardio = await commerce.product(client, supplier.admin, name="Cardiomax 50mg")
    zinc = await commerce.product(client, supplier.admin, name="Zinc 10mg")
    who = pharmacy.pharmacist
    await receive(client, who, amoxil["id"], "A1", 30, expiry_date=in_days(20))
    await receive(client, who, amoxil["id"], "A2", 5, expiry_date=in_days(300))
    await receive(client, who, cardio["id"], "C1", 100, expiry_date=in_days(400))
    await receive(client, who, zinc["id"], "Z1", 3, expiry_date=in_days(90))
    await client.put(f"{INVENTORY}/{zinc['id']}", json={"reorder_point": 10}, headers=who.headers)

    async def names(**params: Any) -> list[str]:
        response = await client.get(INVENTORY, params=params, headers=who.headers)
        assert response.status_code == 200, response.text
        return [item["product_name"] for item in response.json()["data"]["inventory"]]

    everything = await client.get(INVENTORY, headers=who.headers)
    data = everything.json()["data"]
    assert [i["product_name"] for i in data["inventory"]] == [
        "Amoxil 500mg",
        "Cardiomax 50mg",
        "Zinc 10mg",
    ]
    assert data["pagination"] == {"page": 1, "limit": 20, "total": 3, "total_pages": 1}
    amoxil_item = data["inventory"][0]
    assert amoxil_item["on_hand"] == 35
    assert [b["batch_number"] for b in amoxil_item["batches"]] == ["A1", "A2"], "FEFO order"
    assert amoxil_item["next_expiry"] == in_days(20)

    assert await names(search="cardio") == ["Cardiomax 50mg"]
    assert await names(search="%") == []
    assert await names(low_stock="true") == ["Zinc 10mg"]
    assert await names(low_stock="false") == ["Amoxil 500mg", "Cardiomax 50mg"]
    assert await names(expiring_within_days=30) == ["Amoxil 500mg"]
    assert await names(expiring_within_days=100) == ["Amoxil 500mg", "Zinc 10mg"]
    assert await names(sort="on_hand", order="desc") == [
        "Cardiomax 50mg",
        "Amoxil 500mg",
        "Zinc 10mg",
    ]
    assert await names(sort="next_expiry") == ["Amoxil 500mg", "Zinc 10mg", "Cardiomax 50mg"]
    assert await names(limit=2, page=2) == ["Zinc 10mg"]

    bad_sort = await client.get(INVENTORY, params={"sort": "price"}, headers=who.headers)
    bad_days = await client.get(INVENTORY, params={"expiring_within_days": -1}, headers=who.headers)
    bad_limit = await client.get(INVENTORY, params={"limit": 101}, headers=who.headers)
    assert_error(bad_sort, 400, "VALIDATION_ERROR", "sort")
    assert_error(bad_days, 400, "VALIDATION_ERROR", "expiring_within_days")
    assert_error(bad_limit, 400, "VALIDATION_ERROR", "limit")


async def test_movements_list_every_change_newest_first(
    client: httpx.AsyncClient, pharmacy: Pharmacy, product: dict[str, Any]
) -> None:
    who = pharmacy.pharmacist
    await stocked(client, who, product["id"], "M1", 10)
    await client.post(
        f"{INVENTORY}/adjust",
        json={
            "product_id": product["id"],
            "batch_number": "M1",
            "quantity": -2,
            "reason": "Broken",
        },
        headers=who.headers,
    )
    url = f"{INVENTORY}/{product['id']}/movements"

    listed = await client.get(url, headers=who.headers)
    received_only = await client.get(url, params={"kind": "received"}, headers=who.headers)
    bad_kind = await client.get(url, params={"kind": "stolen"}, headers=who.headers)
    never_stocked = await client.get(f"{INVENTORY}/{uuid.uuid4()}/movements", headers=who.headers)

    assert listed.status_code == 200, listed.text
    data = listed.json()["data"]
    assert [(m["kind"], m["quantity"], m["quantity_after"]) for m in data["stock_movements"]] == [
        ("adjusted", -2, 8),
        ("received", 10, 10),
    ]
    assert data["stock_movements"][0]["reason"] == "Broken"
    assert data["pagination"]["total"] == 2
    assert [m["kind"] for m in received_only.json()["data"]["stock_movements"]] == ["received"]
    assert_error(bad_kind, 400, "VALIDATION_ERROR", "kind")
    assert_error(never_stocked, 404, "NOT_FOUND")


# --- who may, and whose rows -----------------------------------------------------------------


def _calls(product_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", INVENTORY, None),
        (
            "POST",
            f"{INVENTORY}/receive",
            {
                "product_id": product_id,
                "batch_number": "X",
                "expiry_date": in_days(30),
                "quantity": 1,
            },
        ),
        (
            "POST",
            f"{INVENTORY}/adjust",
            {"product_id": product_id, "batch_number": "X", "quantity": 1, "reason": "r"},
        ),
        ("PUT", f"{INVENTORY}/{product_id}", {"reorder_point": 1}),
        ("PUT", f"{INVENTORY}/batches/{uuid.uuid4()}", {"expiry_date": in_days(30)}),
        ("GET", f"{INVENTORY}/{product_id}", None),
        ("GET", f"{INVENTORY}/{product_id}/movements", None),
        (
            "POST",
            f"{INVENTORY}/reorder",
            {
                "items": [{"product_id": product_id, "quantity": 1}],
                "shipping_address_id": product_id,
            },
        ),
    ]


async def test_anonymous_callers_are_refused(
    client: httpx.AsyncClient, product: dict[str, Any]
) -> None:
    for method, url, body in _calls(product["id"]):
        response = await client.request(method, url, json=body)
        assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_other_roles_and_supplier_admins_are_refused(
    client: httpx.AsyncClient,
    factory: Factory,
    supplier: commerce.Supplier,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    clinic = await factory.organization("clinic")
    doctor = await factory.user("doctor", organization_id=clinic.id)
    customer = await factory.user("customer")
    patient = await factory.user("patient")
    for account in (doctor, customer, patient, supplier.admin, supplier.sales):
        for method, url, body in _calls(product["id"]):
            response = await client.request(method, url, json=body, headers=account.headers)
            assert_error(response, 403, "AUTHORIZATION_ERROR")
    [(rows,)] = admin_sql("SELECT count(*) FROM pharmacy_stock")
    assert rows == 0


async def test_hospitals_and_clinics_keep_stock_too(
    client: httpx.AsyncClient, factory: Factory, product: dict[str, Any]
) -> None:
    for kind in ("hospital", "clinic"):
        holder = await make_pharmacy(factory, kind)
        by_admin = await receive(client, holder.admin, product["id"], f"{kind}-1", 2)
        by_pharmacist = await receive(client, holder.pharmacist, product["id"], f"{kind}-1", 2)
        assert by_admin.status_code == 201, by_admin.text
        assert by_pharmacist.json()["data"]["item"]["on_hand"] == 4


async def test_another_pharmacys_stock_is_invisible(
    client: httpx.AsyncClient,
    factory: Factory,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    other = await make_pharmacy(factory)
    await stocked(client, other.pharmacist, product["id"], "THEIRS", 20)

    listed = await client.get(INVENTORY, headers=pharmacy.pharmacist.headers)
    one = await client.get(f"{INVENTORY}/{product['id']}", headers=pharmacy.pharmacist.headers)
    movements = await client.get(
        f"{INVENTORY}/{product['id']}/movements", headers=pharmacy.pharmacist.headers
    )
    adjust = await client.post(
        f"{INVENTORY}/adjust",
        json={"product_id": product["id"], "batch_number": "THEIRS", "quantity": -5, "reason": "x"},
        headers=pharmacy.pharmacist.headers,
    )
    # Receiving the same batch number is a batch of one's own.
    mine = await receive(client, pharmacy.pharmacist, product["id"], "THEIRS", 1)

    assert listed.json()["data"]["inventory"] == []
    assert_error(one, 404, "NOT_FOUND")
    assert_error(movements, 404, "NOT_FOUND")
    assert_error(adjust, 404, "BATCH_NOT_FOUND")
    assert mine.json()["data"]["item"]["on_hand"] == 1
    assert batches(admin_sql, other, product["id"]) == {"THEIRS": 20}
    assert on_hand(admin_sql, other, product["id"]) == 20
