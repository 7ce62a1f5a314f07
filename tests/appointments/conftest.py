"""A clinic with a bookable doctor, patients, and the rows the tests read."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.appointments.helpers import AdminSql, Clinic, make_clinic, make_patient
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


@pytest.fixture
def audit_rows(admin_sql: AdminSql) -> Callable[[uuid.UUID | str], list[tuple[Any, ...]]]:
    """(action, organization_id, user_id, metadata) of the audit rows about one entity."""

    def read(entity_id: uuid.UUID | str) -> list[tuple[Any, ...]]:
        return admin_sql(
            "SELECT action, organization_id, user_id, metadata FROM activity_logs "
            "WHERE entity_id = %s ORDER BY created_at, id",
            [entity_id],
        )

    return read
