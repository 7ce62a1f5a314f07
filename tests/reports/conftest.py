"""Fixtures of the report tests: two suppliers with staff, a super admin, the seeder."""

from __future__ import annotations

import pytest

from tests.factories import Account, Factory
from tests.reports.helpers import Seeder, Supplier
from tests.reports.scenario import SalesWorld, build_sales_world


@pytest.fixture
def seeder(factory: Factory) -> Seeder:
    return Seeder(factory)


@pytest.fixture
async def supplier(seeder: Seeder) -> Supplier:
    return await seeder.supplier()


@pytest.fixture
async def other_supplier(seeder: Seeder) -> Supplier:
    return await seeder.supplier()


@pytest.fixture
async def super_admin(factory: Factory) -> Account:
    return await factory.user("super_admin")


@pytest.fixture
async def sales_world(seeder: Seeder, supplier: Supplier, other_supplier: Supplier) -> SalesWorld:
    return await build_sales_world(seeder, supplier, other_supplier)
