"""Suppliers with staff, and rows written straight into the database as the system.

The tests keep their own description of every row they insert (`SeedOrder`,
`SeedInquiry`), and compute the expected figures from it in Python, independently
of the SQL under test.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from medhub.kit.tenancy import set_system_context
from medhub.models.catalog import Product
from medhub.models.identity import Organization
from medhub.models.inquiries import Inquiry
from medhub.models.orders import Order, OrderItem
from tests.factories import Account, Factory


@dataclass
class Supplier:
    organization: Organization
    admin: Account
    sales: Account

    @property
    def id(self) -> uuid.UUID:
        return self.organization.id


@dataclass(frozen=True)
class Line:
    product: Product | None  # None: a product deleted since (its id is NULL on the line)
    quantity: int
    unit_price: Decimal
    name: str = ""
    category: str = ""

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def product_name(self) -> str:
        return self.product.name if self.product else self.name

    @property
    def product_category(self) -> str:
        return self.product.category if self.product else self.category


@dataclass
class SeedOrder:
    supplier: Supplier
    created_at: datetime
    lines: list[Line]
    status: str = "pending"
    payment_status: str = "pending"
    currency: str = "USD"
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def total(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal(0))

    @property
    def counts_as_sale(self) -> bool:
        return self.status != "cancelled" and self.payment_status != "refunded"


@dataclass
class SeedInquiry:
    supplier: Supplier
    created_at: datetime
    status: str = "pending"
    priority: str = "normal"
    order_id: uuid.UUID | None = None
    resolved_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


class Seeder:
    """Inserts catalog rows, orders and inquiries as the system, bypassing the APIs."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.database = factory.database

    async def supplier(self) -> Supplier:
        organization = await self.factory.organization("supplier")
        admin = await self.factory.user("admin", organization_id=organization.id)
        sales = await self.factory.user("sales", organization_id=organization.id)
        return Supplier(organization, admin, sales)

    async def product(
        self,
        supplier: Supplier,
        name: str,
        *,
        category: str = "cardiovascular",
        price: Decimal = Decimal("10.00"),
        stock: int = 100,
        reserved: int = 0,
        threshold: int = 0,
        active: bool = True,
    ) -> Product:
        product = Product(
            supplier_id=supplier.id,
            category=category,
            name=name,
            description=f"{name} description",
            dosage="10 mg",
            packaging="Box of 30",
            indication="Testing",
            manufacturer_code=self.factory.unique("MC-"),
            price=price,
            stock_quantity=stock,
            reserved_quantity=reserved,
            low_stock_threshold=threshold,
            is_active=active,
        )
        async with self.database.unit_of_work() as session:
            await set_system_context(session)
            session.add(product)
            await session.flush()
        return product

    async def orders(self, *orders: SeedOrder) -> None:
        async with self.database.unit_of_work() as session:
            await set_system_context(session)
            for seed in orders:
                session.add(
                    Order(
                        id=seed.id,
                        order_number=self.factory.unique("ORD-T-"),
                        supplier_id=seed.supplier.id,
                        total_amount=seed.total,
                        currency=seed.currency,
                        status=seed.status,
                        payment_status=seed.payment_status,
                        shipping_address={"city": "Testville"},
                        billing_address={"city": "Testville"},
                        created_at=seed.created_at,
                    )
                )
            # Orders before their lines: the mapper knows no relationship to order them by.
            await session.flush()
            for seed in orders:
                for line in seed.lines:
                    session.add(
                        OrderItem(
                            order_id=seed.id,
                            product_id=line.product.id if line.product else None,
                            product_name=line.product_name,
                            manufacturer_code=(
                                line.product.manufacturer_code if line.product else "GONE-1"
                            ),
                            category=line.product_category,
                            quantity=line.quantity,
                            unit_price=line.unit_price,
                            subtotal=line.subtotal,
                        )
                    )

    async def inquiries(self, *inquiries: SeedInquiry) -> None:
        async with self.database.unit_of_work() as session:
            await set_system_context(session)
            for seed in inquiries:
                session.add(
                    Inquiry(
                        id=seed.id,
                        reference_number=self.factory.unique("INQ-T-"),
                        supplier_id=seed.supplier.id,
                        name="Requester",
                        email="requester@example.org",
                        subject="Quote please",
                        message="How much for 100 boxes?",
                        status=seed.status,
                        priority=seed.priority,
                        order_id=seed.order_id,
                        resolved_at=seed.resolved_at,
                        created_at=seed.created_at,
                    )
                )
