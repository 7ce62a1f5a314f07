"""Two clinics, patients with completed appointments, and the audit rows the tests read."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.appointments.helpers import AdminSql
from tests.conftest import world_fixture
from tests.factories import Account, Factory
from tests.reviews.helpers import Visits, make_visits


@world_fixture
async def visits(client: httpx.AsyncClient, factory: Factory) -> Visits:
    return await make_visits(client, factory)


@world_fixture
async def super_admin(client: httpx.AsyncClient, factory: Factory) -> Account:
    return await factory.user("super_admin")


@pytest.fixture
def audit_actions(admin_sql: AdminSql) -> Callable[[uuid.UUID | str], list[tuple[Any, ...]]]:
    """(action, organization_id, user_id) of the audit rows about one review."""

    def read(entity_id: uuid.UUID | str) -> list[tuple[Any, ...]]:
        return admin_sql(
            "SELECT action, organization_id, user_id FROM activity_logs "
            "WHERE entity_id = %s ORDER BY created_at, id",
            [entity_id],
        )

    return read
