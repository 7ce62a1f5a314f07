"""Tenants with their admins, a super admin, and readers for errors and the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from medhub.models.identity import Organization
from tests.factories import Account, Factory

AdminSql = Callable[..., list[tuple[Any, ...]]]


@dataclass
class Tenant:
    organization: Organization
    admin: Account

    @property
    def id(self) -> uuid.UUID:
        return self.organization.id


async def make_tenant(factory: Factory, kind: str = "hospital", name: str | None = None) -> Tenant:
    organization = await factory.organization(kind, name=name)
    admin = await factory.user("admin", organization_id=organization.id)
    return Tenant(organization, admin)


@pytest.fixture
async def super_admin(factory: Factory) -> Account:
    return await factory.user("super_admin")


@pytest.fixture
async def hospital(factory: Factory) -> Tenant:
    return await make_tenant(factory, "hospital")


@pytest.fixture
async def other_hospital(factory: Factory) -> Tenant:
    return await make_tenant(factory, "hospital")


@pytest.fixture
def audit_actions(admin_sql: AdminSql) -> Callable[[uuid.UUID], list[tuple[Any, ...]]]:
    """(action, organization_id, user_id, metadata) of the audit rows about one entity."""

    def read(entity_id: uuid.UUID) -> list[tuple[Any, ...]]:
        return admin_sql(
            "SELECT action, organization_id, user_id, metadata FROM activity_logs "
            "WHERE entity_id = %s ORDER BY seq",
            [entity_id],
        )

    return read
