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
    dispense_url,
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
    assert page["totals"] == {
        "count": 3,
        "dispensed": 2,
        "rejected": 1,
        "amount": 32.0,
        "currency": "USD",
    }
    refusal, dispensed, _ = page["history"]
    assert refusal["outcome"] == "rejected"
    assert refusal["reason"] == "Interacts with current medication"
    assert refusal["prescription_number"] == second["prescription_number"]
    assert refusal["items"] == []
    # No money changed hands.
    assert (refusal["total_amount"], refusal["currency"]) == (0, None)
    assert dispensed["outcome"] == "dispensed"
    assert dispensed["prescription_id"] == first["id"]
    assert dispensed["patient_name"] == "Pat Doe"
    assert dispensed["doctor_name"] == first["doctor_name"]
    assert dispensed["pharmacist_id"] == str(world.pharmacy.pharmacist.id)
    assert (dispensed["total_amount"], dispensed["currency"]) == (22.0, "USD")
    [handed_out] = dispensed["items"]
    assert (handed_out["quantity"], handed_out["unit_price"]) == (11, 2.0)


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
        "amount": 32.0,
        "currency": "USD",
    }
    assert _ids(only_rejected) == [rejected["id"]]
    assert only_rejected["totals"]["amount"] == 0
    assert _ids(since_today) == [rejected["id"], recent["id"]]
    assert _ids(until_last_week) == [old["id"]]
    assert _ids(around_then) == [old["id"]]
    assert _ids(dispensed_today) == [recent["id"]]
    assert dispensed_today["totals"]["amount"] == 22.0
    assert tomorrow_on["history"] == []
    assert tomorrow_on["totals"] == {
        "count": 0,
        "dispensed": 0,
        "rejected": 0,
        "amount": 0,
        "currency": "USD",
    }


async def test_amounts_in_another_currency_are_totalled_apart(
    client: httpx.AsyncClient, clinic: Clinic, world: World
) -> None:
    pharmacist = world.pharmacy.pharmacist
    written = await prescribe(client, clinic)
    await scanned_and_validated(client, pharmacist, written)
    in_euros = data(
        await client.post(
            dispense_url(written["id"]),
            json={
                "items": [line(written["items"][0]["id"], 3, unit_price="2.50")],
                "currency": "EUR",
            },
            headers=pharmacist.headers,
        )
    )["dispensation"]
    assert (in_euros["total_amount"], in_euros["currency"]) == (7.5, "EUR")
    assert in_euros["items"][0]["unit_price"] == 2.5

    # Every act is listed in its own currency; the amount sums one currency only.
    default = await _history(client, pharmacist)
    assert [entry["currency"] for entry in default["history"]] == ["EUR", None, "USD", "USD"]
    assert default["totals"] == {
        "count": 4,
        "dispensed": 3,
        "rejected": 1,
        "amount": 32.0,
        "currency": "USD",
    }
    euros = await _history(client, pharmacist, currency="EUR")
    assert _ids(euros) == _ids(default)
    assert (euros["totals"]["amount"], euros["totals"]["currency"]) == (7.5, "EUR")
    none_yet = await _history(client, pharmacist, currency="GBP")
    assert (none_yet["totals"]["amount"], none_yet["totals"]["count"]) == (0, 4)


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
        ({"currency": "usd"}, "currency"),
        ({"currency": "EURO"}, "currency"),
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
    assert as_other["totals"] == {
        "count": 1,
        "dispensed": 1,
        "rejected": 0,
        "amount": 9.0,
        "currency": "USD",
    }
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


def _history_reads(admin_sql: AdminSql) -> list[tuple[Any, ...]]:
    return admin_sql(
        "SELECT user_id, organization_id, entity_type, entity_id, metadata FROM activity_logs"
        " WHERE action = 'prescription.pharmacy_history' ORDER BY seq"
    )


async def test_every_read_is_audited_once_naming_the_charts_on_the_page(
    client: httpx.AsyncClient, clinic: Clinic, world: World, admin_sql: AdminSql
) -> None:
    pharmacist = world.pharmacy.pharmacist
    assert _history_reads(admin_sql) == []

    await _history(client, pharmacist)
    await _history(client, world.pharmacy.admin, status="rejected", limit=1)
    await _history(client, pharmacist, **{"from": in_days(1).isoformat()})

    rows = _history_reads(admin_sql)
    assert len(rows) == 3, "one row per request"
    every, rejections, nothing = rows
    assert every[:4] == (pharmacist.id, world.pharmacy.id, "prescription", None)
    assert rejections[:2] == (world.pharmacy.admin.id, world.pharmacy.id)
    chart = str(clinic.chart.id)
    assert every[4]["count"] == 3
    assert every[4]["patient_ids"] == [chart]
    assert every[4]["filters"] == {
        "status": None,
        "currency": "USD",
        "since": None,
        "until": None,
    }
    assert (rejections[4]["count"], rejections[4]["patient_ids"]) == (1, [chart])
    assert rejections[4]["filters"]["status"] == "rejected"
    assert (nothing[4]["count"], nothing[4]["patient_ids"]) == (0, [])
    assert nothing[4]["filters"]["since"] is not None
    # Which charts, never what the page showed of them.
    text = str([row[4] for row in rows])
    for shown in (
        "Pat Doe",
        "Dr. Ada Meyer",
        "Interacts with current medication",
        world.prescriptions[0]["prescription_number"],
        world.prescriptions[1]["prescription_number"],
    ):
        assert shown not in text, shown


async def test_the_patient_sees_the_pharmacys_read_in_their_access_log(
    client: httpx.AsyncClient, clinic: Clinic, world: World
) -> None:
    await _history(client, world.pharmacy.pharmacist)

    log = data(
        await client.get(
            f"{HISTORY.removesuffix('/pharmacy/history')}/patients/me/access-log",
            params={"action": "prescription.pharmacy_history"},
            headers=clinic.patient.headers,
        )
    )
    [entry] = log["entries"]
    assert entry["actor_role"] == "pharmacist"
    assert entry["organization_name"] == "Harbour Pharmacy"
