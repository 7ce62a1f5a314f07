"""Queries for inquiries and their messages.

Inquiries have no row-level security (an anonymous visitor creates them, and the
supplier's staff must then see them), so the scoping here is the only fence:
every read starts from `readable_statement(principal)`, and a row outside it is
simply not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Uuid, false, func, or_, select, true

from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.kit.repository import Repository
from medhub.models.inquiries import Inquiry, InquiryMessage, InquiryMessageKind


@dataclass(frozen=True)
class InquiryFilters:
    status: str | None = None
    priority: str | None = None
    assigned_to: uuid.UUID | None = None
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _contains(value: str) -> str:
    """An ILIKE pattern matching `value` anywhere, with its wildcards taken literally."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def staff_scope(principal: Principal) -> ColumnElement[bool]:
    """The inquiries `principal` handles as supplier staff (all of them for super admins)."""
    if principal.is_super_admin:
        return true()
    if principal.organization_id is None or not can(principal.role, Action.INQUIRIES_READ_ALL):
        return false()
    return Inquiry.supplier_id == principal.organization_id


def own_scope(principal: Principal) -> ColumnElement[bool]:
    """The inquiries `principal` sent themselves (an API key has sent none)."""
    if principal.user_id is None:
        return false()
    return Inquiry.user_id == principal.user_id


class InquiryRepository(Repository[Inquiry]):
    model = Inquiry

    def readable_statement(self, principal: Principal) -> Select[Any]:
        # Own inquiries always, plus the supplier's when the caller is its staff: a
        # pharmacy admin (who may read "all" inquiries of their own organization, of
        # which there are none) still sees the ones they sent to a supplier.
        return select(Inquiry).where(or_(own_scope(principal), staff_scope(principal)))

    def list_statement(self, principal: Principal, filters: InquiryFilters) -> Select[Any]:
        statement = self.readable_statement(principal)
        if filters.status:
            statement = statement.where(Inquiry.status == filters.status)
        if filters.priority:
            statement = statement.where(Inquiry.priority == filters.priority)
        if filters.assigned_to:
            statement = statement.where(Inquiry.assigned_to == filters.assigned_to)
        if filters.search:
            pattern = _contains(filters.search)
            statement = statement.where(
                or_(
                    Inquiry.subject.ilike(pattern),
                    Inquiry.name.ilike(pattern),
                    Inquiry.email.ilike(pattern),
                    Inquiry.reference_number.ilike(pattern),
                )
            )
        if filters.since:
            statement = statement.where(Inquiry.created_at >= filters.since)
        if filters.until:
            statement = statement.where(Inquiry.created_at <= filters.until)
        return statement.order_by(Inquiry.created_at.desc(), Inquiry.id.desc())

    async def get_readable(
        self, principal: Principal, inquiry_id: uuid.UUID, *, for_update: bool = False
    ) -> Inquiry | None:
        statement = self.readable_statement(principal).where(Inquiry.id == inquiry_id)
        if for_update:
            # Status changes, assignments and conversions of one inquiry take turns.
            statement = statement.with_for_update()
        inquiry: Inquiry | None = (await self.session.execute(statement)).scalar_one_or_none()
        return inquiry

    async def messages(
        self, inquiry_id: uuid.UUID, *, include_notes: bool
    ) -> Sequence[InquiryMessage]:
        statement = select(InquiryMessage).where(InquiryMessage.inquiry_id == inquiry_id)
        if not include_notes:
            statement = statement.where(InquiryMessage.kind == InquiryMessageKind.response.value)
        statement = statement.order_by(InquiryMessage.created_at, InquiryMessage.id)
        return (await self.session.execute(statement)).scalars().all()

    async def add_message(self, message: InquiryMessage) -> InquiryMessage:
        self.session.add(message)
        await self.session.flush()
        await self.session.refresh(message, ["created_at"])
        return message

    async def pick_assignee(self, supplier_id: uuid.UUID) -> uuid.UUID | None:
        """The supplier's least-loaded sales user (admins if it has none), or None.

        `inquiry_assignee` (migration 0005) is SECURITY DEFINER: it reads the supplier's
        staff, which RLS hides from a buyer's or anonymous context, and returns an id only.

        The function holds a per-supplier advisory lock until COMMIT, so concurrent
        submissions count each other's inquiries and the load stays balanced.
        """
        statement = select(func.inquiry_assignee(supplier_id, type_=Uuid))
        assignee: uuid.UUID | None = (await self.session.execute(statement)).scalar_one()
        return assignee
