"""Dispensing a catalog product takes it from the pharmacy's stock: first expiry first
out when no batch is named, else from the named batch; never an expired batch; all or
nothing when the stock is short. The stock is received through the pharmacy's
inventory endpoints, as the pharmacy does."""

from __future__ import annotations

from typing import Any

import httpx

from tests.assertions import assert_error
from tests.consultations.helpers import Clinic
from tests.doctors.helpers import data
from tests.factories import Factory
from tests.prescriptions.helpers import (
    AdminSql,
    Pharmacy,
    catalog_product,
    count_rows,
    dispense,
    dispensed_quantities,
    in_days,
    item,
    line,
    make_pharmacy,
    prescribe,
    receive_stock,
    scanned_and_validated,
    stock_batches,
)


async def _stocked(client: httpx.AsyncClient, pharmacy: Pharmacy, product_id: str) -> None:
    """Three batches: LATE (10, a year), SOON (4, a month), MID (5, two months)."""
    for number, days, quantity in (("LATE", 365, 10), ("SOON", 30, 4), ("MID", 60, 5)):
        await receive_stock(
            client, pharmacy.pharmacist, product_id, number, quantity, in_days(days)
        )


async def _prescribed(
    client: httpx.AsyncClient,
    clinic: Clinic,
    pharmacy: Pharmacy,
    product_id: str,
    quantity: int,
    **overrides: Any,
) -> tuple[dict[str, Any], str]:
    """A validated prescription of `quantity` units of the product; it and its item's id."""
    written = await prescribe(
        client,
        clinic,
        items=[item(medicine_name="Amoxil", product_id=product_id, quantity=quantity, **overrides)],
    )
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    return written, written["items"][0]["id"]


def _taken(answer: dict[str, Any]) -> list[tuple[str, int]]:
    return [(entry["batch_number"], entry["quantity"]) for entry in answer["dispensation"]["items"]]


def _movements(admin_sql: AdminSql, dispensation_id: str) -> list[tuple[str, int]]:
    rows = admin_sql(
        "SELECT b.batch_number, m.quantity FROM pharmacy_stock_movements m"
        " JOIN pharmacy_batches b ON b.id = m.batch_id"
        " WHERE m.dispensation_id = %s AND m.kind = 'dispensed' ORDER BY b.expiry_date",
        [dispensation_id],
    )
    return [(str(number), int(quantity)) for number, quantity in rows]


async def test_without_a_batch_the_first_to_expire_goes_first(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    product = await catalog_product(client, factory)
    await _stocked(client, pharmacy, product["id"])
    written, item_id = await _prescribed(client, clinic, pharmacy, product["id"], 12)

    first = data(
        await dispense(client, pharmacy.pharmacist, written["id"], line(item_id, 6, unit_price="2"))
    )
    named = data(
        await dispense(
            client, pharmacy.pharmacist, written["id"], line(item_id, 3, batch_number="LATE")
        )
    )

    assert _taken(first) == [("SOON", 4), ("MID", 2)]
    assert [entry["expiry_date"] for entry in first["dispensation"]["items"]] == [
        in_days(30).isoformat(),
        in_days(60).isoformat(),
    ]
    assert {entry["product_id"] for entry in first["dispensation"]["items"]} == {product["id"]}
    assert first["dispensation"]["total_amount"] == 12.0
    assert first["warnings"] == []
    assert _taken(named) == [("LATE", 3)]
    assert named["prescription"]["items"][0]["remaining_quantity"] == 3
    assert stock_batches(admin_sql, pharmacy.id, product["id"]) == {"SOON": 0, "MID": 3, "LATE": 7}
    # One stock movement per batch touched, pointing at the dispensation.
    assert _movements(admin_sql, first["dispensation"]["id"]) == [("SOON", -4), ("MID", -2)]
    assert _movements(admin_sql, named["dispensation"]["id"]) == [("LATE", -3)]


async def test_an_expired_batch_is_never_taken(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    product = await catalog_product(client, factory)
    await _stocked(client, pharmacy, product["id"])
    admin_sql(
        "UPDATE pharmacy_batches SET expiry_date = current_date - 1 WHERE batch_number = 'SOON'"
    )
    written, item_id = await _prescribed(client, clinic, pharmacy, product["id"], 10)

    named = await dispense(
        client, pharmacy.pharmacist, written["id"], line(item_id, 1, batch_number="SOON")
    )
    fefo = data(await dispense(client, pharmacy.pharmacist, written["id"], line(item_id, 7)))

    assert_error(named, 409, "BATCH_EXPIRED", "batch_number")
    assert _taken(fefo) == [("MID", 5), ("LATE", 2)]
    assert stock_batches(admin_sql, pharmacy.id, product["id"]) == {"SOON": 4, "MID": 0, "LATE": 8}
    assert dispensed_quantities(admin_sql, written["id"]) == [7]


async def test_short_stock_is_409_and_nothing_is_dispensed(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    product = await catalog_product(client, factory)
    unstocked = await catalog_product(client, factory, name="Ventolin")
    await _stocked(client, pharmacy, product["id"])
    # Another pharmacy's stock is no help.
    other = await make_pharmacy(factory, name="Corner Pharmacy")
    await receive_stock(client, other.pharmacist, unstocked["id"], "ELSEWHERE", 50, in_days(90))
    written = await prescribe(
        client,
        clinic,
        items=[
            item(medicine_name="Paracetamol", quantity=10),
            item(medicine_name="Amoxil", product_id=product["id"], quantity=30),
            item(medicine_name="Ventolin", product_id=unstocked["id"], quantity=2),
        ],
    )
    await scanned_and_validated(client, pharmacy.pharmacist, written)
    free_text, amoxil, ventolin = (entry["id"] for entry in written["items"])
    before = stock_batches(admin_sql, pharmacy.id, product["id"])

    # 19 in stock, 20 asked for (after a free-text line that alone would be fine).
    short = await dispense(
        client, pharmacy.pharmacist, written["id"], line(free_text, 5), line(amoxil, 20)
    )
    # A named batch holding too few.
    short_batch = await dispense(
        client, pharmacy.pharmacist, written["id"], line(amoxil, 5, batch_number="SOON")
    )
    none_here = await dispense(client, pharmacy.pharmacist, written["id"], line(ventolin, 1))
    unknown_batch = await dispense(
        client, pharmacy.pharmacist, written["id"], line(amoxil, 1, batch_number="NOPE")
    )

    error = assert_error(short, 409, "INSUFFICIENT_STOCK", "quantity")
    assert error["details"][0]["message"] == "only 19 available"
    assert_error(short_batch, 409, "INSUFFICIENT_STOCK")
    assert_error(none_here, 409, "INSUFFICIENT_STOCK")
    assert_error(unknown_batch, 404, "BATCH_NOT_FOUND", "batch_number")
    assert dispensed_quantities(admin_sql, written["id"]) == [0, 0, 0]
    assert count_rows(admin_sql, "dispensations", written["id"]) == 0
    assert stock_batches(admin_sql, pharmacy.id, product["id"]) == before
    assert stock_batches(admin_sql, other.id, unstocked["id"]) == {"ELSEWHERE": 50}
    [(movements,)] = admin_sql(
        "SELECT count(*) FROM pharmacy_stock_movements WHERE kind = 'dispensed'"
    )
    assert movements == 0
    [(status,)] = admin_sql("SELECT status FROM prescriptions WHERE id = %s", [written["id"]])
    assert status == "validated"


async def test_a_batch_expiring_before_the_treatment_ends_is_warned_about(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
) -> None:
    product = await catalog_product(client, factory)
    await receive_stock(client, pharmacy.pharmacist, product["id"], "BRIEF", 3, in_days(5))
    await receive_stock(client, pharmacy.pharmacist, product["id"], "LASTING", 20, in_days(200))
    written, item_id = await _prescribed(
        client, clinic, pharmacy, product["id"], 10, duration_days=10
    )

    answer = data(await dispense(client, pharmacy.pharmacist, written["id"], line(item_id, 5)))

    assert _taken(answer) == [("BRIEF", 3), ("LASTING", 2)]
    [warning] = answer["warnings"]
    assert warning.startswith(f"Amoxil: the batch expires on {in_days(5).isoformat()}")
    assert "10-day treatment" in warning
