"""Helpers for MedPharm commerce tests: a supplier with staff, products, buyers with
addresses, orders — all created through the API, as a user would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories import Account, Factory


@dataclass
class Supplier:
    id: uuid.UUID
    admin: Account
    sales: Account


async def supplier(factory: Factory, *, name: str | None = None) -> Supplier:
    organization = await factory.organization("supplier", name=name)
    admin = await factory.user("admin", organization_id=organization.id)
    sales = await factory.user("sales", organization_id=organization.id)
    return Supplier(organization.id, admin, sales)


async def product(client: httpx.AsyncClient, admin: Account, **overrides: Any) -> dict[str, Any]:
    code = overrides.pop("manufacturer_code", f"MC-{uuid.uuid4().hex[:10]}")
    body = {
        "name": "Cardiomax 50mg",
        "category": "cardiovascular",
        "description": "Beta-blocker for hypertension management",
        "dosage": "50mg tablets",
        "packaging": "100 tablets/box",
        "indication": "Hypertension, Angina",
        "manufacturer_code": code,
        "price": "125.50",
        "stock_quantity": 1000,
        "min_order_quantity": 1,
        **overrides,
    }
    response = await client.post("/api/v1/products", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def address(
    client: httpx.AsyncClient, account: Account, address_type: str = "shipping"
) -> str:
    response = await client.post(
        "/api/v1/users/addresses",
        json={
            "address_type": address_type,
            "street_address": "12 Harbor Street",
            "city": "Boston",
            "state_province": "MA",
            "postal_code": "02110",
            "country": "United States",
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


@dataclass
class Buyer:
    account: Account
    address_id: str


async def buyer(factory: Factory, role: str = "customer", **kwargs: Any) -> Buyer:
    account = await factory.user(role, **kwargs)
    return Buyer(account, await address(factory.client, account))


async def place(
    client: httpx.AsyncClient,
    who: Buyer,
    items: list[tuple[str, int]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/api/v1/orders",
        json={
            "items": [{"product_id": pid, "quantity": qty} for pid, qty in items],
            "shipping_address_id": who.address_id,
        },
        headers={**who.account.headers, **(headers or {})},
    )
