"""Inquiries and quote requests: reading them, and what every use case shares.

The use cases live beside this module: `submitting` (anonymous or signed-in
requests, assignment, acknowledgement) and `handling` (the supplier's staff:
status, assignment, answers, internal notes, conversion to an order). Every change
and everything it causes (audit row, email, notifications) happens in the caller's
transaction: a rolled-back request leaves no trace and sends nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.permissions import acts_for_supplier
from medhub.authz.principal import Principal
from medhub.inquiries.exceptions import (
    InquiryNotFound,
    InvalidField,
)
from medhub.inquiries.repository import InquiryFilters, InquiryRepository
from medhub.inquiries.schemas import (
    InquiryDetail,
    InquiryMessageRead,
    InquiryRead,
)
from medhub.kit.pagination import PageParams
from medhub.models.inquiries import (
    Inquiry,
    InquiryMessage,
    InquiryPriority,
    InquiryStatus,
)

ASSIGNED_TO_ME = "me"


def inquiry_link(inquiry: Inquiry) -> dict[str, str]:
    return {"link": f"/inquiries/{inquiry.id}"}


def is_staff_of(principal: Principal, inquiry: Inquiry) -> bool:
    """Whether `principal` handles `inquiry` for its supplier (super admins handle all)."""
    return acts_for_supplier(principal, inquiry.supplier_id)


# -- reading --------------------------------------------------------------------------


def _parse_assignee(principal: Principal, value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    if value == ASSIGNED_TO_ME:
        if principal.user_id is None:
            raise InvalidField("assigned_to", "`me` needs a user account, not an API key")
        return principal.user_id
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidField("assigned_to", "a user id or `me`") from None


async def list_inquiries(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    status: InquiryStatus | None = None,
    priority: InquiryPriority | None = None,
    assigned_to: str | None = None,
    search: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[Sequence[Inquiry], int]:
    """Newest first: the caller's own, and all of their supplier's for its staff."""
    filters = InquiryFilters(
        status=status.value if status else None,
        priority=priority.value if priority else None,
        assigned_to=_parse_assignee(principal, assigned_to),
        search=search,
        since=since,
        until=until,
    )
    repository = InquiryRepository(session)
    return await repository.paginate(repository.list_statement(principal, filters), page)


def message_view(inquiry: Inquiry, message: InquiryMessage) -> InquiryMessageRead:
    return InquiryMessageRead(
        id=message.id,
        author_id=message.author_id,
        kind=message.kind,
        body=message.body,
        created_at=message.created_at,
        from_requester=message.author_id is not None and message.author_id == inquiry.user_id,
    )


async def get_inquiry(
    session: AsyncSession, principal: Principal, inquiry_id: uuid.UUID
) -> InquiryDetail:
    repository = InquiryRepository(session)
    inquiry = await repository.get_readable(principal, inquiry_id)
    if inquiry is None:
        raise InquiryNotFound()
    messages = await repository.messages(inquiry.id, include_notes=is_staff_of(principal, inquiry))
    fields = {name: getattr(inquiry, name) for name in InquiryRead.model_fields}
    return InquiryDetail(**fields, messages=[message_view(inquiry, m) for m in messages])
