"""GET/POST /api/v1/categories and PUT /categories/{slug}: everyone reads the
active categories; only the platform's super admins add, rename or retire them
(they are shared by every supplier's catalog)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import commerce
from tests.assertions import assert_error
from tests.catalog.helpers import CATEGORIES, PRODUCTS, data
from tests.factories import Factory

SEEDED = ["antibiotics", "cardiovascular", "diabetes", "oncology"]


def slugs(response: httpx.Response) -> list[str]:
    return [category["slug"] for category in data(response)]


async def test_anyone_lists_the_active_categories(client: httpx.AsyncClient) -> None:
    categories = data(await client.get(CATEGORIES))
    assert [c["slug"] for c in categories] == SEEDED
    cardio = next(c for c in categories if c["slug"] == "cardiovascular")
    assert cardio["name"] == "Cardiovascular"
    assert cardio["is_active"] is True
    assert cardio["description"]


async def test_a_super_admin_adds_a_category_products_can_use(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    operator = await factory.user("super_admin")
    supplier = await commerce.supplier(factory)

    created = data(
        await client.post(
            CATEGORIES,
            json={"slug": "respiratory", "name": "Respiratory", "description": "Asthma, COPD"},
            headers=operator.headers,
        ),
        201,
    )

    assert created == {
        "slug": "respiratory",
        "name": "Respiratory",
        "description": "Asthma, COPD",
        "is_active": True,
    }
    assert slugs(await client.get(CATEGORIES)) == [*SEEDED, "respiratory"]
    product = await commerce.product(client, supplier.admin, category="respiratory")
    assert product["category"] == "respiratory"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "Bad Slug", "name": "Bad"}, "slug"),
        ({"slug": "x", "name": "Too short"}, "slug"),
        ({"slug": "ok-slug", "name": ""}, "name"),
        ({"slug": "ok-slug"}, "name"),
        ({"slug": "ok-slug", "name": "Ok", "is_active": False}, "is_active"),
    ],
)
async def test_bad_categories_are_a_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    operator = await factory.user("super_admin")
    response = await client.post(CATEGORIES, json=body, headers=operator.headers)
    assert_error(response, 400, fields={field})
    assert slugs(await client.get(CATEGORIES)) == SEEDED


async def test_a_taken_slug_is_a_conflict(client: httpx.AsyncClient, factory: Factory) -> None:
    operator = await factory.user("super_admin")
    response = await client.post(
        CATEGORIES, json={"slug": "oncology", "name": "Again"}, headers=operator.headers
    )
    body = assert_error(response, 409, "CONFLICT")
    assert [d["field"] for d in body["details"]] == ["slug"]
    oncology = [c for c in data(await client.get(CATEGORIES)) if c["slug"] == "oncology"]
    assert [c["name"] for c in oncology] == ["Oncology"]


async def test_only_super_admins_add_categories(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    customer = await factory.user("customer")
    body = {"slug": "dermatology", "name": "Dermatology"}

    assert_error(await client.post(CATEGORIES, json=body), 401, "AUTHENTICATION_ERROR")
    for account in (supplier.admin, supplier.sales, customer):
        response = await client.post(CATEGORIES, json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert "dermatology" not in slugs(await client.get(CATEGORIES))


async def test_a_super_admin_renames_and_retires_a_category(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    operator = await factory.user("super_admin")
    supplier = await commerce.supplier(factory)
    existing = await commerce.product(client, supplier.admin, category="oncology")

    renamed = data(
        await client.put(
            f"{CATEGORIES}/oncology",
            json={"name": "Oncology & Haematology", "description": None},
            headers=operator.headers,
        )
    )
    assert renamed == {
        "slug": "oncology",
        "name": "Oncology & Haematology",
        "description": None,
        "is_active": True,
    }

    retired = data(
        await client.put(
            f"{CATEGORIES}/oncology", json={"is_active": False}, headers=operator.headers
        )
    )
    assert retired["is_active"] is False
    assert retired["name"] == "Oncology & Haematology"
    assert slugs(await client.get(CATEGORIES)) == SEEDED[:3]
    everything = await client.get(
        CATEGORIES, params={"include_inactive": "true"}, headers=operator.headers
    )
    assert slugs(everything) == SEEDED
    # No new product in a retired category; the ones already there stay.
    response = await client.post(
        PRODUCTS,
        json={
            "name": "New",
            "category": "oncology",
            "description": "d",
            "dosage": "1mg",
            "packaging": "box",
            "indication": "i",
            "manufacturer_code": "ONC-1",
        },
        headers=supplier.admin.headers,
    )
    assert_error(response, 400, fields={"category"})
    assert data(await client.get(f"{PRODUCTS}/{existing['id']}"))["category"] == "oncology"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"is_active": None}, "is_active"),
        ({"name": ""}, "name"),
        ({"slug": "renamed"}, "slug"),
    ],
)
async def test_bad_category_changes_are_a_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    operator = await factory.user("super_admin")
    response = await client.put(f"{CATEGORIES}/diabetes", json=body, headers=operator.headers)
    assert_error(response, 400, fields={field})
    diabetes = next(c for c in data(await client.get(CATEGORIES)) if c["slug"] == "diabetes")
    assert diabetes["name"] == "Diabetes"


async def test_changing_an_unknown_category_is_a_404(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    operator = await factory.user("super_admin")
    response = await client.put(
        f"{CATEGORIES}/astrology", json={"name": "Stars"}, headers=operator.headers
    )
    assert_error(response, 404, "NOT_FOUND")


async def test_only_super_admins_change_categories(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    customer = await factory.user("customer")
    url = f"{CATEGORIES}/diabetes"
    change = {"is_active": False}

    assert_error(await client.put(url, json=change), 401, "AUTHENTICATION_ERROR")
    for account in (supplier.admin, supplier.sales, customer):
        assert_error(await client.put(url, json=change, headers=account.headers), 403)
    assert "diabetes" in slugs(await client.get(CATEGORIES))


async def test_only_super_admins_list_retired_categories(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    params = {"include_inactive": "true"}
    assert_error(await client.get(CATEGORIES, params=params), 403, "AUTHORIZATION_ERROR")
    response = await client.get(CATEGORIES, params=params, headers=supplier.admin.headers)
    assert_error(response, 403, "AUTHORIZATION_ERROR")
