"""Who may manage API keys: an organization's admins, in person."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal


async def _key_manager(
    principal: Annotated[Principal, Depends(require(Action.API_KEYS_MANAGE))],
) -> Principal:
    # A key that could mint or revoke keys would outlive its own revocation.
    principal.require_user_id()
    return principal


ApiKeysManage = Annotated[Principal, Depends(_key_manager)]
