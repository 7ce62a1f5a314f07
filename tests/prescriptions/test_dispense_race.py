"""Never dispensed twice: pharmacies that were all shown (and validated) the same
prescription dispense it at the same moment, with truly concurrent requests against the
real database, and exactly what was prescribed is handed out; concurrent dispensing of
a catalog product never hands out more than the pharmacy holds."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from medhub.config import Settings
from tests.consultations.helpers import Clinic
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

CONCURRENT = 24
REFUSALS = {"INVALID_STATE_TRANSITION", "QUANTITY_EXCEEDS_REMAINING"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # A pooled connection for every request in flight: all of them reach the database.
    return make_settings(DATABASE_POOL_SIZE=CONCURRENT + 6, DATABASE_POOL_TIMEOUT=60)


async def _pharmacies(factory: Factory, pharmacy: Pharmacy, count: int) -> list[Pharmacy]:
    others = [await make_pharmacy(factory, name=f"Pharmacy {n}") for n in range(count - 1)]
    return [pharmacy, *others]


def _codes(responses: list[httpx.Response]) -> set[str]:
    return {response.json()["error"]["code"] for response in responses}


async def test_the_whole_remaining_quantity_is_dispensed_exactly_once(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic, items=[item(quantity=30)])
    item_id = written["items"][0]["id"]
    pharmacies = await _pharmacies(factory, pharmacy, 3)
    for each in pharmacies:
        await scanned_and_validated(client, each.pharmacist, written)

    responses = await asyncio.gather(
        *(
            dispense(
                client,
                pharmacies[n % len(pharmacies)].pharmacist,
                written["id"],
                line(item_id, 30, unit_price="1.00"),
            )
            for n in range(CONCURRENT)
        )
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 1, 409: CONCURRENT - 1}, statuses
    assert _codes([r for r in responses if r.status_code == 409]) <= REFUSALS
    assert dispensed_quantities(admin_sql, written["id"]) == [30]
    assert count_rows(admin_sql, "dispensations", written["id"]) == 1
    [(status, events)] = admin_sql(
        "SELECT p.status, (SELECT count(*) FROM domain_events e"
        "  WHERE e.name = 'prescription.dispensed' AND e.payload->>'prescription_id' = %s)"
        " FROM prescriptions p WHERE p.id = %s",
        [written["id"], written["id"]],
    )
    assert (status, events) == ("dispensed", 1)


async def test_concurrent_partial_dispenses_add_up_to_the_prescribed_quantity(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    # 9 units (3 and two refills), 24 requests for 1 unit each from two pharmacies.
    written = await prescribe(client, clinic, items=[item(quantity=3, refills=2)])
    item_id = written["items"][0]["id"]
    pharmacies = await _pharmacies(factory, pharmacy, 2)
    for each in pharmacies:
        await scanned_and_validated(client, each.pharmacist, written)

    responses = await asyncio.gather(
        *(
            dispense(client, pharmacies[n % 2].pharmacist, written["id"], line(item_id, 1))
            for n in range(CONCURRENT)
        )
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 9, 409: CONCURRENT - 9}, statuses
    assert _codes([r for r in responses if r.status_code == 409]) <= REFUSALS
    assert dispensed_quantities(admin_sql, written["id"]) == [9]
    assert count_rows(admin_sql, "dispensations", written["id"]) == 9
    [(status,)] = admin_sql("SELECT status FROM prescriptions WHERE id = %s", [written["id"]])
    assert status == "dispensed"


async def test_concurrent_dispenses_never_oversell_the_pharmacys_stock(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    # 15 units in two batches; 20 prescriptions of 2 units each, dispensed at once.
    product = await catalog_product(client, factory)
    await receive_stock(client, pharmacy.pharmacist, product["id"], "A", 9, in_days(100))
    await receive_stock(client, pharmacy.pharmacist, product["id"], "B", 6, in_days(200))
    prescriptions: list[dict[str, Any]] = []
    for _ in range(20):
        written = await prescribe(
            client,
            clinic,
            items=[item(medicine_name="Amoxil", product_id=product["id"], quantity=2)],
        )
        await scanned_and_validated(client, pharmacy.pharmacist, written)
        prescriptions.append(written)

    responses = await asyncio.gather(
        *(
            dispense(client, pharmacy.pharmacist, written["id"], line(written["items"][0]["id"], 2))
            for written in prescriptions
        )
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 7, 409: 13}, statuses
    assert _codes([r for r in responses if r.status_code == 409]) == {"INSUFFICIENT_STOCK"}
    assert stock_batches(admin_sql, pharmacy.id, product["id"]) == {"A": 0, "B": 1}
    [(on_hand, taken, dispensations)] = admin_sql(
        "SELECT (SELECT on_hand FROM pharmacy_stock WHERE organization_id = %s"
        "        AND product_id = %s),"
        " (SELECT -sum(quantity) FROM pharmacy_stock_movements WHERE kind = 'dispensed'),"
        " (SELECT count(*) FROM dispensations)",
        [pharmacy.id, product["id"]],
    )
    assert (on_hand, taken, dispensations) == (1, 14, 7)
    dispensed = [dispensed_quantities(admin_sql, written["id"]) for written in prescriptions]
    assert sorted(dispensed) == [[0]] * 13 + [[2]] * 7
