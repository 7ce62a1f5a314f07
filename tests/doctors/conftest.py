"""Organizations with admins, a clock the slot computation reads, audit rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from medhub.doctors import directory
from medhub.models.identity import Organization
from tests.doctors.helpers import AdminSql
from tests.factories import Account, Factory


class Tenant:
    def __init__(self, organization: Organization, admin: Account) -> None:
        self.organization = organization
        self.admin = admin

    @property
    def id(self) -> uuid.UUID:
        return self.organization.id


async def make_tenant(factory: Factory, kind: str = "hospital") -> Tenant:
    organization = await factory.organization(kind)
    admin = await factory.user("admin", organization_id=organization.id)
    return Tenant(organization, admin)


@pytest.fixture
async def hospital(factory: Factory) -> Tenant:
    return await make_tenant(factory, "hospital")


@pytest.fixture
async def other_hospital(factory: Factory) -> Tenant:
    return await make_tenant(factory, "clinic")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Stand at a chosen instant (what the free slots count as now)."""

    def stand_at(moment: datetime) -> None:
        monkeypatch.setattr(directory, "now", lambda: moment)

    return stand_at


@pytest.fixture
def audit_rows(admin_sql: AdminSql) -> Callable[[uuid.UUID], list[tuple[Any, ...]]]:
    """(action, organization_id, user_id, metadata) of the audit rows about one entity."""

    def read(entity_id: uuid.UUID) -> list[tuple[Any, ...]]:
        return admin_sql(
            "SELECT action, organization_id, user_id, metadata FROM activity_logs "
            "WHERE entity_id = %s ORDER BY created_at, id",
            [entity_id],
        )

    return read
