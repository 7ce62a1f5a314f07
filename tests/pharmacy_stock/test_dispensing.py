"""`take_for_dispensing`, the use case the dispensing domain calls: first-expiry-first-out
across batches, never an expired batch, a named batch, all or nothing, the movement
per batch, and the low-stock alert once per crossing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from medhub.kit.db import Database
from medhub.kit.errors import ValidationFailed
from medhub.kit.tenancy import set_tenant_context
from medhub.pharmacy_stock import service
from medhub.pharmacy_stock.exceptions import (
    BatchExpired,
    BatchNotFound,
    InsufficientStock,
    NotAStockHolder,
)
from tests import commerce
from tests.factories import Factory
from tests.pharmacy_stock.conftest import (
    INVENTORY,
    AdminSql,
    Pharmacy,
    batches,
    in_days,
    low_stock_notifications,
    make_pharmacy,
    on_hand,
    receive,
    take,
    today,
)


async def _three_batches(client: httpx.AsyncClient, pharmacy: Pharmacy, product_id: str) -> None:
    who = pharmacy.pharmacist
    for number, days, quantity in (("LATE", 300, 10), ("SOON", 10, 4), ("MID", 60, 5)):
        response = await receive(
            client, who, product_id, number, quantity, expiry_date=in_days(days)
        )
        assert response.status_code == 201, response.text


async def test_takes_first_expiry_first_out_across_batches(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    await _three_batches(client, pharmacy, product["id"])
    dispensation_id = uuid.uuid4()

    taken = await take(database, pharmacy, product["id"], 7, dispensation_id=dispensation_id)

    assert [(t.batch_number, t.quantity) for t in taken] == [("SOON", 4), ("MID", 3)]
    assert taken[0].expiry_date == today() + timedelta(days=10)
    assert taken[0].unit_cost == Decimal("2.40")
    assert batches(admin_sql, pharmacy, product["id"]) == {"SOON": 0, "MID": 2, "LATE": 10}
    assert on_hand(admin_sql, pharmacy, product["id"]) == 12
    movements = admin_sql(
        "SELECT b.batch_number, m.kind, m.quantity, m.quantity_after, m.actor_id"
        " FROM pharmacy_stock_movements m JOIN pharmacy_batches b ON b.id = m.batch_id"
        " WHERE m.dispensation_id = %s ORDER BY m.quantity_after DESC",
        [dispensation_id],
    )
    assert movements == [
        ("SOON", "dispensed", -4, 15, pharmacy.pharmacist.id),
        ("MID", "dispensed", -3, 12, pharmacy.pharmacist.id),
    ]


async def test_an_expired_batch_is_skipped_and_never_taken(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    await _three_batches(client, pharmacy, product["id"])
    # Eleven days from now SOON (expiring in 10) is past its date: MID and LATE remain.
    later = today() + timedelta(days=11)

    taken = await take(database, pharmacy, product["id"], 6, on=later)
    with pytest.raises(InsufficientStock) as short:
        await take(database, pharmacy, product["id"], 10, on=later)

    assert [(t.batch_number, t.quantity) for t in taken] == [("MID", 5), ("LATE", 1)]
    assert short.value.details[0].message == "only 9 available"
    assert batches(admin_sql, pharmacy, product["id"]) == {"SOON": 4, "MID": 0, "LATE": 9}
    # A batch is not handed out on its expiry date itself.
    on_expiry = today() + timedelta(days=10)
    [taken_then] = await take(database, pharmacy, product["id"], 1, on=on_expiry)
    assert taken_then.batch_number == "LATE"


async def test_a_named_batch_is_taken_from_or_refused(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    await _three_batches(client, pharmacy, product["id"])
    later = today() + timedelta(days=30)

    [named] = await take(database, pharmacy, product["id"], 2, batch_number="LATE")
    with pytest.raises(BatchExpired) as expired:
        await take(database, pharmacy, product["id"], 1, batch_number="SOON", on=later)
    with pytest.raises(BatchNotFound) as unknown:
        await take(database, pharmacy, product["id"], 1, batch_number="NOPE")
    with pytest.raises(InsufficientStock):
        await take(database, pharmacy, product["id"], 5, batch_number="SOON")

    assert (named.batch_number, named.quantity) == ("LATE", 2)
    assert (expired.value.status_code, expired.value.code) == (409, "BATCH_EXPIRED")
    assert (unknown.value.status_code, unknown.value.code) == (404, "BATCH_NOT_FOUND")
    assert batches(admin_sql, pharmacy, product["id"]) == {"SOON": 4, "MID": 5, "LATE": 8}


async def test_not_enough_takes_nothing(  # noqa: PLR0917
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    await _three_batches(client, pharmacy, product["id"])
    never_stocked = await commerce.product(client, supplier.admin, name="Never stocked")

    with pytest.raises(InsufficientStock) as short:
        await take(database, pharmacy, product["id"], 20)
    with pytest.raises(InsufficientStock):
        await take(database, pharmacy, never_stocked["id"], 1)
    with pytest.raises(BatchNotFound):
        await take(database, pharmacy, never_stocked["id"], 1, batch_number="SOON")
    with pytest.raises(ValidationFailed):
        await take(database, pharmacy, product["id"], 0)

    assert (short.value.status_code, short.value.code) == (409, "INSUFFICIENT_STOCK")
    assert batches(admin_sql, pharmacy, product["id"]) == {"SOON": 4, "MID": 5, "LATE": 10}
    [(dispensed,)] = admin_sql(
        "SELECT count(*) FROM pharmacy_stock_movements WHERE kind = 'dispensed'"
    )
    assert dispensed == 0


async def test_takes_only_from_the_callers_organization(  # noqa: PLR0917
    client: httpx.AsyncClient,
    database: Database,
    factory: Factory,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    supplier: commerce.Supplier,
    admin_sql: AdminSql,
) -> None:
    await _three_batches(client, pharmacy, product["id"])
    other = await make_pharmacy(factory)
    supplier_admin = Pharmacy(supplier.id, supplier.admin, supplier.admin)

    with pytest.raises(InsufficientStock):
        await take(database, other, product["id"], 1)
    with pytest.raises(NotAStockHolder):
        await take(database, supplier_admin, product["id"], 1)

    assert on_hand(admin_sql, pharmacy, product["id"]) == 19


async def test_stock_of_counts_what_can_be_dispensed(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    await _three_batches(client, pharmacy, product["id"])
    admin_sql(
        "UPDATE pharmacy_batches SET expiry_date = current_date - 1 WHERE batch_number = 'SOON'"
    )
    principal = pharmacy.principal()
    async with database.unit_of_work() as session:
        await set_tenant_context(
            session, user_id=principal.user_id, organization_id=pharmacy.id, role="pharmacist"
        )
        usable = await service.stock_of(session, principal, uuid.UUID(product["id"]))
        unknown = await service.stock_of(session, principal, uuid.uuid4())

    assert (usable, unknown) == (15, 0)
    assert on_hand(admin_sql, pharmacy, product["id"]) == 19


async def test_low_stock_alerts_once_per_crossing(
    client: httpx.AsyncClient,
    database: Database,
    pharmacy: Pharmacy,
    product: dict[str, Any],
    admin_sql: AdminSql,
) -> None:
    who = pharmacy.pharmacist
    response = await receive(client, who, product["id"], "LOW-1", 20)
    assert response.status_code == 201
    await client.put(f"{INVENTORY}/{product['id']}", json={"reorder_point": 5}, headers=who.headers)
    staff = (pharmacy.admin.id, pharmacy.pharmacist.id)

    def alerts() -> list[int]:
        return [low_stock_notifications(admin_sql, user_id) for user_id in staff]

    await take(database, pharmacy, product["id"], 14)  # 6 left: above the point
    assert alerts() == [0, 0]
    await take(database, pharmacy, product["id"], 1)  # 5: at the point, the crossing
    assert alerts() == [1, 1]
    await take(database, pharmacy, product["id"], 2)  # 3: still below, no second alert
    assert alerts() == [1, 1]
    await receive(client, who, product["id"], "LOW-1", 10)  # 13: above again, re-armed
    assert alerts() == [1, 1]
    await take(database, pharmacy, product["id"], 9)  # 4: a new crossing
    assert alerts() == [2, 2]

    [(title, body, data)] = admin_sql(
        "SELECT title, body, data FROM notifications WHERE user_id = %s AND category = 'stock'"
        " ORDER BY seq DESC LIMIT 1",
        [pharmacy.admin.id],
    )
    assert title == "Low stock: Amoxil 500mg"
    assert "4 on hand" in body
    assert (data["product_id"], data["on_hand"], data["reorder_point"]) == (product["id"], 4, 5)
