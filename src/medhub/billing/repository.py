"""Appointment payments, disputes and the ledger: queries and scoping.

Row-level security already limits every table to the appointment's organization (and
the patient whose appointment it is; the ledger to the organization); the use cases
reach a payment through an appointment the caller was allowed to see, and the jobs in
the system context. The ledger is only ever inserted into (the table refuses the rest).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, insert, select

from medhub.authz.principal import Principal
from medhub.billing.schemas import LedgerFilters, Leg
from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.base import new_id
from medhub.models.billing import (
    LIVE_PAYMENT_STATES,
    AppointmentDispute,
    AppointmentPayment,
    AppointmentPaymentState,
    DisputeStatus,
    LedgerAccount,
    LedgerEntry,
    LedgerKind,
)

_LIVE = [state.value for state in LIVE_PAYMENT_STATES]


class PaymentRepository(Repository[AppointmentPayment]):
    model = AppointmentPayment

    async def live_for(
        self, appointment_id: uuid.UUID, *, for_update: bool = False
    ) -> AppointmentPayment | None:
        """The appointment's pending or captured payment (at most one: a unique index)."""
        statement = select(AppointmentPayment).where(
            AppointmentPayment.appointment_id == appointment_id,
            AppointmentPayment.status.in_(_LIVE),
        )
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def reference_taken(
        self, provider: str, reference: str, *, except_id: uuid.UUID | None = None
    ) -> bool:
        statement = select(AppointmentPayment.id).where(
            AppointmentPayment.provider == provider,
            AppointmentPayment.provider_reference == reference,
            AppointmentPayment.status == AppointmentPaymentState.captured.value,
        )
        if except_id is not None:
            statement = statement.where(AppointmentPayment.id != except_id)
        return (await self.session.execute(statement.limit(1))).first() is not None

    async def due_for_release(self, settled_before: datetime, limit: int) -> list[uuid.UUID]:
        """Appointments whose held money may go: captured, unreleased, settled before
        `settled_before` (now minus the hold), and not under an open dispute."""
        open_dispute = exists().where(
            AppointmentDispute.payment_id == AppointmentPayment.id,
            AppointmentDispute.status == DisputeStatus.open.value,
        )
        statement = (
            select(AppointmentPayment.appointment_id)
            .where(
                AppointmentPayment.status == AppointmentPaymentState.captured.value,
                AppointmentPayment.released_at.is_(None),
                AppointmentPayment.release_after.is_not(None),
                AppointmentPayment.release_after <= settled_before,
                ~open_dispute,
            )
            .order_by(AppointmentPayment.release_after, AppointmentPayment.id)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    async def expired_pending(self, moment: datetime, limit: int) -> list[uuid.UUID]:
        statement = (
            select(AppointmentPayment.appointment_id)
            .where(
                AppointmentPayment.status == AppointmentPaymentState.pending.value,
                AppointmentPayment.expires_at.is_not(None),
                AppointmentPayment.expires_at <= moment,
            )
            .order_by(AppointmentPayment.expires_at, AppointmentPayment.id)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())


class DisputeRepository(Repository[AppointmentDispute]):
    model = AppointmentDispute

    async def for_appointment(
        self, appointment_id: uuid.UUID, *, for_update: bool = False
    ) -> AppointmentDispute | None:
        statement = select(AppointmentDispute).where(
            AppointmentDispute.appointment_id == appointment_id
        )
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def open_for_payment(self, payment_id: uuid.UUID) -> bool:
        statement = select(AppointmentDispute.id).where(
            AppointmentDispute.payment_id == payment_id,
            AppointmentDispute.status == DisputeStatus.open.value,
        )
        return (await self.session.execute(statement.limit(1))).first() is not None


class LedgerRepository(Repository[LedgerEntry]):
    model = LedgerEntry

    async def append(
        self,
        legs: Sequence[Leg],
        *,
        kind: LedgerKind,
        organization_id: uuid.UUID,
        appointment_id: uuid.UUID | None,
        doctor_id: uuid.UUID | None,
        currency: str,
        at: datetime,
    ) -> uuid.UUID:
        """Insert one group; its id. A plain INSERT without RETURNING: a patient's
        context may add the legs of their own refund but not read the ledger back."""
        group_id = new_id()
        rows = [
            {
                "id": new_id(),
                "group_id": group_id,
                "organization_id": organization_id,
                "appointment_id": appointment_id,
                "doctor_id": doctor_id,
                "account": leg.account.value,
                "amount": leg.amount,
                "currency": currency,
                "kind": kind.value,
                "created_at": at,
            }
            for leg in legs
            if leg.amount != 0
        ]
        await self.session.execute(insert(LedgerEntry), rows)
        return group_id

    def _scoped(self, principal: Principal, filters: LedgerFilters) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if not principal.is_super_admin:
            conditions.append(LedgerEntry.organization_id == principal.organization_id)
        if filters.days.start is not None:
            conditions.append(LedgerEntry.created_at >= filters.days.start)
        if filters.days.end is not None:
            conditions.append(LedgerEntry.created_at < filters.days.end)
        if filters.account is not None:
            conditions.append(LedgerEntry.account == filters.account.value)
        if filters.appointment_id is not None:
            conditions.append(LedgerEntry.appointment_id == filters.appointment_id)
        return conditions

    async def page(
        self, principal: Principal, filters: LedgerFilters, params: PageParams
    ) -> tuple[Sequence[LedgerEntry], int]:
        statement = (
            select(LedgerEntry)
            .where(*self._scoped(principal, filters))
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.group_id, LedgerEntry.id)
        )
        return await self.paginate(statement, params)

    async def balances(
        self, principal: Principal, filters: LedgerFilters
    ) -> list[tuple[str, str, Decimal]]:
        """(account, currency, SUM) over the same rows as the list."""
        statement = (
            select(LedgerEntry.account, LedgerEntry.currency, func.sum(LedgerEntry.amount))
            .where(*self._scoped(principal, filters))
            .group_by(LedgerEntry.account, LedgerEntry.currency)
            .order_by(LedgerEntry.currency, LedgerEntry.account)
        )
        return [(a, c, Decimal(t)) for a, c, t in (await self.session.execute(statement)).all()]

    async def doctor_sums(
        self,
        doctor_id: uuid.UUID,
        *,
        since: datetime | None,
        until: datetime | None,
    ) -> dict[str, dict[str, Decimal]]:
        """Per currency: escrow and payable balances now (all time), and what was released
        to and paid out to the doctor within [since, until)."""
        in_period: list[ColumnElement[bool]] = []
        if since is not None:
            in_period.append(LedgerEntry.created_at >= since)
        if until is not None:
            in_period.append(LedgerEntry.created_at < until)
        period = and_(*in_period) if in_period else None

        def total(*conditions: Any) -> Any:
            return func.coalesce(func.sum(LedgerEntry.amount).filter(and_(*conditions)), 0)

        released_cond = [
            LedgerEntry.account == LedgerAccount.doctor_payable.value,
            LedgerEntry.kind == LedgerKind.release.value,
        ]
        payout_cond = [LedgerEntry.account == LedgerAccount.payouts.value]
        if period is not None:
            released_cond.append(period)
            payout_cond.append(period)
        statement = (
            select(
                LedgerEntry.currency,
                total(LedgerEntry.account == LedgerAccount.escrow.value),
                total(LedgerEntry.account == LedgerAccount.doctor_payable.value),
                total(*released_cond),
                total(*payout_cond),
            )
            .where(LedgerEntry.doctor_id == doctor_id)
            .group_by(LedgerEntry.currency)
            .order_by(LedgerEntry.currency)
        )
        rows = (await self.session.execute(statement)).all()
        return {
            currency: {
                "held": Decimal(held),
                "releasable": Decimal(payable),
                "released": Decimal(released),
                "paid_out": Decimal(paid),
            }
            for currency, held, payable, released, paid in rows
        }
