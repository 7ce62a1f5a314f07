"""A pharmacy's stock as other domains and the read endpoints see it: taking units for a
dispensation (first-expiry-first-out), what is on hand, the inventory list and a
product's movements. Receiving, adjusting and the reorder point are in `managing`;
reorders and their delivery in `restock`.

The stock is the caller's organization's: any organization that employs pharmacists
(a pharmacy, a hospital, a clinic) keeps one, a supplier does not.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.kit.errors import ErrorDetail, NotFound, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.models.identity import Role
from medhub.models.pharmacy_stock import PharmacyBatch, PharmacyMovementKind
from medhub.organizations import service as organizations
from medhub.organizations import tenants
from medhub.pharmacy_stock import ledger
from medhub.pharmacy_stock.exceptions import (
    BatchExpired,
    BatchNotFound,
    InsufficientStock,
    NotAStockHolder,
    StockItemNotFound,
)
from medhub.pharmacy_stock.repository import StockRepository
from medhub.pharmacy_stock.schemas import InventoryFilters, InventoryItem, MovementRead

_CHECKED_KEEPER = "medhub.pharmacy_stock.checked_keeper"


@dataclass(frozen=True)
class TakenBatch:
    batch_number: str
    expiry_date: date | None
    quantity: int
    unit_cost: Decimal | None


async def stock_keeper_organization(session: AsyncSession, principal: Principal) -> uuid.UUID:
    """The organization whose stock the caller keeps, or 403.

    Organizations that employ pharmacists keep stock (organizations.STAFF_ROLES): a
    pharmacist's is one by definition; an admin's kind is looked up (one primary-key
    read of their own organization, which row-level security lets them see).
    """
    organization_id = principal.organization_id
    if organization_id is None:
        raise NotAStockHolder("Pharmacy stock belongs to an organization, and you have none")
    if principal.role == Role.pharmacist or session.info.get(_CHECKED_KEEPER) == principal:
        return organization_id
    try:
        organization = await tenants.get_tenant(session, organization_id)
    except NotFound as error:
        raise NotAStockHolder() from error
    if Role.pharmacist not in organizations.allowed_roles(organization.kind):
        raise NotAStockHolder(
            f"A {organization.kind} organization keeps no pharmacy stock: its stock is the"
            " catalog's"
        )
    # The route's dependency checked first; its use case asks again for free.
    session.info[_CHECKED_KEEPER] = principal
    return organization_id


def _first_expiry_first_out(
    batches: Sequence[PharmacyBatch], quantity: int
) -> list[tuple[PharmacyBatch, int]] | None:
    """How much to take from which batch (they come first to expire first), or None
    when together they hold less than `quantity`."""
    plan: list[tuple[PharmacyBatch, int]] = []
    wanted = quantity
    for batch in batches:
        if wanted == 0:
            break
        taken = min(batch.remaining_quantity, wanted)
        plan.append((batch, taken))
        wanted -= taken
    return plan if wanted == 0 else None


def _unknown_batch(batch_number: str) -> BatchNotFound:
    return BatchNotFound(
        f"Batch {batch_number} is not in your stock of this product",
        details=[ErrorDetail(field="batch_number", message="not in your stock")],
    )


def _short(usable: int) -> InsufficientStock:
    return InsufficientStock(
        f"Only {usable} unexpired in stock",
        details=[ErrorDetail(field="quantity", message=f"only {usable} available")],
    )


async def _named_batch_plan(
    repository: StockRepository,
    organization_id: uuid.UUID,
    *,
    product_id: uuid.UUID,
    batch_number: str,
    quantity: int,
    on: date,
) -> list[tuple[PharmacyBatch, int]]:
    batch = await repository.batch(organization_id, product_id, batch_number)
    if batch is None:
        raise _unknown_batch(batch_number)
    if ledger.is_expired(batch.expiry_date, on):
        raise BatchExpired(
            f"Batch {batch_number} expired on {batch.expiry_date}",
            details=[ErrorDetail(field="batch_number", message=f"expired {batch.expiry_date}")],
        )
    if batch.remaining_quantity < quantity:
        raise InsufficientStock(
            f"Batch {batch_number} has {batch.remaining_quantity} left",
            details=[
                ErrorDetail(field="quantity", message=f"only {batch.remaining_quantity} left")
            ],
        )
    return [(batch, quantity)]


async def take_for_dispensing(
    session: AsyncSession,
    principal: Principal,
    *,
    product_id: uuid.UUID,
    quantity: int,
    batch_number: str | None,
    dispensation_id: uuid.UUID,
    on: date,
) -> list[TakenBatch]:
    """Take `quantity` of a product out of the caller's organization's stock, for a
    dispensation: from the named batch, or first-expiry-first-out over the batches
    that have not expired on `on` (a batch expires on its expiry date).

    All or nothing: `InsufficientStock` (409) when there is not enough, `BatchExpired`
    (409) for an expired named batch, `BatchNotFound` (404) for a batch this
    organization does not hold. One `dispensed` movement per batch touched.

    Takes of one product take turns on its stock row's lock (held to the end of the
    caller's transaction), so concurrent takes never oversell. A transaction taking
    several products must take them in product-id order (as `ledger.by_product` sorts)
    so that two such transactions cannot deadlock.
    """
    if quantity <= 0:
        raise ValidationFailed(
            "Nothing to take", details=[ErrorDetail(field="quantity", message="must be positive")]
        )
    organization_id = await stock_keeper_organization(session, principal)
    repository = StockRepository(session)
    stock = await repository.lock_stock(organization_id, product_id)
    if stock is None and batch_number is not None:
        raise _unknown_batch(batch_number)
    if stock is None:
        raise _short(0)
    if batch_number is not None:
        plan = await _named_batch_plan(
            repository,
            organization_id,
            product_id=product_id,
            batch_number=batch_number,
            quantity=quantity,
            on=on,
        )
    else:
        batches = await repository.usable_batches(organization_id, product_id, on)
        found = _first_expiry_first_out(batches, quantity)
        if found is None:
            raise _short(sum(batch.remaining_quantity for batch in batches))
        plan = found
    change = ledger.Change(
        kind=PharmacyMovementKind.dispensed,
        actor_id=principal.actor_id,
        reason="Dispensed",
        dispensation_id=dispensation_id,
    )
    taken: list[TakenBatch] = []
    for batch, amount in plan:
        await ledger.change_batch(session, stock, batch, -amount, change)
        taken.append(TakenBatch(batch.batch_number, batch.expiry_date, amount, batch.unit_cost))
    await ledger.after_change(session, stock, on)
    return taken


async def stock_of(session: AsyncSession, principal: Principal, product_id: uuid.UUID) -> int:
    """Units of the product the caller's organization can still dispense today."""
    organization_id = await stock_keeper_organization(session, principal)
    return await StockRepository(session).usable_quantity(
        organization_id, product_id, ledger.today()
    )


async def list_inventory(
    session: AsyncSession, principal: Principal, filters: InventoryFilters, params: PageParams
) -> tuple[list[InventoryItem], int]:
    organization_id = await stock_keeper_organization(session, principal)
    on = ledger.today()
    repository = StockRepository(session)
    rows, total = await repository.inventory_page(
        repository.inventory_statement(organization_id, filters, on), params
    )
    return await ledger.inventory_items(session, organization_id, rows, on), total


async def get_inventory_item(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID
) -> InventoryItem:
    """One product of the caller's stock with its batches; 404 for a product the
    organization has never stocked."""
    organization_id = await stock_keeper_organization(session, principal)
    item = await ledger.inventory_item(session, organization_id, product_id)
    if item is None:
        raise StockItemNotFound()
    return item


async def list_movements(
    session: AsyncSession,
    principal: Principal,
    product_id: uuid.UUID,
    kind: PharmacyMovementKind | None,
    params: PageParams,
) -> tuple[list[MovementRead], int]:
    """A product's movements in the caller's stock, newest first; 404 for a product the
    organization has never stocked (another pharmacy's stock is not shown)."""
    organization_id = await stock_keeper_organization(session, principal)
    repository = StockRepository(session)
    if await repository.find_stock(organization_id, product_id) is None:
        raise StockItemNotFound()
    rows, total = await repository.movements_page(
        repository.movements_statement(organization_id, product_id, kind.value if kind else None),
        params,
    )
    return [ledger.movement_view(movement, number) for movement, number in rows], total
