from __future__ import annotations

import httpx

from tests.conftest import world_fixture
from tests.consultations.helpers import Clinic, make_clinic
from tests.factories import Factory


@world_fixture
async def clinic(client: httpx.AsyncClient, factory: Factory) -> Clinic:
    return await make_clinic(client, factory, "hospital")


@world_fixture
async def other_clinic(client: httpx.AsyncClient, factory: Factory) -> Clinic:
    return await make_clinic(client, factory, "clinic")
