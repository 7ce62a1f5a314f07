from __future__ import annotations

import httpx
import pytest

from tests import commerce
from tests.documents.helpers import Catalog
from tests.factories import Factory


@pytest.fixture
async def catalog(factory: Factory, client: httpx.AsyncClient) -> Catalog:
    """A supplier (admin, sales) with one active product."""
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    return Catalog(supplier=supplier, product_id=str(product["id"]))
