"""Organizations (tenants): provisioning by super admins, membership managed by org admins.

The use cases live in `tenants` (super admins) and `members` (org admins); this
module holds what other domains ask of organizations and the rules both share.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.models.identity import Organization, OrganizationKind, Role

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
