"""Payment, invoice and webhook-event queries.

Row-level security already limits payments and invoices to what the caller may
see of their order; the use cases reach them through an order the caller was
allowed to see (or, for a verified webhook, in system context).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.kit.repository import Repository
from medhub.models.orders import (
    Invoice,
    Payment,
    PaymentAttemptStatus,
    PaymentWebhookEvent,
)


class PaymentRepository(Repository[Payment]):
    model = Payment

    def for_order_statement(self, order_id: uuid.UUID) -> Select[Payment]:
        return (
            select(Payment)
            .where(Payment.order_id == order_id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
        )

    async def latest_with_status(
        self, order_id: uuid.UUID, status: PaymentAttemptStatus, *, for_update: bool = False
    ) -> Payment | None:
        statement = (
            select(Payment)
            .where(Payment.order_id == order_id, Payment.status == status)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(1)
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_reference(
        self, provider: str, reference: str, *, for_update: bool = False
    ) -> Payment | None:
        statement = select(Payment).where(
            Payment.provider == provider, Payment.provider_reference == reference
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def reference_taken(
        self, provider: str, reference: str, *, except_id: uuid.UUID | None = None
    ) -> bool:
        statement = select(Payment.id).where(
            Payment.provider == provider, Payment.provider_reference == reference
        )
        if except_id is not None:
            statement = statement.where(Payment.id != except_id)
        return (await self.session.execute(statement.limit(1))).first() is not None


class InvoiceRepository(Repository[Invoice]):
    model = Invoice

    async def for_order(self, order_id: uuid.UUID) -> Invoice | None:
        statement = select(Invoice).where(Invoice.order_id == order_id)
        return (await self.session.execute(statement)).scalar_one_or_none()


class WebhookEventRepository:
    """Provider events already handled. Not a `Repository`: the table has no id."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, provider: str, event_id: str, event_type: str) -> bool:
        """Record the event; False if it was already recorded (a replay).

        A concurrent delivery of the same event waits on this row's lock until the
        first one commits (then it is a replay) or rolls back (then it goes ahead).
        """
        statement = (
            insert(PaymentWebhookEvent)
            .values(provider=provider, event_id=event_id, event_type=event_type)
            .on_conflict_do_nothing()
            .returning(PaymentWebhookEvent.event_id)
        )
        return (await self.session.execute(statement)).first() is not None
