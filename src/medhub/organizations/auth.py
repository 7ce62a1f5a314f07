"""Who may provision tenants and manage members: people, never API keys.

An API key acts for an organization, not for someone; letting one create accounts
(with passwords a person could log in with) would turn a leaked key into a login.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal


async def _tenant_manager(
    principal: Annotated[Principal, Depends(require(Action.TENANTS_MANAGE))],
) -> Principal:
    principal.require_user_id()
    return principal


async def _users_manager(
    principal: Annotated[Principal, Depends(require(Action.USERS_MANAGE))],
) -> Principal:
    principal.require_user_id()
    return principal


TenantsManage = Annotated[Principal, Depends(_tenant_manager)]
UsersManage = Annotated[Principal, Depends(_users_manager)]
