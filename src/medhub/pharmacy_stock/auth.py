"""Who may keep a pharmacy's stock: the matrix's PHARMACY_STOCK_MANAGE (an
organization's admins and pharmacists), of an organization that keeps stock (not a
supplier: its admins manage the catalog's stock instead). Which rows is the
repository's scoping: always the caller's own organization's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require, verified_principal
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal
from medhub.kit.db import DbSession
from medhub.pharmacy_stock.service import stock_keeper_organization


async def _stock_keeper(
    principal: Annotated[Principal, Depends(require(Action.PHARMACY_STOCK_MANAGE))],
    session: DbSession,
) -> Principal:
    await stock_keeper_organization(session, principal)
    return principal


async def _reorderer(
    principal: Annotated[
        Principal, Depends(require(Action.PHARMACY_STOCK_MANAGE, Action.ORDERS_CREATE))
    ],
    _verified: Annotated[Principal, Depends(verified_principal)],
    session: DbSession,
) -> Principal:
    # A reorder is an order: it commits money, so (as for POST /orders) a person with
    # a verified address places it, not an API key.
    principal.require_user_id()
    await stock_keeper_organization(session, principal)
    return principal


PharmacyStockManage = Annotated[Principal, Depends(_stock_keeper)]
PharmacyReorder = Annotated[Principal, Depends(_reorderer)]
