"""Suppliers with their staff, products and orders to refer to, and readers for the
rows an inquiry leaves behind (notifications, audit)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import Account, Factory

API = "/api/v1/inquiries"
AdminSql = Callable[..., list[tuple[Any, ...]]]
# The supplier the migrations create; inquiries without a product go to it.
DEFAULT_SUPPLIER_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
REFERENCE = re.compile(r"^INQ-\d{4}-\d{6}$")


@dataclass
class Supplier:
    id: uuid.UUID
    admin: Account
    sales: Account


def inquiry_body(**overrides: Any) -> dict[str, Any]:
    """The seed's example body."""
    body: dict[str, Any] = {
        "name": "John Doe",
        "email": "john.doe@example.org",
        "company": "ABC Pharmacy",
        "phone": "+1-555-0123",
        "subject": "Bulk order inquiry",
        "message": "We need 5000 units of Cardiomax 50mg...",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


async def submit(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Submit an inquiry that must be accepted; its `data`."""
    response = await client.post(API, json=inquiry_body(**overrides), headers=headers or {})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def make_supplier(factory: Factory, organization_id: uuid.UUID | None = None) -> Supplier:
    if organization_id is None:
        organization_id = (await factory.organization("supplier")).id
    admin = await factory.user("admin", organization_id=organization_id)
    sales = await factory.user("sales", organization_id=organization_id)
    return Supplier(organization_id, admin, sales)


@pytest.fixture
async def medpharm(factory: Factory) -> Supplier:
    """Staff for the default supplier (which the migrations create without any)."""
    return await make_supplier(factory, DEFAULT_SUPPLIER_ID)


@pytest.fixture
async def other_supplier(factory: Factory) -> Supplier:
    return await make_supplier(factory)


@pytest.fixture
async def customer(factory: Factory) -> Account:
    return await factory.user("customer", full_name="Carla Customer")


@pytest.fixture
async def other_customer(factory: Factory) -> Account:
    return await factory.user("customer")


def make_product(admin_sql: AdminSql, supplier_id: uuid.UUID, *, active: bool = True) -> uuid.UUID:
    product_id = uuid.uuid4()
    admin_sql(
        "INSERT INTO products (id, supplier_id, category, name, description, dosage, packaging,"
        " indication, manufacturer_code, price, stock_quantity, is_active)"
        " VALUES (%s, %s, 'cardiovascular', 'Cardiomax', 'Beta blocker', '50mg',"
        " 'Box of 30', 'Hypertension', %s, 120.00, 100, %s)",
        [product_id, supplier_id, f"CM-{product_id.hex[:10]}", active],
    )
    return product_id


def make_order(admin_sql: AdminSql, supplier_id: uuid.UUID, user_id: uuid.UUID) -> uuid.UUID:
    order_id = uuid.uuid4()
    admin_sql(
        "INSERT INTO orders (id, order_number, user_id, supplier_id, total_amount, currency,"
        " pricing_tier, status, payment_status, payment_provider, shipping_address,"
        " billing_address)"
        " VALUES (%s, %s, %s, %s, 240.00, 'USD', 'list', 'pending', 'pending', 'manual',"
        " '{}', '{}')",
        [order_id, f"ORD-2026-{order_id.int % 1_000_000:06d}", user_id, supplier_id],
    )
    return order_id


def inquiry_row(admin_sql: AdminSql, inquiry_id: str | uuid.UUID) -> dict[str, Any]:
    rows = admin_sql(
        "SELECT supplier_id, user_id, product_id, name, email, company, phone, status,"
        " priority, assigned_to, order_id, resolved_at, closed_at, reference_number"
        " FROM inquiries WHERE id = %s",
        [inquiry_id],
    )
    assert len(rows) == 1
    keys = (
        "supplier_id",
        "user_id",
        "product_id",
        "name",
        "email",
        "company",
        "phone",
        "status",
        "priority",
        "assigned_to",
        "order_id",
        "resolved_at",
        "closed_at",
        "reference_number",
    )
    return dict(zip(keys, rows[0], strict=True))


def preload(
    admin_sql: AdminSql,
    supplier_id: uuid.UUID,
    assignee: uuid.UUID,
    *,
    count: int,
    status: str = "pending",
) -> None:
    """Inquiries already on someone's desk (written as the owner, bypassing the API)."""
    for _ in range(count):
        inquiry_id = uuid.uuid4()
        admin_sql(
            "INSERT INTO inquiries (id, reference_number, supplier_id, name, email, subject,"
            " message, status, priority, assigned_to)"
            " VALUES (%s, %s, %s, 'Old', 'old@example.org', 'Old', 'Old', %s, 'normal', %s)",
            [inquiry_id, f"TEST-{inquiry_id.hex}", supplier_id, status, assignee],
        )


def notifications_of(admin_sql: AdminSql, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = admin_sql(
        "SELECT category, title, body, data FROM notifications WHERE user_id = %s ORDER BY seq",
        [user_id],
    )
    return [
        {
            "category": category,
            "title": title,
            "body": body,
            "data": data if isinstance(data, dict) else json.loads(data),
        }
        for category, title, body, data in rows
    ]


def audit_rows(admin_sql: AdminSql, entity_id: str | uuid.UUID) -> list[dict[str, Any]]:
    rows = admin_sql(
        "SELECT action, organization_id, user_id, metadata FROM activity_logs"
        " WHERE entity_id = %s ORDER BY seq",
        [entity_id],
    )
    return [
        {"action": action, "organization_id": org, "user_id": user, "metadata": metadata}
        for action, org, user, metadata in rows
    ]
