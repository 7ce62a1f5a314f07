from __future__ import annotations

import httpx
import pytest

from tests.consultations.helpers import Clinic, make_clinic
from tests.factories import Factory
from tests.prescriptions.helpers import Pharmacy, make_pharmacy


@pytest.fixture
async def clinic(client: httpx.AsyncClient, factory: Factory) -> Clinic:
    return await make_clinic(client, factory, "hospital")


@pytest.fixture
async def pharmacy(factory: Factory) -> Pharmacy:
    return await make_pharmacy(factory, name="Harbour Pharmacy")
