"""Inquiries and quote requests: submission (anonymous or signed in), the supplier's
handling (status, assignment, answers, internal notes) and conversion to an order.

Every change and everything it causes (audit row, email, notifications) happens in
the caller's transaction: a rolled-back request leaves no trace and sends nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.catalog import service as catalog
from medhub.inquiries.exceptions import (
    InquiryAlreadyConverted,
    InquiryClosed,
    InquiryNotFound,
    InvalidField,
    InvalidInquiryTransition,
)
from medhub.inquiries.repository import InquiryFilters, InquiryRepository
from medhub.inquiries.schemas import (
    Assignment,
    Conversion,
    InquiryCreate,
    InquiryDetail,
    InquiryMessageRead,
    InquiryRead,
    MessageCreate,
    StatusUpdate,
)
from medhub.kit.errors import ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.kit.references import ReferenceKind, next_reference
from medhub.mail import service as mail
from medhub.models.inquiries import (
    Inquiry,
    InquiryMessage,
    InquiryMessageKind,
    InquiryPriority,
    InquiryStatus,
)
from medhub.models.notifications import NotificationCategory
from medhub.notifications import service as notifications
from medhub.orders import service as orders
from medhub.organizations import service as organizations
from medhub.users import service as users

ACKNOWLEDGMENT_TEMPLATE = "inquiry_acknowledgment"
RESPONSE_TEMPLATE = "inquiry_response"
EXPECTED_RESPONSE_TIME = "within 1 business day"
# Acknowledgements to an address no one proved to own: at most this many a day.
ACKNOWLEDGMENTS_PER_ADDRESS = 3
ACKNOWLEDGMENT_WINDOW = timedelta(days=1)
ASSIGNED_TO_ME = "me"

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


def _link(inquiry: Inquiry) -> dict[str, str]:
    return {"link": f"/inquiries/{inquiry.id}"}


def is_staff_of(principal: Principal, inquiry: Inquiry) -> bool:
    """Whether `principal` handles `inquiry` for its supplier (super admins handle all)."""
    return principal.is_super_admin or (
        can(principal.role, Action.INQUIRIES_MANAGE)
        and organizations.is_supplier_staff(
            principal.role, principal.organization_id, inquiry.supplier_id
        )
    )


# -- submission -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Requester:
    name: str
    email: str
    company: str | None
    phone: str | None
    user_id: uuid.UUID | None = None
    verified: bool = False


async def _requester(
    session: AsyncSession, principal: Principal | None, data: InquiryCreate
) -> _Requester:
    """Who is asking, and whether their address is a verified account's.

    A signed-in person may leave out what their account already says, and is always
    answered at their account's address (an inquiry must not make MedHub email an
    address its sender does not own); anyone else (anonymous, or an API key, which is
    no person) must say who they are.
    """
    if principal is not None and principal.user_id is not None:
        user = await users.get_user(session, principal.user_id)
        return _Requester(
            name=data.name or user.full_name,
            email=user.email,
            company=data.company if data.company is not None else user.company_name,
            phone=data.phone if data.phone is not None else user.phone,
            user_id=user.id,
            verified=user.is_verified,
        )
    if data.name is None or data.email is None:
        missing = [field for field in ("name", "email") if getattr(data, field) is None]
        raise ValidationFailed(
            "Tell us who you are: name and email are required unless you are signed in",
            details=[ErrorDetail(field=field, message="required") for field in missing],
        )
    return _Requester(data.name, data.email, data.company, data.phone)


def _check_priority(
    principal: Principal | None, priority: InquiryPriority, supplier_id: uuid.UUID
) -> None:
    # Requesters rank their own inquiry up to `high`; `urgent` jumps every queue, so
    # only the supplier's own staff (logging a call for a customer) may set it.
    if priority is InquiryPriority.urgent and not (
        principal is not None
        and (
            principal.is_super_admin
            or organizations.is_supplier_staff(
                principal.role, principal.organization_id, supplier_id
            )
        )
    ):
        raise InvalidField(
            "priority",
            "urgent is set by the supplier's staff; choose low, normal or high",
            "This priority is not available to you",
        )


async def _supplier_for(
    session: AsyncSession,
    principal: Principal | None,
    product_id: uuid.UUID | None,
    default_supplier_slug: str,
) -> uuid.UUID:
    """The supplier the inquiry goes to: the product's, else the default one."""
    if product_id is not None:
        try:
            product = await catalog.get_product(session, principal, product_id)
        except NotFound:
            raise InvalidField(
                "product_id", "no such product", "The product of this inquiry does not exist"
            ) from None
        if not product.is_active:
            # The supplier's own staff can see a withdrawn product; nobody asks about it.
            raise InvalidField(
                "product_id", "this product is no longer sold", "This product is no longer sold"
            )
        return product.supplier_id
    supplier_id = await organizations.default_supplier_id(session, default_supplier_slug)
    if supplier_id is None:
        raise InvalidField(
            "product_id",
            "required: there is no default supplier to send a general inquiry to",
            "Choose the product your inquiry is about",
        )
    return supplier_id


async def submit_inquiry(
    session: AsyncSession,
    principal: Principal | None,
    data: InquiryCreate,
    *,
    default_supplier_slug: str,
) -> Inquiry:
    """Store the inquiry, assign it to the least-loaded sales user, acknowledge it by
    email and tell the assignee."""
    requester = await _requester(session, principal, data)
    supplier_id = await _supplier_for(session, principal, data.product_id, default_supplier_slug)
    _check_priority(principal, data.priority, supplier_id)
    repository = InquiryRepository(session)
    # Chosen last before the insert: the choice holds a per-supplier lock until COMMIT.
    assignee = await repository.pick_assignee(supplier_id)
    inquiry = await repository.add(
        Inquiry(
            reference_number=await next_reference(session, ReferenceKind.inquiry),
            supplier_id=supplier_id,
            user_id=requester.user_id,
            product_id=data.product_id,
            name=requester.name,
            email=requester.email,
            company=requester.company,
            phone=requester.phone,
            subject=data.subject,
            message=data.message,
            status=InquiryStatus.pending.value,
            priority=data.priority.value,
            assigned_to=assignee,
        )
    )
    # The row is about the supplier, but an anonymous or buyer context may only log
    # rows of its own organization (the audit policy), so the actor's is used.
    audit.record(
        session,
        "inquiry_submitted",
        actor=principal,
        organization_id=supplier_id,
        entity_type="inquiry",
        entity_id=inquiry.id,
        metadata={
            "reference_number": inquiry.reference_number,
            "supplier_id": str(supplier_id),
            "assigned_to": str(assignee) if assignee else None,
            "priority": inquiry.priority,
        },
    )
    await _acknowledge(session, inquiry, verified_account=requester.verified)
    if assignee is not None:
        await notifications.notify(
            session,
            assignee,
            NotificationCategory.inquiry,
            f"New inquiry {inquiry.reference_number} assigned to you",
            f"{inquiry.name}: {inquiry.subject}",
            _link(inquiry),
        )
    return inquiry


async def _acknowledge(session: AsyncSession, inquiry: Inquiry, *, verified_account: bool) -> None:
    """Confirm receipt by email without making MedHub a relay.

    Anyone may submit an inquiry naming any address, so the acknowledgement to an
    address nobody proved they own carries no text the sender wrote (name, subject)
    and goes out at most ACKNOWLEDGMENTS_PER_ADDRESS times a day per address. An
    account's verified address gets the full acknowledgement; an unverified account
    gets none (the inquiry is in its list).
    """
    if inquiry.user_id is not None and not verified_account:
        return
    if inquiry.user_id is None:
        sent = await mail.count_recent(
            session,
            template=ACKNOWLEDGMENT_TEMPLATE,
            to=inquiry.email,
            since=datetime.now(UTC) - ACKNOWLEDGMENT_WINDOW,
        )
        if sent >= ACKNOWLEDGMENTS_PER_ADDRESS:
            return
    personal = inquiry.user_id is not None
    await mail.queue_email(
        session,
        ACKNOWLEDGMENT_TEMPLATE,
        inquiry.email,
        {
            "full_name": inquiry.name if personal else None,
            "reference_number": inquiry.reference_number,
            "subject": inquiry.subject if personal else None,
            "expected_response_time": EXPECTED_RESPONSE_TIME,
            # Only an account can open the inquiry online; anonymous requesters get no link.
            "inquiry_id": str(inquiry.id) if personal else None,
        },
        user_id=inquiry.user_id,
    )


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


# -- handling (the supplier's staff) ----------------------------------------------------


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
            session, inquiry.user_id, NotificationCategory.inquiry, title, body, _link(inquiry)
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
        session, inquiry.supplier_id, organizations.SUPPLIER_STAFF_ROLES
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
            _link(inquiry),
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
            _link(inquiry),
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
