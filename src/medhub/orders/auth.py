"""Who may do what with orders; which orders is the repository's scoping."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require, verified_principal
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal


async def _buyer(
    principal: Annotated[Principal, Depends(require(Action.ORDERS_CREATE))],
    _verified: Annotated[Principal, Depends(verified_principal)],
) -> Principal:
    # Orders commit money: the buyer's address must be verified, and a person (not
    # an API key) places them.
    principal.require_user_id()
    return principal


OrdersCreate = Annotated[Principal, Depends(_buyer)]
OrdersBulk = Annotated[Principal, Depends(require(Action.ORDERS_CREATE, Action.ORDERS_BULK))]
OrdersManage = Annotated[Principal, Depends(require(Action.ORDERS_MANAGE))]
