"""Product certifications: GET/POST /products/{id}/certifications, PUT/DELETE
/products/{id}/certifications/{cid}, and the daily expiry notices to the
supplier's admins (60, 30 and 7 days before, each once)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from medhub.catalog.certifications import notice_due
from medhub.catalog.tasks import certificate_expiry_notices
from medhub.kit.db import Database
from medhub.kit.jobs import defer
from tests import commerce
from tests.assertions import assert_error
from tests.catalog.helpers import (
    PRODUCTS,
    UNKNOWN,
    AdminSql,
    add_certification,
    certification_body,
    data,
    fetch,
    in_days,
    stock_notifications,
)
from tests.factories import Account, Factory, run_jobs


def url(product_id: str, certification_id: str | uuid.UUID | None = None) -> str:
    base = f"{PRODUCTS}/{product_id}/certifications"
    return base if certification_id is None else f"{base}/{certification_id}"


async def certification_ids(client: httpx.AsyncClient, product_id: str) -> list[str]:
    return [c["id"] for c in data(await client.get(url(product_id)))]


# POST


async def test_an_admin_certifies_their_product(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    body = certification_body(type="WHO-GMP", certificate_number="WHO-77")

    created = data(
        await client.post(url(product["id"]), json=body, headers=supplier.admin.headers), 201
    )

    assert created["product_id"] == product["id"]
    assert created["type"] == "WHO-GMP"
    assert created["certificate_number"] == "WHO-77"
    assert created["issue_date"] == body["issue_date"]
    assert created["expiry_date"] == body["expiry_date"]
    assert created["certificate_url"] == body["certificate_url"]
    assert created["is_expired"] is False
    detail = await fetch(client, product["id"])
    assert [c["id"] for c in detail["certifications"]] == [created["id"]]
    assert detail["certifications"][0]["type"] == "WHO-GMP"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"type": "CE"}, "type"),
        ({"issue_date": in_days(10), "expiry_date": in_days(10)}, "expiry_date"),
        ({"issue_date": in_days(10), "expiry_date": in_days(-10)}, "expiry_date"),
        ({"expiry_date": "31/12/2030"}, "expiry_date"),
        ({"certificate_url": "ftp://certs.example.org/x.pdf"}, "certificate_url"),
        ({"certificate_number": "N" * 256}, "certificate_number"),
        ({"issuer": "FDA"}, "issuer"),
    ],
)
async def test_bad_certifications_are_a_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, override: dict[str, Any], field: str
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    response = await client.post(
        url(product["id"]), json=certification_body(**override), headers=supplier.admin.headers
    )
    assert_error(response, 400, fields={field})
    assert await certification_ids(client, product["id"]) == []


async def test_a_missing_date_is_named(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    body = certification_body()
    del body["issue_date"]
    response = await client.post(url(product["id"]), json=body, headers=supplier.admin.headers)
    assert_error(response, 400, fields={"issue_date"})


async def test_only_the_products_admins_certify_it(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    product = await commerce.product(client, supplier.admin)
    body = certification_body()

    assert_error(await client.post(url(product["id"]), json=body), 401, "AUTHENTICATION_ERROR")
    for account in (customer, supplier.sales, other.admin):
        response = await client.post(url(product["id"]), json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    response = await client.post(url(str(UNKNOWN)), json=body, headers=supplier.admin.headers)
    assert_error(response, 404, "NOT_FOUND")
    assert await certification_ids(client, product["id"]) == []


# GET


async def test_certifications_are_listed_soonest_expiry_first(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    other_product = await commerce.product(client, supplier.admin)
    later = await add_certification(client, supplier.admin, product["id"], expiry_date=in_days(700))
    expired = await add_certification(
        client, supplier.admin, product["id"], type="ISO", expiry_date=in_days(-1)
    )
    sooner = await add_certification(
        client, supplier.admin, product["id"], type="EMA", expiry_date=in_days(90)
    )
    await add_certification(client, supplier.admin, other_product["id"])

    listed = data(await client.get(url(product["id"])))

    assert [c["id"] for c in listed] == [expired["id"], sooner["id"], later["id"]]
    assert [c["is_expired"] for c in listed] == [True, False, False]
    assert [c["type"] for c in listed] == ["ISO", "EMA", "FDA"]


async def test_a_withdrawn_products_certifications_are_for_its_staff(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    product = await commerce.product(client, supplier.admin)
    certification = await add_certification(client, supplier.admin, product["id"])
    data(await client.delete(f"{PRODUCTS}/{product['id']}", headers=supplier.admin.headers))

    for account in (None, customer, other.admin):
        headers = account.headers if account else {}
        assert_error(await client.get(url(product["id"]), headers=headers), 404, "NOT_FOUND")
    for account in (supplier.admin, supplier.sales):
        listed = data(await client.get(url(product["id"]), headers=account.headers))
        assert [c["id"] for c in listed] == [certification["id"]]
    assert_error(await client.get(url(str(UNKNOWN))), 404, "NOT_FOUND")


# PUT


async def test_an_admin_changes_a_certification(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    certification = await add_certification(client, supplier.admin, product["id"])

    changed = data(
        await client.put(
            url(product["id"], certification["id"]),
            json={"type": "EMA", "certificate_number": "EMA-9", "expiry_date": in_days(800)},
            headers=supplier.admin.headers,
        )
    )

    assert changed["id"] == certification["id"]
    assert changed["type"] == "EMA"
    assert changed["certificate_number"] == "EMA-9"
    assert changed["expiry_date"] == in_days(800)
    assert changed["issue_date"] == certification["issue_date"]
    assert changed["certificate_url"] == certification["certificate_url"]
    [stored] = data(await client.get(url(product["id"])))
    assert (stored["type"], stored["expiry_date"]) == ("EMA", in_days(800))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # Checked against the stored dates: issue_date in the body is after the stored expiry.
        ({"issue_date": in_days(500)}, "expiry_date"),
        ({"expiry_date": in_days(-300)}, "expiry_date"),
        ({"type": None}, "type"),
        ({"type": "CE"}, "type"),
        ({"product_id": str(UNKNOWN)}, "product_id"),
    ],
)
async def test_bad_certification_changes_are_a_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    certification = await add_certification(client, supplier.admin, product["id"])

    response = await client.put(
        url(product["id"], certification["id"]), json=body, headers=supplier.admin.headers
    )

    assert_error(response, 400, fields={field})
    [stored] = data(await client.get(url(product["id"])))
    assert stored == certification


async def test_a_certification_is_changed_through_its_own_product_only(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    product = await commerce.product(client, supplier.admin)
    sibling = await commerce.product(client, supplier.admin)
    certification = await add_certification(client, supplier.admin, product["id"])
    change = {"certificate_number": "HACKED"}
    target = url(product["id"], certification["id"])

    assert_error(await client.put(target, json=change), 401, "AUTHENTICATION_ERROR")
    for account in (customer, supplier.sales, other.admin):
        assert_error(await client.put(target, json=change, headers=account.headers), 403)
    for wrong in (url(sibling["id"], certification["id"]), url(product["id"], UNKNOWN)):
        assert_error(await client.put(wrong, json=change, headers=supplier.admin.headers), 404)
    [stored] = data(await client.get(url(product["id"])))
    assert stored["certificate_number"] == certification["certificate_number"]


# DELETE


async def test_an_admin_removes_a_certification(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    gone = await add_certification(client, supplier.admin, product["id"])
    kept = await add_certification(client, supplier.admin, product["id"], type="ISO")
    target = url(product["id"], gone["id"])

    response = await client.delete(target, headers=supplier.admin.headers)

    assert data(response) is None
    assert await certification_ids(client, product["id"]) == [kept["id"]]
    assert_error(await client.delete(target, headers=supplier.admin.headers), 404, "NOT_FOUND")
    audit = admin_sql(
        "SELECT metadata->>'certification_id' FROM activity_logs"
        " WHERE action = 'certification_deleted' AND entity_id = %s",
        (product["id"],),
    )
    assert audit == [(gone["id"],)]


async def test_only_the_products_admins_remove_its_certifications(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    product = await commerce.product(client, supplier.admin)
    sibling = await commerce.product(client, supplier.admin)
    certification = await add_certification(client, supplier.admin, product["id"])
    target = url(product["id"], certification["id"])

    assert_error(await client.delete(target), 401, "AUTHENTICATION_ERROR")
    for account in (customer, supplier.sales, other.admin):
        assert_error(await client.delete(target, headers=account.headers), 403)
    wrong = url(sibling["id"], certification["id"])
    assert_error(await client.delete(wrong, headers=supplier.admin.headers), 404, "NOT_FOUND")
    assert await certification_ids(client, product["id"]) == [certification["id"]]


# Expiry notices


def test_notice_due_sends_each_threshold_once() -> None:
    days = [60, 30, 7]
    assert notice_due(61, days, None) is None
    assert notice_due(60, days, None) == 60
    assert notice_due(59, days, None) == 60
    assert notice_due(58, days, 60) is None
    assert notice_due(30, days, 60) == 30
    assert notice_due(29, days, 30) is None
    # Straight to the smallest reached threshold: no burst of stale notices.
    assert notice_due(6, days, None) == 7
    assert notice_due(6, days, 60) == 7
    assert notice_due(0, days, 7) is None
    assert notice_due(45, days, 7) is None, "never back up to a larger threshold"
    assert notice_due(10, [], None) is None


async def run_expiry_watch(app: FastAPI) -> None:
    """What the daily periodic job does: defer it, then let a worker run it."""
    database: Database = app.state.database
    async with database.unit_of_work() as session:
        await defer(session, certificate_expiry_notices, timestamp=int(time.time()))
    await run_jobs(app)


async def expiry_notices(client: httpx.AsyncClient, account: Account) -> list[str]:
    """The certification ids the account was told about, oldest first."""
    return [
        n["data"]["certification_id"]
        for n in reversed(await stock_notifications(client, account))
        if "certification_id" in n["data"]
    ]


async def test_admins_are_told_once_per_threshold_before_a_certificate_expires(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier = await commerce.supplier(factory)
    second_admin = await factory.user("admin", organization_id=supplier.id)
    other = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, name="Cardiomax 50mg")
    withdrawn = await commerce.product(client, supplier.admin)
    theirs = await commerce.product(client, other.admin)
    in_59 = await add_certification(client, supplier.admin, product["id"], expiry_date=in_days(59))
    in_29 = await add_certification(client, supplier.admin, product["id"], expiry_date=in_days(29))
    in_6 = await add_certification(
        client, supplier.admin, product["id"], type="ISO", expiry_date=in_days(6)
    )
    await add_certification(client, supplier.admin, product["id"], expiry_date=in_days(61))
    await add_certification(client, supplier.admin, product["id"], expiry_date=in_days(-1))
    await add_certification(client, supplier.admin, withdrawn["id"], expiry_date=in_days(5))
    data(await client.delete(f"{PRODUCTS}/{withdrawn['id']}", headers=supplier.admin.headers))
    their_cert = await add_certification(client, other.admin, theirs["id"], expiry_date=in_days(3))

    await run_expiry_watch(app)

    expected = sorted([in_59["id"], in_29["id"], in_6["id"]])
    for admin in (supplier.admin, second_admin):
        assert sorted(await expiry_notices(client, admin)) == expected
    assert await expiry_notices(client, supplier.sales) == [], "admins only"
    assert await expiry_notices(client, other.admin) == [their_cert["id"]]
    notices = {
        n["data"]["certification_id"]: n for n in await stock_notifications(client, supplier.admin)
    }
    six = notices[in_6["id"]]
    assert six["category"] == "stock"
    assert six["title"] == "ISO certificate expires in 6 days"
    assert "Cardiomax 50mg" in six["body"]
    assert six["data"]["days_left"] == 6
    assert six["data"]["expiry_date"] == in_days(6)
    assert six["data"]["link"] == f"/products/{product['id']}"
    sent = admin_sql(
        "SELECT id::text, expiry_notice_days FROM product_certifications"
        " WHERE expiry_notice_days IS NOT NULL"
    )
    assert dict(sent) == {in_59["id"]: 60, in_29["id"]: 30, in_6["id"]: 7, their_cert["id"]: 7}

    # The next day's run: nothing new has been reached.
    await run_expiry_watch(app)
    assert sorted(await expiry_notices(client, supplier.admin)) == expected

    # A month later (the certificate is moved, the clock is not): its 30-day notice.
    admin_sql(
        "UPDATE product_certifications SET expiry_date = %s::date WHERE id = %s",
        (in_days(29), in_59["id"]),
    )
    await run_expiry_watch(app)
    told = await expiry_notices(client, supplier.admin)
    assert sorted(told) == sorted([*expected, in_59["id"]])
    assert told[-1] == in_59["id"]
    assert (await stock_notifications(client, supplier.admin))[0]["data"]["days_left"] == 29
    assert admin_sql(
        "SELECT expiry_notice_days FROM product_certifications WHERE id = %s", (in_59["id"],)
    ) == [(30,)]


async def test_a_renewal_restarts_the_notices(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    certification = await add_certification(
        client, supplier.admin, product["id"], expiry_date=in_days(6)
    )
    await run_expiry_watch(app)
    assert await expiry_notices(client, supplier.admin) == [certification["id"]]

    target = url(product["id"], certification["id"])
    # A change that keeps the date keeps the record of what was sent.
    data(
        await client.put(target, json={"certificate_number": "N-2"}, headers=supplier.admin.headers)
    )
    stored = "SELECT expiry_notice_days FROM product_certifications WHERE id = %s"
    assert admin_sql(stored, (certification["id"],)) == [(7,)]
    # Renewed, but the new certificate runs out in 25 days: the 30-day notice is due again.
    renewed = {"expiry_date": in_days(25)}
    data(await client.put(target, json=renewed, headers=supplier.admin.headers))
    assert admin_sql(stored, (certification["id"],)) == [(None,)]

    await run_expiry_watch(app)

    told = await expiry_notices(client, supplier.admin)
    assert told == [certification["id"], certification["id"]]
    newest = (await stock_notifications(client, supplier.admin))[0]
    assert newest["data"]["days_left"] == 25
    assert admin_sql(stored, (certification["id"],)) == [(30,)]
