"""`GET /api/v1/pharmacy/history`: a pharmacy's own dispensations and rejections, newest
first, filtered by outcome (`status`) and days (`from`/`to`), paged, with totals over
everything that matches; for the pharmacy's pharmacists and admins only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import commerce
from tests.assertions import assert_error
from tests.consultations.helpers import Clinic
from tests.doctors.helpers import data
from tests.factories import Account, Factory
from tests.prescriptions.helpers import (
    HISTORY,
    AdminSql,
    Pharmacy,
    dispense,
    in_days,
    item,
    line,
    make_pharmacy,
    prescribe,
    reject_url,
    scan,
    scanned_and_validated,
)


@dataclass
class World:
    pharmacy: Pharmacy
    other: Pharmacy
    # Pharmacy's acts, oldest first: a dispensation moved back ten days, a second
    # dispensation of the same prescription, a rejection of another.
    acts: list[dict[str, Any]]
    prescriptions: list[dict[str, Any]]


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> World:
    other = await make_pharmacy(factory, name="Corner Pharmacy")
    first = await prescribe(client, clinic, items=[item(quantity=21)])
    item_id = first["items"][0]["id"]
    await scanned_and_validated(client, pharmacy.pharmacist, first)
    old = data(
        await dispense(
            client, pharmacy.pharmacist, first["id"], line(item_id, 10, unit_price="1.00")
        )
    )["dispensation"]
    admin_sql(
        "UPDATE dispensations SET created_at = now() - interval '10 days' WHERE id = %s",
        [old["id"]],
    )
    recent = data(
        await dispense(
            client, pharmacy.pharmacist, first["id"], line(item_id, 11, unit_price="2.00")
        )
    )["dispensation"]
    second = await prescribe(client, clinic, diagnosis="Migraine")
    await scan(client, pharmacy.pharmacist, second["qr_token"])
    rejected = data(
        await client.post(
            reject_url(second["id"]),
            json={"reason": "Interacts with current medication"},
            headers=pharmacy.pharmacist.headers,
        )
    )["prescription"]["dispensations"][0]
    # The other pharmacy's own act.
    third = await prescribe(client, clinic)
    await scanned_and_validated(client, other.pharmacist, third)
    data(
        await dispense(
            client, other.pharmacist, third["id"], line(third["items"][0]["id"], 1, unit_price="9")
        )
    )
    return World(pharmacy, other, [old, recent, rejected], [first, second, third])


async def _history(client: httpx.AsyncClient, account: Account, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(await client.get(HISTORY, params=params, headers=account.headers))
    return result


def _ids(page: dict[str, Any]) -> list[str]:
    return [entry["id"] for entry in page["history"]]


async def test_the_pharmacys_own_acts_newest_first_with_totals(
    client: httpx.AsyncClient, clinic: Clinic, world: World
) -> None:
    old, recent, rejected = world.acts
    first, second, _ = world.prescriptions

    page = await _history(client, world.pharmacy.pharmacist)

    assert _ids(page) == [rejected["id"], recent["id"], old["id"]]
    assert page["pagination"] == {"page": 1, "limit": 20, "total": 3, "total_pages": 1}
    assert page["totals"] == {"count": 3, "dispensed": 2, "rejected": 1, "amount": "32.00"}
    refusal, dispensed, _ = page["history"]
    assert refusal["outcome"] == "rejected"
    assert refusal["reason"] == "Interacts with current medication"
    assert refusal["prescription_number"] == second["prescription_number"]
    assert refusal["items"] == []
    assert dispensed["outcome"] == "dispensed"
    assert dispensed["prescription_id"] == first["id"]
    assert dispensed["patient_name"] == "Pat Doe"
    assert dispensed["doctor_name"] == first["doctor_name"]
    assert dispensed["pharmacist_id"] == str(world.pharmacy.pharmacist.id)
    assert dispensed["total_amount"] == "22.00"
    [handed_out] = dispensed["items"]
    assert (handed_out["quantity"], handed_out["unit_price"]) == (11, "2.00")


async def test_filters_by_outcome_and_days_and_totals_follow(
    client: httpx.AsyncClient, world: World
) -> None:
    old, recent, rejected = world.acts
    pharmacist = world.pharmacy.pharmacist
    today = in_days(0).isoformat()

    only_dispensed = await _history(client, pharmacist, status="dispensed")
    only_rejected = await _history(client, pharmacist, status="rejected")
    since_today = await _history(client, pharmacist, **{"from": today})
    until_last_week = await _history(client, pharmacist, to=in_days(-7).isoformat())
    around_then = await _history(
        client, pharmacist, **{"from": in_days(-11).isoformat(), "to": in_days(-9).isoformat()}
    )
    dispensed_today = await _history(
        client, pharmacist, status="dispensed", **{"from": today, "to": today}
    )
    tomorrow_on = await _history(client, pharmacist, **{"from": in_days(1).isoformat()})

    assert _ids(only_dispensed) == [recent["id"], old["id"]]
    assert only_dispensed["totals"] == {
        "count": 2,
        "dispensed": 2,
        "rejected": 0,
        "amount": "32.00",
    }
    assert _ids(only_rejected) == [rejected["id"]]
    assert only_rejected["totals"]["amount"] == "0.00"
    assert _ids(since_today) == [rejected["id"], recent["id"]]
    assert _ids(until_last_week) == [old["id"]]
    assert _ids(around_then) == [old["id"]]
    assert _ids(dispensed_today) == [recent["id"]]
    assert dispensed_today["totals"]["amount"] == "22.00"
    assert tomorrow_on["history"] == []
    assert tomorrow_on["totals"] == {"count": 0, "dispensed": 0, "rejected": 0, "amount": "0.00"}


async def test_pages(client: httpx.AsyncClient, world: World) -> None:
    old, recent, rejected = world.acts
    pharmacist = world.pharmacy.pharmacist

    first = await _history(client, pharmacist, limit=2)
    second = await _history(client, pharmacist, limit=2, page=2)
    beyond = await _history(client, pharmacist, limit=2, page=3)

    assert _ids(first) == [rejected["id"], recent["id"]]
    assert _ids(second) == [old["id"]]
    assert beyond["history"] == []
    for page in (first, second, beyond):
        assert page["pagination"]["total"] == 3
        assert page["pagination"]["total_pages"] == 2
        assert page["totals"]["count"] == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "issued"}, "status"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
    ],
)
async def test_bad_filters_are_400_with_details(
    client: httpx.AsyncClient, pharmacy: Pharmacy, params: dict[str, Any], field: str
) -> None:
    response = await client.get(HISTORY, params=params, headers=pharmacy.pharmacist.headers)

    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_the_pharmacy_admin_reads_it_and_other_pharmacies_see_only_their_own(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    colleague = await factory.user("pharmacist", organization_id=world.pharmacy.id)
    newcomer = await make_pharmacy(factory, name="New Pharmacy")

    as_admin = await _history(client, world.pharmacy.admin)
    as_colleague = await _history(client, colleague)
    as_other = await _history(client, world.other.pharmacist)
    as_other_admin = await _history(client, world.other.admin)
    as_newcomer = await _history(client, newcomer.pharmacist)

    mine = [act["id"] for act in reversed(world.acts)]
    assert _ids(as_admin) == mine
    assert _ids(as_colleague) == mine
    [theirs] = as_other["history"]
    assert theirs["prescription_id"] == world.prescriptions[2]["id"]
    assert as_other["totals"] == {"count": 1, "dispensed": 1, "rejected": 0, "amount": "9.00"}
    assert _ids(as_other_admin) == _ids(as_other)
    assert as_newcomer["history"] == []
    assert as_newcomer["totals"]["count"] == 0


async def test_no_one_else_reads_a_pharmacys_history(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, world: World
) -> None:
    customer = await factory.user("customer")
    supplier = await commerce.supplier(factory)

    assert_error(await client.get(HISTORY), 401, "AUTHENTICATION_ERROR")
    for account in (clinic.doctor, clinic.patient, customer, supplier.admin, supplier.sales):
        response = await client.get(HISTORY, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
