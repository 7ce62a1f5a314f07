"""Who may move an order's money.

Buyers start payments of their own orders; the supplier's admins (PAYMENTS_MANAGE)
record bank transfers and refunds. Both move money, so both need a verified email
address. Which order is whose is the service's check (404 for others' orders).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import VerifiedPrincipal, require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal


async def _payer(principal: VerifiedPrincipal) -> Principal:
    # A person pays for their own order; an API key has no order of its own.
    principal.require_user_id()
    return principal


async def _manager(
    principal: Annotated[Principal, Depends(require(Action.PAYMENTS_MANAGE))],
    _verified: VerifiedPrincipal,
) -> Principal:
    return principal


PaymentStarter = Annotated[Principal, Depends(_payer)]
PaymentsManage = Annotated[Principal, Depends(_manager)]
