"""The double-entry ledger: posting a money movement as one balanced group, and
reading entries and balances.

A group's legs sum to zero (checked here before the INSERT, and again by the
database at COMMIT: a deferred constraint trigger refuses an unbalanced group,
whatever wrote it). Balances are SUMs over the entries, never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.billing import service
from medhub.billing.repository import LedgerRepository
from medhub.billing.schemas import AccountBalance, LedgerEntryRead, LedgerFilters, Leg
from medhub.kit.pagination import PageParams
from medhub.models.appointments import Appointment
from medhub.models.billing import LedgerAccount, LedgerKind

A = LedgerAccount


async def post(
    session: AsyncSession, kind: LedgerKind, appointment: Appointment, legs: Sequence[Leg]
) -> uuid.UUID:
    """Post one movement about `appointment` (in its fee's currency); the group's id."""
    if sum((leg.amount for leg in legs), Decimal(0)) != 0:
        # A bug, not a client error: the database would refuse the COMMIT anyway.
        raise ValueError(f"unbalanced ledger group: {legs}")
    return await LedgerRepository(session).append(
        legs,
        kind=kind,
        organization_id=appointment.organization_id,
        appointment_id=appointment.id,
        doctor_id=appointment.doctor_id,
        currency=appointment.currency,
        at=service.now(),
    )


async def capture(session: AsyncSession, appointment: Appointment, amount: Decimal) -> uuid.UUID:
    """The patient's money arrived: into escrow."""
    legs = [Leg(A.patient_payments, -amount), Leg(A.escrow, amount)]
    return await post(session, LedgerKind.capture, appointment, legs)


async def refund(session: AsyncSession, appointment: Appointment, amount: Decimal) -> uuid.UUID:
    """Part (or all) of the held money goes back to the patient."""
    legs = [Leg(A.escrow, -amount), Leg(A.refunds, amount)]
    return await post(session, LedgerKind.refund, appointment, legs)


async def release(
    session: AsyncSession, appointment: Appointment, share: Decimal, fee: Decimal
) -> uuid.UUID:
    """The held rest leaves escrow: the doctor is owed `share`, the platform keeps `fee`."""
    legs = [
        Leg(A.escrow, -(share + fee)),
        Leg(A.doctor_payable, share),
        Leg(A.platform_revenue, fee),
    ]
    return await post(session, LedgerKind.release, appointment, legs)


async def list_entries(
    session: AsyncSession, principal: Principal, filters: LedgerFilters, params: PageParams
) -> tuple[list[LedgerEntryRead], int, list[AccountBalance]]:
    """GET /billing/ledger: an organization admin's organization's entries, a super
    admin's all; the balances per account over the same filter (not just the page)."""
    repository = LedgerRepository(session)
    entries, total = await repository.page(principal, filters, params)
    balances = [
        AccountBalance(account=account, currency=currency, balance=balance)
        for account, currency, balance in await repository.balances(principal, filters)
    ]
    return [LedgerEntryRead.of(entry) for entry in entries], total, balances
