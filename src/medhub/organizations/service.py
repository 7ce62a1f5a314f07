"""Organizations (tenants): provisioning by super admins, membership managed by org admins.

The use cases live in `tenants` (super admins) and `members` (org admins); this
module holds what other domains ask of organizations and the rules both share.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.models.identity import Organization, OrganizationKind, Role
from medhub.organizations.repository import OrganizationRepository

# Which roles an organization of each kind employs.
STAFF_ROLES: dict[str, tuple[Role, ...]] = {
    OrganizationKind.supplier: (Role.admin, Role.sales, Role.distributor),
    OrganizationKind.pharmacy: (Role.admin, Role.pharmacist),
    OrganizationKind.hospital: (Role.admin, Role.doctor, Role.pharmacist),
    OrganizationKind.clinic: (Role.admin, Role.doctor, Role.pharmacist),
}

# The roles a person holds without an organization (the self-service sign-up roles).
UNAFFILIATED_ROLES: tuple[Role, ...] = (Role.patient, Role.customer, Role.doctor)


def allowed_roles(kind: str | None) -> tuple[Role, ...]:
    """The roles a member of an organization of `kind` (None: no organization) may hold."""
    if kind is None:
        return UNAFFILIATED_ROLES
    return STAFF_ROLES[kind]


async def status_of(session: AsyncSession, organization_id: uuid.UUID) -> str | None:
    result = await session.execute(
        select(Organization.status).where(Organization.id == organization_id)
    )
    return result.scalar_one_or_none()


async def by_slug(session: AsyncSession, slug: str) -> Organization | None:
    """An organization by slug, as far as the caller's context may read it (the demo
    seeding looks up the default supplier in system context)."""
    return await OrganizationRepository(session).get_by_slug(slug)


async def name_of(session: AsyncSession, organization_id: uuid.UUID) -> str | None:
    """An organization's name, as far as the caller's context may read it (its own
    staff, or system context)."""
    result = await session.execute(
        select(Organization.name).where(Organization.id == organization_id)
    )
    return result.scalar_one_or_none()


async def kind_of(session: AsyncSession, organization_id: uuid.UUID) -> str | None:
    """An organization's kind (hospital, clinic, pharmacy, supplier), as far as the
    caller's context may read it (its own staff, or system context)."""
    result = await session.execute(
        select(Organization.kind).where(Organization.id == organization_id)
    )
    return result.scalar_one_or_none()


async def default_supplier_id(session: AsyncSession, slug: str) -> uuid.UUID | None:
    """The active supplier with this slug, readable from any context (even anonymous)."""
    result = await session.execute(select(func.active_supplier_id(slug)))
    value = result.scalar_one_or_none()
    return uuid.UUID(str(value)) if value is not None else None


async def staff_ids(
    session: AsyncSession, organization_id: uuid.UUID, roles: Sequence[Role | str]
) -> list[uuid.UUID]:
    """Active members of an organization holding one of `roles`, oldest first, readable
    from any context: a buyer's order may need to alert its supplier's admins."""
    result = await session.execute(
        text("SELECT user_id FROM organization_staff(:org, :roles)"),
        {"org": organization_id, "roles": [str(role) for role in roles]},
    )
    return [row[0] for row in result]


async def platform_fee_percent_of(
    session: AsyncSession, organization_id: uuid.UUID
) -> Decimal | None:
    """The organization's own platform fee (percent), None for the platform default,
    as far as the caller's context may read it (its own staff, or system context)."""
    result = await session.execute(
        select(Organization.platform_fee_percent).where(Organization.id == organization_id)
    )
    return result.scalar_one_or_none()
