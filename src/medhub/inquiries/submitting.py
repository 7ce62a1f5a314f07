"""Submitting an inquiry: who asks, which supplier it goes to, the least-loaded sales
person, and an acknowledgement that makes MedHub no email relay."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.permissions import acts_for_supplier
from medhub.authz.principal import Principal
from medhub.catalog import lookup as catalog
from medhub.inquiries.exceptions import (
    InvalidField,
)
from medhub.inquiries.repository import InquiryRepository
from medhub.inquiries.schemas import (
    InquiryCreate,
)
from medhub.inquiries.service import inquiry_link
from medhub.kit.errors import ErrorDetail, NotFound, ValidationFailed
from medhub.kit.references import ReferenceSeries, next_reference
from medhub.mail import service as mail
from medhub.models.inquiries import (
    Inquiry,
    InquiryPriority,
    InquiryStatus,
)
from medhub.models.notifications import NotificationCategory
from medhub.notifications import service as notifications
from medhub.organizations import service as organizations
from medhub.users import service as users

# INQ-YYYY-NNNNNN, numbered by a sequence of migration 0005.
INQUIRY_NUMBERS = ReferenceSeries(prefix="INQ", sequence="inquiry_number_seq")
ACKNOWLEDGMENT_TEMPLATE = "inquiry_acknowledgment"
EXPECTED_RESPONSE_TIME = "within 1 business day"
# Acknowledgements to an address no one proved to own: at most this many a day.
ACKNOWLEDGMENTS_PER_ADDRESS = 3
ACKNOWLEDGMENT_WINDOW = timedelta(days=1)


class Acknowledgement(StrEnum):
    full = "full"  # name, subject and a link, to an account's own verified address
    vetted = "vetted"  # name and subject, to an address the supplier's staff entered
    neutral = "neutral"  # no text the sender wrote, throttled per address
    none = "none"  # an unverified account: the inquiry is in its list


@dataclass(frozen=True)
class _Requester:
    name: str
    email: str
    company: str | None
    phone: str | None
    user_id: uuid.UUID | None = None
    acknowledgement: Acknowledgement = Acknowledgement.neutral


async def _requester(
    session: AsyncSession, principal: Principal | None, data: InquiryCreate, supplier_id: uuid.UUID
) -> _Requester:
    """Who is asking, and how their acknowledgement may be sent.

    A signed-in person may leave out what their account already says, and is
    answered at their account's own address (an inquiry must not make MedHub email
    an address its sender does not own). The supplier's own staff logging a caller's
    request give the caller's contact. Anyone else (anonymous, or an API key, which
    is no person) must say who they are.
    """
    if principal is not None and principal.user_id is not None:
        user = await users.get_user(session, principal.user_id)
        for_a_caller = data.email is not None and acts_for_supplier(principal, supplier_id)
        own = Acknowledgement.full if user.is_verified else Acknowledgement.none
        return _Requester(
            name=data.name or user.full_name,
            email=data.email if for_a_caller and data.email else user.email,
            company=data.company if data.company is not None else user.company_name,
            phone=data.phone if data.phone is not None else user.phone,
            user_id=user.id,
            acknowledgement=Acknowledgement.vetted if for_a_caller else own,
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
    if priority is InquiryPriority.urgent and not acts_for_supplier(principal, supplier_id):
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
    supplier_id = await _supplier_for(session, principal, data.product_id, default_supplier_slug)
    requester = await _requester(session, principal, data, supplier_id)
    _check_priority(principal, data.priority, supplier_id)
    repository = InquiryRepository(session)
    # Chosen last before the insert: the choice holds a per-supplier lock until COMMIT.
    assignee = await repository.pick_assignee(supplier_id)
    inquiry = await repository.add(
        Inquiry(
            reference_number=await next_reference(session, INQUIRY_NUMBERS),
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
    await _acknowledge(session, inquiry, requester.acknowledgement)
    if assignee is not None:
        await notifications.notify(
            session,
            assignee,
            NotificationCategory.inquiry,
            f"New inquiry {inquiry.reference_number} assigned to you",
            f"{inquiry.name}: {inquiry.subject}",
            inquiry_link(inquiry),
        )
    return inquiry


async def _acknowledge(session: AsyncSession, inquiry: Inquiry, kind: Acknowledgement) -> None:
    """Confirm receipt by email without making MedHub a relay.

    Anyone may submit an inquiry naming any address, so the acknowledgement to an
    address nobody proved they own carries no text the sender wrote (name, subject)
    and goes out at most ACKNOWLEDGMENTS_PER_ADDRESS times a day per address.
    """
    if kind is Acknowledgement.none:
        return
    if kind is Acknowledgement.neutral:
        sent = await mail.count_recent(
            session,
            template=ACKNOWLEDGMENT_TEMPLATE,
            to=inquiry.email,
            since=datetime.now(UTC) - ACKNOWLEDGMENT_WINDOW,
        )
        if sent >= ACKNOWLEDGMENTS_PER_ADDRESS:
            return
    personal = kind is not Acknowledgement.neutral
    await mail.queue_email(
        session,
        ACKNOWLEDGMENT_TEMPLATE,
        inquiry.email,
        {
            "full_name": inquiry.name if personal else None,
            "reference_number": inquiry.reference_number,
            "subject": inquiry.subject if personal else None,
            "expected_response_time": EXPECTED_RESPONSE_TIME,
            # Only the account that asked can open the inquiry online.
            "inquiry_id": str(inquiry.id) if kind is Acknowledgement.full else None,
        },
        user_id=inquiry.user_id,
    )
