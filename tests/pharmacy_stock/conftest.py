"""Pharmacy stock fixtures: a pharmacy with its staff, a supplier's catalog product, and
helpers that receive stock and take it the way the dispensing domain will."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from medhub.authz.principal import AuthMethod, Principal
from medhub.kit.db import Database
from medhub.kit.tenancy import set_tenant_context
from medhub.pharmacy_stock import service
from tests import commerce
from tests.factories import Account, Factory

AdminSql = Callable[..., list[tuple[Any, ...]]]

INVENTORY = "/api/v1/pharmacy/inventory"
REORDER = f"{INVENTORY}/reorder"


def today() -> date:
    return datetime.now(UTC).date()


def in_days(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


@dataclass
class Pharmacy:
    id: uuid.UUID
    admin: Account
    pharmacist: Account

    def principal(self, account: Account | None = None) -> Principal:
        """The pharmacist (or `account`) as the dispensing domain's routes resolve them."""
        who = account or self.pharmacist
        return Principal(
            role=who.role,
            organization_id=self.id,
            method=AuthMethod.bearer,
            user_id=who.id,
        )


async def make_pharmacy(factory: Factory, kind: str = "pharmacy") -> Pharmacy:
    organization = await factory.organization(kind)
    admin = await factory.user("admin", organization_id=organization.id)
    pharmacist = await factory.user("pharmacist", organization_id=organization.id)
    return Pharmacy(organization.id, admin, pharmacist)


@pytest.fixture
async def pharmacy(factory: Factory) -> Pharmacy:
    return await make_pharmacy(factory)


@pytest.fixture
async def supplier(factory: Factory) -> commerce.Supplier:
    return await commerce.supplier(factory)


@pytest.fixture
async def product(client: httpx.AsyncClient, supplier: commerce.Supplier) -> dict[str, Any]:
    return await commerce.product(client, supplier.admin, name="Amoxil 500mg", price="12.50")


async def receive(
    client: httpx.AsyncClient,
    account: Account,
    product_id: str,
    batch_number: str,
    quantity: int,
    *,
    expiry_date: str | None = None,
    unit_cost: str | None = "2.40",
) -> httpx.Response:
    return await client.post(
        f"{INVENTORY}/receive",
        json={
            "product_id": product_id,
            "batch_number": batch_number,
            "expiry_date": expiry_date if expiry_date is not None else in_days(365),
            "quantity": quantity,
            "unit_cost": unit_cost,
        },
        headers=account.headers,
    )


async def stocked(
    client: httpx.AsyncClient, account: Account, product_id: str, batch_number: str, quantity: int
) -> dict[str, Any]:
    response = await receive(client, account, product_id, batch_number, quantity)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def take(
    database: Database,
    pharmacy: Pharmacy,
    product_id: str,
    quantity: int,
    *,
    batch_number: str | None = None,
    on: date | None = None,
    dispensation_id: uuid.UUID | None = None,
) -> list[service.TakenBatch]:
    """`take_for_dispensing` in a transaction of its own, under the application's role
    and the pharmacist's tenant context, as a dispensing request runs it."""
    principal = pharmacy.principal()
    async with database.unit_of_work() as session:
        await set_tenant_context(
            session,
            user_id=principal.user_id,
            organization_id=principal.organization_id,
            role=principal.role,
        )
        return await service.take_for_dispensing(
            session,
            principal,
            product_id=uuid.UUID(product_id),
            quantity=quantity,
            batch_number=batch_number,
            dispensation_id=dispensation_id or uuid.uuid4(),
            on=on or today(),
        )


async def reorder(
    client: httpx.AsyncClient,
    pharmacy: Pharmacy,
    address_id: str,
    items: list[tuple[str, int]],
    key: str | None = None,
) -> httpx.Response:
    return await client.post(
        REORDER,
        json={
            "items": [{"product_id": pid, "quantity": qty} for pid, qty in items],
            "shipping_address_id": address_id,
        },
        headers={**pharmacy.pharmacist.headers, **({"Idempotency-Key": key} if key else {})},
    )


async def deliver(
    client: httpx.AsyncClient, supplier: commerce.Supplier, order_id: str
) -> httpx.Response:
    url = f"/api/v1/orders/{order_id}/status"
    staff = supplier.sales.headers
    for step in (
        {"status": "confirmed"},
        {"status": "processing"},
        {"status": "shipped", "tracking_number": "JD0146000038", "carrier": "DHL"},
    ):
        response = await client.put(url, json=step, headers=staff)
        assert response.status_code == 200, response.text
    return await client.put(url, json={"status": "delivered"}, headers=staff)


def on_hand(admin_sql: AdminSql, pharmacy: Pharmacy, product_id: str) -> int:
    rows = admin_sql(
        "SELECT on_hand FROM pharmacy_stock WHERE organization_id = %s AND product_id = %s",
        [pharmacy.id, product_id],
    )
    return int(rows[0][0]) if rows else 0


def batches(admin_sql: AdminSql, pharmacy: Pharmacy, product_id: str) -> dict[str, int]:
    """Remaining units by batch number, straight from the database."""
    rows = admin_sql(
        "SELECT batch_number, remaining_quantity FROM pharmacy_batches"
        " WHERE organization_id = %s AND product_id = %s",
        [pharmacy.id, product_id],
    )
    return {str(number): int(remaining) for number, remaining in rows}


def low_stock_notifications(admin_sql: AdminSql, user_id: uuid.UUID) -> int:
    [(count,)] = admin_sql(
        "SELECT count(*) FROM notifications WHERE user_id = %s AND category = 'stock'"
        " AND title LIKE 'Low stock:%%'",
        [user_id],
    )
    return int(count)
