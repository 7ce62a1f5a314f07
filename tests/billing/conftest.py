"""Clinics with a bookable paid doctor (80.00 EUR), patients, and billing's clock."""

from __future__ import annotations

import httpx
import pytest

from medhub.billing import service
from tests.appointments.helpers import Clinic, make_clinic, make_patient
from tests.billing.helpers import Clock
from tests.conftest import world_fixture
from tests.factories import Account, Factory


@world_fixture
async def clinic(client: httpx.AsyncClient, factory: Factory) -> Clinic:
    return await make_clinic(client, factory)


@world_fixture
async def other_clinic(client: httpx.AsyncClient, factory: Factory) -> Clinic:
    return await make_clinic(client, factory, "clinic")


@world_fixture
async def patient(client: httpx.AsyncClient, factory: Factory) -> Account:
    return await make_patient(client, factory)


@world_fixture
async def bob(client: httpx.AsyncClient, factory: Factory) -> Account:
    """Another patient."""
    return await make_patient(client, factory, "Bob Roe")


@world_fixture
async def super_admin(client: httpx.AsyncClient, factory: Factory) -> Account:
    return await factory.user("super_admin")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Billing's now(), from the wall clock until a test moves it."""
    moving = Clock()
    monkeypatch.setattr(service, "now", moving.now)
    return moving
