"""A doctor's earnings, all from the ledger: held in escrow for their consultations,
releasable (released to them, not yet paid out: their payable balance), released and
paid out within a period."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.billing.repository import LedgerRepository
from medhub.billing.schemas import Earnings, EarningsRead
from medhub.kit.dates import DayRange


async def my_earnings(session: AsyncSession, principal: Principal, days: DayRange) -> EarningsRead:
    """GET /doctors/me/earnings?from=&to=: held and releasable are balances now; released
    and paid out are what happened within the days (all time without them)."""
    sums = await LedgerRepository(session).doctor_sums(
        principal.require_user_id(), since=days.start, until=days.end
    )
    return EarningsRead(
        period_from=days.first.isoformat() if days.first else None,
        period_to=days.last.isoformat() if days.last else None,
        earnings=[Earnings(currency=currency, **values) for currency, values in sums.items()],
    )
