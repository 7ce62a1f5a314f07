"""Organizations (tenants): provisioning by super admins, membership managed by org admins."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.models.identity import Organization


async def status_of(session: AsyncSession, organization_id: uuid.UUID) -> str | None:
    result = await session.execute(
        select(Organization.status).where(Organization.id == organization_id)
    )
    return result.scalar_one_or_none()
