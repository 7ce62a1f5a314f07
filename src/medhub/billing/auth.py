"""Who may use the billing routes (the matrix is `authz/permissions.py`): patients pay
for and dispute their own consultations; an organization's admins record transfers and
read its ledger; they and super admins resolve disputes; approved doctors read their
own earnings. Which appointment is whose is the appointments domain's scoping (404)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from medhub.authz.dependencies import current_principal, require_verified
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.doctors.auth import approved_doctor
from medhub.kit.errors import PermissionDenied


def _allowed(
    action: Action, *, verified: bool = False, organization: bool = False
) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if not can(principal.role, action):
            raise PermissionDenied(f"Your role ({principal.role}) may not {action.value}")
        if verified:
            # Moving money needs a verified address, as for orders.
            require_verified(principal)
        if organization and not principal.is_super_admin and principal.organization_id is None:
            raise PermissionDenied("This belongs to an organization, and you have none")
        return principal

    dependency.__name__ = f"billing_{action.name.lower()}"
    return dependency


async def _earner(request: Request) -> Principal:
    principal = await current_principal(request)
    if not can(principal.role, Action.EARNINGS_READ):
        raise PermissionDenied(f"Your role ({principal.role}) may not read earnings")
    return await approved_doctor(principal)


BillingPayer = Annotated[Principal, Depends(_allowed(Action.BILLING_PAY, verified=True))]
BillingRecorder = Annotated[
    Principal, Depends(_allowed(Action.BILLING_RECORD, verified=True, organization=True))
]
LedgerReader = Annotated[
    Principal, Depends(_allowed(Action.BILLING_LEDGER_READ, organization=True))
]
DisputeResolver = Annotated[
    Principal, Depends(_allowed(Action.DISPUTES_RESOLVE, verified=True, organization=True))
]
EarningsReader = Annotated[Principal, Depends(_earner)]
