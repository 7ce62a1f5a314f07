"""Handling an inquiry (the supplier's staff): status moves, assignment, answers and
internal notes, conversion to an order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.permissions import SUPPLIER_STAFF_ROLES
from medhub.authz.principal import Principal
from medhub.inquiries.exceptions import (
    InquiryAlreadyConverted,
    InquiryClosed,
    InquiryNotFound,
    InvalidField,
    InvalidInquiryTransition,
)
from medhub.inquiries.repository import InquiryRepository
from medhub.inquiries.schemas import (
    Assignment,
    Conversion,
    InquiryMessageRead,
    MessageCreate,
    StatusUpdate,
)
from medhub.inquiries.service import inquiry_link, is_staff_of, message_view
from medhub.kit.errors import NotFound, PermissionDenied
from medhub.mail import service as mail
from medhub.models.inquiries import (
    Inquiry,
    InquiryMessage,
    InquiryMessageKind,
    InquiryStatus,
)
from medhub.models.notifications import NotificationCategory
from medhub.notifications import service as notifications
from medhub.orders import service as orders
from medhub.organizations import service as organizations
from medhub.users import service as users

RESPONSE_TEMPLATE = "inquiry_response"

# The seed's chain, one step at a time, and one way back: a resolved inquiry may be
# reopened (the answer raised a follow-up question) until it is closed, which is
# final. Skipping a step (pending → resolved) is refused; conversion to an order is
# the one exception, because a linked order *is* the resolution.
TRANSITIONS: dict[InquiryStatus, tuple[InquiryStatus, ...]] = {
    InquiryStatus.pending: (InquiryStatus.in_progress,),
    InquiryStatus.in_progress: (InquiryStatus.resolved,),
    InquiryStatus.resolved: (InquiryStatus.closed, InquiryStatus.in_progress),
    InquiryStatus.closed: (),
}
OPEN_STATUSES = (InquiryStatus.pending, InquiryStatus.in_progress)

STATUS_LABELS = {
    InquiryStatus.pending: "pending",
    InquiryStatus.in_progress: "in progress",
    InquiryStatus.resolved: "resolved",
    InquiryStatus.closed: "closed",
}


async def _handled(session: AsyncSession, principal: Principal, inquiry_id: uuid.UUID) -> Inquiry:
    """The inquiry, locked, if `principal` handles it: 404 if they cannot see it, 403 if
    they see it only as its requester."""
    inquiry = await InquiryRepository(session).get_readable(principal, inquiry_id, for_update=True)
    if inquiry is None:
        raise InquiryNotFound()
    if not is_staff_of(principal, inquiry):
        raise PermissionDenied("Only the supplier's staff handle this inquiry")
    return inquiry


def _move(inquiry: Inquiry, target: InquiryStatus, now: datetime) -> None:
    inquiry.status = target.value
    if target is InquiryStatus.resolved:
        inquiry.resolved_at = now
    elif target is InquiryStatus.closed:
        inquiry.closed_at = now
    elif target is InquiryStatus.in_progress:
        # Reopened: it is no longer resolved.
        inquiry.resolved_at = None


async def _tell_requester(session: AsyncSession, inquiry: Inquiry, title: str, body: str) -> None:
    """An in-app notification for a requester with an account (anonymous ones have none)."""
    if inquiry.user_id is not None:
        await notifications.notify(
            session,
            inquiry.user_id,
            NotificationCategory.inquiry,
            title,
            body,
            inquiry_link(inquiry),
        )


async def update_status(
    session: AsyncSession, principal: Principal, inquiry_id: uuid.UUID, data: StatusUpdate
) -> Inquiry:
    inquiry = await _handled(session, principal, inquiry_id)
    current = InquiryStatus(inquiry.status)
    allowed = TRANSITIONS[current]
    if data.status not in allowed:
        raise InvalidInquiryTransition(current.value, data.status.value, [s.value for s in allowed])
    _move(inquiry, data.status, datetime.now(UTC))
    await session.flush()
    repository = InquiryRepository(session)
    if data.note:
        await repository.add_message(
            InquiryMessage(
                inquiry_id=inquiry.id,
                author_id=principal.user_id,
                kind=InquiryMessageKind.note.value,
                body=data.note,
            )
        )
    audit.record(
        session,
        "inquiry_status_changed",
        actor=principal,
        organization_id=inquiry.supplier_id,
        entity_type="inquiry",
        entity_id=inquiry.id,
        metadata={"from": current.value, "to": data.status.value, "with_note": bool(data.note)},
    )
    label = STATUS_LABELS[data.status]
    await _tell_requester(
        session,
        inquiry,
        f"Inquiry {inquiry.reference_number} is {label}",
        f"Your inquiry “{inquiry.subject}” is now {label}.",
    )
    return inquiry


async def assign_inquiry(
    session: AsyncSession, principal: Principal, inquiry_id: uuid.UUID, data: Assignment
) -> Inquiry:
    inquiry = await _handled(session, principal, inquiry_id)
    if inquiry.status == InquiryStatus.closed:
        raise InquiryClosed("A closed inquiry cannot be reassigned")
    staff = await organizations.staff_ids(
        session, inquiry.supplier_id, sorted(SUPPLIER_STAFF_ROLES)
    )
    if data.assigned_to not in staff:
        raise InvalidField(
            "assigned_to",
            "must be an active admin or sales user of the inquiry's supplier",
            "This user cannot handle the inquiry",
        )
    previous = inquiry.assigned_to
    if previous == data.assigned_to:
        return inquiry
    inquiry.assigned_to = data.assigned_to
    await session.flush()
    audit.record(
        session,
        "inquiry_assigned",
        actor=principal,
        organization_id=inquiry.supplier_id,
        entity_type="inquiry",
        entity_id=inquiry.id,
        metadata={"from": str(previous) if previous else None, "to": str(data.assigned_to)},
    )
    if data.assigned_to != principal.user_id:
        await notifications.notify(
            session,
            data.assigned_to,
            NotificationCategory.inquiry,
            f"Inquiry {inquiry.reference_number} assigned to you",
            f"{inquiry.name}: {inquiry.subject}",
            inquiry_link(inquiry),
        )
    return inquiry


async def add_message(
    session: AsyncSession, principal: Principal, inquiry_id: uuid.UUID, data: MessageCreate
) -> InquiryMessageRead:
    """A staff answer (emailed to the requester) or internal note, or the requester's
    follow-up (shown to the assignee)."""
    repository = InquiryRepository(session)
    inquiry = await repository.get_readable(principal, inquiry_id, for_update=True)
    if inquiry is None:
        raise InquiryNotFound()
    staff = is_staff_of(principal, inquiry)
    kind = data.kind
    if not staff and kind is InquiryMessageKind.note:
        raise InvalidField(
            "kind",
            "internal notes are for the supplier's staff; send a response",
            "You cannot add internal notes",
        )
    if inquiry.status == InquiryStatus.closed:
        raise InquiryClosed("A closed inquiry takes no more messages")
    message = await repository.add_message(
        InquiryMessage(
            inquiry_id=inquiry.id, author_id=principal.user_id, kind=kind.value, body=data.body
        )
    )
    audit.record(
        session,
        "inquiry_message_added",
        actor=principal,
        organization_id=inquiry.supplier_id,
        entity_type="inquiry",
        entity_id=inquiry.id,
        metadata={"message_id": str(message.id), "kind": kind.value, "by_staff": staff},
    )
    if staff and kind is InquiryMessageKind.response:
        await _answer(session, principal, inquiry, data.body)
    elif not staff and inquiry.assigned_to is not None:
        await notifications.notify(
            session,
            inquiry.assigned_to,
            NotificationCategory.inquiry,
            f"New message on inquiry {inquiry.reference_number}",
            f"{inquiry.name} wrote about “{inquiry.subject}”.",
            inquiry_link(inquiry),
        )
    return message_view(inquiry, message)


async def _answer(session: AsyncSession, principal: Principal, inquiry: Inquiry, body: str) -> None:
    # Answering is working on it: a pending inquiry moves on by itself.
    if inquiry.status == InquiryStatus.pending:
        _move(inquiry, InquiryStatus.in_progress, datetime.now(UTC))
        await session.flush()
    responder = (
        (await users.get_user(session, principal.user_id)).full_name
        if principal.user_id is not None
        else None
    )
    await mail.queue_email(
        session,
        RESPONSE_TEMPLATE,
        inquiry.email,
        {
            "full_name": inquiry.name,
            "reference_number": inquiry.reference_number,
            "subject": inquiry.subject,
            "response_message": body,
            "responder_name": responder,
            "inquiry_id": str(inquiry.id) if inquiry.user_id else None,
        },
        user_id=inquiry.user_id,
    )
    await _tell_requester(
        session,
        inquiry,
        f"New answer to inquiry {inquiry.reference_number}",
        f"The team answered your inquiry “{inquiry.subject}”.",
    )


async def convert_inquiry(
    session: AsyncSession, principal: Principal, inquiry_id: uuid.UUID, data: Conversion
) -> Inquiry:
    """Link the order the inquiry led to, and resolve the inquiry."""
    inquiry = await _handled(session, principal, inquiry_id)
    if inquiry.status == InquiryStatus.closed:
        raise InquiryClosed("A closed inquiry cannot be converted")
    if inquiry.order_id is not None:
        raise InquiryAlreadyConverted()
    try:
        order = await orders.get_order(session, principal, data.order_id)
    except NotFound:
        raise InvalidField("order_id", "no such order", "The order does not exist") from None
    if order.supplier_id != inquiry.supplier_id:
        raise InvalidField(
            "order_id",
            "the order was placed with another supplier",
            "The order does not belong to this inquiry's supplier",
        )
    if inquiry.user_id is not None and order.user_id != inquiry.user_id:
        raise InvalidField(
            "order_id",
            "the order was placed by someone other than the requester",
            "The order does not belong to this inquiry's requester",
        )
    previous = InquiryStatus(inquiry.status)
    inquiry.order_id = order.id
    if previous in OPEN_STATUSES:
        _move(inquiry, InquiryStatus.resolved, datetime.now(UTC))
    await session.flush()
    audit.record(
        session,
        "inquiry_converted",
        actor=principal,
        organization_id=inquiry.supplier_id,
        entity_type="inquiry",
        entity_id=inquiry.id,
        metadata={
            "order_id": str(order.id),
            "order_number": order.order_number,
            "from": previous.value,
            "to": inquiry.status,
        },
    )
    await _tell_requester(
        session,
        inquiry,
        f"Inquiry {inquiry.reference_number} became order {order.order_number}",
        f"Your inquiry “{inquiry.subject}” is resolved with order {order.order_number}.",
    )
    return inquiry
