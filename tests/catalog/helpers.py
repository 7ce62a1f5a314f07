"""Readers and small builders shared by the catalog tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.factories import Account

API = "/api/v1"
PRODUCTS = f"{API}/products"
CATEGORIES = f"{API}/categories"
AdminSql = Callable[..., list[tuple[Any, ...]]]
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000dead")


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def today() -> date:
    """The date the catalog's tasks go by (UTC)."""
    return datetime.now(UTC).date()


def in_days(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


def certification_body(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "FDA",
        "certificate_number": "FDA-2024-001234",
        "issue_date": in_days(-300),
        "expiry_date": in_days(400),
        "certificate_url": "https://certs.example.org/fda-001234.pdf",
        **overrides,
    }


async def add_certification(
    client: httpx.AsyncClient, admin: Account, product_id: str, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{PRODUCTS}/{product_id}/certifications",
        json=certification_body(**overrides),
        headers=admin.headers,
    )
    result: dict[str, Any] = data(response, 201)
    return result


async def adjust(
    client: httpx.AsyncClient, admin: Account, product_id: str, quantity: int, reason: str = "Count"
) -> httpx.Response:
    return await client.post(
        f"{PRODUCTS}/{product_id}/stock-adjustments",
        json={"quantity": quantity, "reason": reason},
        headers=admin.headers,
    )


async def fetch(
    client: httpx.AsyncClient, product_id: str, account: Account | None = None
) -> dict[str, Any]:
    headers = account.headers if account else {}
    result: dict[str, Any] = data(await client.get(f"{PRODUCTS}/{product_id}", headers=headers))
    return result


async def listing(
    client: httpx.AsyncClient, account: Account | None = None, **params: Any
) -> dict[str, Any]:
    headers = account.headers if account else {}
    result: dict[str, Any] = data(await client.get(PRODUCTS, params=params, headers=headers))
    return result


async def stock_notifications(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    """The account's in-app notifications of the stock category, newest first."""
    response = await client.get(
        f"{API}/notifications", params={"category": "stock", "limit": 100}, headers=account.headers
    )
    items: list[dict[str, Any]] = data(response)["notifications"]
    return items
