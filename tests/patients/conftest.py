"""Care organizations with their staff, patient accounts, audit rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from medhub.kit.db import Database
from medhub.kit.tenancy import set_tenant_context
from medhub.models.identity import Organization
from medhub.models.patients import PatientProfile
from tests.factories import Account, Factory
from tests.patients.helpers import AdminSql


class Tenant:
    """A care organization with an admin and an approved doctor, both logged in."""

    def __init__(self, organization: Organization, admin: Account, doctor: Account) -> None:
        self.organization = organization
        self.admin = admin
        self.doctor = doctor

    @property
    def id(self) -> uuid.UUID:
        return self.organization.id


async def make_tenant(factory: Factory, kind: str = "hospital") -> Tenant:
    organization = await factory.organization(kind)
    admin = await factory.user("admin", organization_id=organization.id)
    doctor = await factory.user("doctor", organization_id=organization.id, full_name="Dr. Ada")
    return Tenant(organization, admin, doctor)


@pytest.fixture
async def hospital(factory: Factory) -> Tenant:
    return await make_tenant(factory, "hospital")


@pytest.fixture
async def other_hospital(factory: Factory) -> Tenant:
    return await make_tenant(factory, "clinic")


async def save_profile(
    database: Database, account: Account, *, date_of_birth: date | None, **fields: Any
) -> None:
    """The patient's own profile, written as the patient (row-level security applies)."""
    async with database.unit_of_work() as session:
        await set_tenant_context(session, user_id=account.id, organization_id=None, role="patient")
        session.add(PatientProfile(user_id=account.id, date_of_birth=date_of_birth, **fields))


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
