from __future__ import annotations

import httpx

from tests.conftest import world_fixture
from tests.consultations.helpers import Clinic, make_clinic
from tests.factories import Factory
from tests.prescriptions.helpers import Pharmacy, make_pharmacy


@world_fixture
async def clinic(client: httpx.AsyncClient, factory: Factory) -> Clinic:
    return await make_clinic(client, factory, "hospital")


@world_fixture
async def pharmacy(_client: httpx.AsyncClient, factory: Factory) -> Pharmacy:
    return await make_pharmacy(factory, name="Harbour Pharmacy")
