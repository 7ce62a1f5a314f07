"""GET /api/v1/products (and the product detail): filters, search ranking, sorting,
pagination, and what each kind of visitor is shown (prices, stock, internal figures)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from medhub.config import Settings
from tests import commerce
from tests.assertions import assert_error
from tests.auth.helpers import serve
from tests.catalog.helpers import PRODUCTS, data, fetch, listing
from tests.factories import Factory


def ids(page: dict[str, Any]) -> list[str]:
    return [product["id"] for product in page["products"]]


# Filters and search


async def test_filter_by_category_and_supplier(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    heart = await commerce.product(client, supplier.admin, category="cardiovascular")
    germs = await commerce.product(client, supplier.admin, category="antibiotics")
    theirs = await commerce.product(client, other.admin, category="antibiotics")

    assert ids(await listing(client, category="cardiovascular")) == [heart["id"]]
    assert set(ids(await listing(client, category="ANTIBIOTICS"))) == {germs["id"], theirs["id"]}
    assert ids(await listing(client, category="antibiotics", supplier_id=str(other.id))) == [
        theirs["id"]
    ]
    assert set(ids(await listing(client))) == {heart["id"], germs["id"], theirs["id"]}
    empty = await listing(client, category="oncology")
    assert empty["products"] == []
    assert empty["pagination"] == {"page": 1, "limit": 20, "total": 0, "total_pages": 0}


async def test_a_name_match_ranks_above_a_description_match(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    # Alphabetically first, so a name sort would put it on top: only relevance does not.
    mention = await commerce.product(
        client,
        supplier.admin,
        name="Antihypertensive Combo",
        description="Combination of losartan with a thiazide diuretic",
        indication="Hypertension",
    )
    named = await commerce.product(
        client,
        supplier.admin,
        name="Losartan 50mg",
        description="Angiotensin receptor blocker",
        indication="Hypertension",
    )
    await commerce.product(client, supplier.admin, name="Amoxicillin 500mg")

    found = await listing(client, search="losartan")

    assert ids(found) == [named["id"], mention["id"]]
    assert found["pagination"]["total"] == 2


async def test_search_finds_an_indication_word(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    metformin = await commerce.product(
        client,
        supplier.admin,
        name="Metformin 850mg",
        category="diabetes",
        description="Biguanide",
        indication="Type 2 diabetes mellitus",
    )
    cardiomax = await commerce.product(client, supplier.admin, indication="Hypertension, Angina")

    assert ids(await listing(client, search="mellitus")) == [metformin["id"]]
    assert ids(await listing(client, search="angina")) == [cardiomax["id"]]
    assert ids(await listing(client, search="nothing-like-this")) == []


async def test_search_by_manufacturer_code_and_partial_name(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(
        client, supplier.admin, name="Cardiomax 50mg", manufacturer_code="CMX-50-A"
    )
    await commerce.product(client, supplier.admin, name="Amoxil", manufacturer_code="AMX-1")

    assert ids(await listing(client, search="cmx-50")) == [product["id"]]
    assert ids(await listing(client, search="Cardiom")) == [product["id"]]
    # LIKE wildcards in the query are literal characters, not patterns.
    assert ids(await listing(client, search="%")) == []


async def test_in_stock_counts_what_is_available_not_on_hand(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    stocked = await commerce.product(client, supplier.admin, name="A", stock_quantity=5)
    empty = await commerce.product(client, supplier.admin, name="B", stock_quantity=0)
    taken = await commerce.product(client, supplier.admin, name="C", stock_quantity=3)
    buyer = await commerce.buyer(factory)
    data(await commerce.place(client, buyer, [(taken["id"], 3)]), 201)

    assert ids(await listing(client, in_stock="true")) == [stocked["id"]]
    assert ids(await listing(client, in_stock="false")) == [empty["id"], taken["id"]]
    taken_now = await fetch(client, taken["id"])
    assert (taken_now["stock_quantity"], taken_now["available_quantity"]) == (3, 0)
    assert taken_now["in_stock"] is False


async def test_sort_by_price_and_name(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    mid = await commerce.product(client, supplier.admin, name="Alpha", price="20.00")
    low = await commerce.product(client, supplier.admin, name="Charlie", price="10.00")
    high = await commerce.product(client, supplier.admin, name="Bravo", price="30.00")
    on_request = await commerce.product(client, supplier.admin, name="Delta", price=None)

    assert ids(await listing(client, sort="price")) == [
        low["id"],
        mid["id"],
        high["id"],
        on_request["id"],
    ]
    # A price on request stays last whichever way prices are sorted.
    assert ids(await listing(client, sort="price", order="desc")) == [
        high["id"],
        mid["id"],
        low["id"],
        on_request["id"],
    ]
    assert ids(await listing(client)) == [mid["id"], high["id"], low["id"], on_request["id"]]
    assert ids(await listing(client, sort="name", order="desc")) == [
        on_request["id"],
        low["id"],
        high["id"],
        mid["id"],
    ]
    # An explicit sort beats relevance when searching.
    assert ids(await listing(client, search="hypertension", sort="price", order="desc")) == [
        high["id"],
        mid["id"],
        low["id"],
        on_request["id"],
    ]


async def test_price_range(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    await commerce.product(client, supplier.admin, price="10.00")
    middle = await commerce.product(client, supplier.admin, price="20.00")
    await commerce.product(client, supplier.admin, price="30.00")

    assert ids(await listing(client, min_price="15", max_price="25")) == [middle["id"]]
    assert ids(await listing(client, min_price="20", max_price="20")) == [middle["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "30", "max_price": "10"}, "min_price"),
        ({"min_price": "-1"}, "min_price"),
        ({"sort": "popularity"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"limit": "101"}, "limit"),
        ({"page": "0"}, "page"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"supplier_id": "acme"}, "supplier_id"),
    ],
)
async def test_bad_list_parameters_are_a_400_naming_them(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    assert_error(await client.get(PRODUCTS, params=params), 400, fields={field})


async def test_pages_and_totals(client: httpx.AsyncClient, factory: Factory) -> None:
    supplier = await commerce.supplier(factory)
    made = [
        (await commerce.product(client, supplier.admin, name=f"Product {n}"))["id"]
        for n in range(5)
    ]

    pages = [await listing(client, limit=2, page=page) for page in (1, 2, 3)]

    assert [len(page["products"]) for page in pages] == [2, 2, 1]
    assert [pid for page in pages for pid in ids(page)] == made
    assert pages[0]["pagination"] == {"page": 1, "limit": 2, "total": 5, "total_pages": 3}
    assert pages[2]["pagination"] == {"page": 3, "limit": 2, "total": 5, "total_pages": 3}
    past = await listing(client, limit=2, page=4)
    assert past["products"] == []
    assert past["pagination"] == {"page": 4, "limit": 2, "total": 5, "total_pages": 3}
    filtered_past = await listing(client, limit=2, page=9, search="Product 3")
    assert filtered_past["products"] == []
    assert filtered_past["pagination"]["total"] == 1


# Inactive products


async def test_inactive_products_are_listed_for_their_suppliers_staff_only(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    customer = await factory.user("customer")
    operator = await factory.user("super_admin")
    active = await commerce.product(client, supplier.admin, name="Active")
    hidden = await commerce.product(client, supplier.admin, name="Hidden", is_active=False)
    theirs = await commerce.product(client, other.admin, name="Theirs hidden", is_active=False)

    for account in (None, customer, supplier.admin):
        assert ids(await listing(client, account)) == [active["id"]]
    for account in (supplier.admin, supplier.sales):
        assert ids(await listing(client, account, include_inactive="true")) == [
            active["id"],
            hidden["id"],
        ]
    assert ids(await listing(client, other.admin, include_inactive="true")) == [
        active["id"],
        theirs["id"],
    ]
    assert ids(await listing(client, operator, include_inactive="true")) == [
        active["id"],
        hidden["id"],
        theirs["id"],
    ]


async def test_buyers_may_not_ask_for_inactive_products(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    customer = await factory.user("customer")
    supplier = await commerce.supplier(factory)
    distributor = await factory.user("distributor", organization_id=supplier.id)
    for account in (customer, distributor):
        response = await client.get(
            PRODUCTS, params={"include_inactive": "true"}, headers=account.headers
        )
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert_error(await client.get(PRODUCTS, params={"include_inactive": "true"}), 403)


# What each visitor sees


async def test_hidden_prices_and_stock_are_shown_to_signed_in_users_only(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(CATALOG_PUBLIC_PRICES=False, CATALOG_PUBLIC_STOCK=False)
    async with serve(settings) as served:
        client = served.client
        factory = Factory(served.app, client)
        supplier = await commerce.supplier(factory)
        product = await commerce.product(client, supplier.admin, stock_quantity=12)
        customer = await factory.user("customer")

        anonymous = [await fetch(client, product["id"]), (await listing(client))["products"][0]]
        for seen in anonymous:
            assert seen["id"] == product["id"]
            assert seen["price"] is None
            assert seen["list_price"] is None
            assert seen["stock_quantity"] is None
            assert seen["available_quantity"] is None
            assert seen["in_stock"] is None
            assert seen["name"] == "Cardiomax 50mg"

        signed_in = [
            await fetch(client, product["id"], customer),
            (await listing(client, customer))["products"][0],
        ]
        for seen in signed_in:
            assert seen["price"] == 125.5
            assert seen["list_price"] == 125.5
            assert seen["stock_quantity"] == 12
            assert seen["available_quantity"] == 12
            assert seen["in_stock"] is True


async def test_public_prices_are_shown_to_anonymous_visitors_by_default(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin, stock_quantity=12)
    seen = await fetch(client, product["id"])
    assert (seen["price"], seen["stock_quantity"], seen["in_stock"]) == (125.5, 12, True)


async def test_a_distributor_of_the_supplier_sees_their_price(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    special = await commerce.product(
        client, supplier.admin, price="125.50", distributor_price="99.90"
    )
    plain = await commerce.product(client, supplier.admin, price="40.00")
    ours = await factory.user("distributor", organization_id=supplier.id)
    theirs = await factory.user("distributor", organization_id=other.id)
    customer = await factory.user("customer")

    for seen in [
        await fetch(client, special["id"], ours),
        next(p for p in (await listing(client, ours))["products"] if p["id"] == special["id"]),
    ]:
        assert seen["price"] == 99.9
        assert seen["list_price"] == 125.5
        assert seen["distributor_price"] == 99.9
        assert seen["reserved_quantity"] is None, "a distributor is not the supplier's staff"
    no_special = await fetch(client, plain["id"], ours)
    assert (no_special["price"], no_special["list_price"]) == (40.0, 40.0)
    for account in (theirs, customer, None):
        seen = await fetch(client, special["id"], account)
        assert (seen["price"], seen["list_price"]) == (125.5, 125.5)
        assert seen["distributor_price"] is None


async def test_a_zero_distributor_price_is_a_price(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """Free for distributors (samples): the catalog shows what the order will charge."""
    supplier = await commerce.supplier(factory)
    product = await commerce.product(
        client, supplier.admin, price="125.50", distributor_price="0.00"
    )
    distributor = await commerce.buyer(factory, "distributor", organization_id=supplier.id)

    seen = await fetch(client, product["id"], distributor.account)

    assert seen["price"] == 0.0
    assert seen["list_price"] == 125.5
    assert seen["distributor_price"] == 0.0
    order = data(await commerce.place(client, distributor, [(product["id"], 2)]), 201)
    assert order["total_amount"] == seen["price"]


async def test_staff_see_internal_figures_and_buyers_the_availability(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    other = await commerce.supplier(factory)
    product = await commerce.product(
        client,
        supplier.admin,
        stock_quantity=10,
        low_stock_threshold=2,
        distributor_price="100.00",
    )
    buyer = await commerce.buyer(factory)
    data(await commerce.place(client, buyer, [(product["id"], 3)]), 201)

    for account in (supplier.admin, supplier.sales):
        for seen in [
            await fetch(client, product["id"], account),
            (await listing(client, account))["products"][0],
        ]:
            assert seen["stock_quantity"] == 10
            assert seen["reserved_quantity"] == 3
            assert seen["available_quantity"] == 7
            assert seen["low_stock_threshold"] == 2
            assert seen["distributor_price"] == 100.0
    for outsider in (buyer.account, other.admin, None):
        seen = await fetch(client, product["id"], outsider)
        assert seen["stock_quantity"] == 10
        assert seen["available_quantity"] == 7
        assert seen["in_stock"] is True
        assert seen["reserved_quantity"] is None
        assert seen["low_stock_threshold"] is None
        assert seen["distributor_price"] is None
