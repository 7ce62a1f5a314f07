"""The tenant context row-level security reads, set per transaction.

`set_config(name, value, true)` is transaction-local: it vanishes at COMMIT or
ROLLBACK, so a pooled connection never carries one request's context into the
next. Without any context every tenant table shows no rows.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SET_CONTEXT = text(
    "SELECT set_config('app.user_id', :user_id, true), set_config('app.org_id', :org_id, true),"
    " set_config('app.role', :role, true), set_config('app.system', :system, true)"
)


async def set_tenant_context(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    role: str,
) -> None:
    await session.execute(
        _SET_CONTEXT,
        {
            "user_id": str(user_id) if user_id else "",
            "org_id": str(organization_id) if organization_id else "",
            "role": role,
            "system": "on" if role == "super_admin" else "",
        },
    )


async def set_system_context(session: AsyncSession) -> None:
    """Cross-tenant access for the few flows that must find a row before knowing its
    tenant: login by email, refresh-token and reset-token lookups, provisioning."""
    await session.execute(text("SELECT set_config('app.system', 'on', true)"))
