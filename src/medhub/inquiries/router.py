"""Inquiries and quote requests: submit (anyone), read (own; the supplier's staff: all of
their supplier's), handle (staff: status, assignment, answers, conversion to an order)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from medhub.authz.dependencies import CurrentPrincipal
from medhub.config import Settings
from medhub.inquiries import handling, service, submitting
from medhub.inquiries.auth import InquiriesManage, InquirySubmitter
from medhub.inquiries.schemas import (
    Assignment,
    Conversion,
    InquiryCreate,
    InquiryDetail,
    InquiryMessageRead,
    InquiryRead,
    InquirySubmitted,
    InquirySummary,
    MessageCreate,
    StatusUpdate,
)
from medhub.kit.dates import InstantRangeQuery
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.inquiries import InquiryPriority, InquiryStatus

router = APIRouter(prefix="/inquiries", tags=["inquiries"])


@router.post(
    "",
    status_code=201,
    response_model=Envelope[InquirySubmitted],
    summary="Submit an inquiry or quote request (no account needed)",
)
async def submit_inquiry(
    request: Request, body: InquiryCreate, principal: InquirySubmitter, session: DbSession
) -> JSONResponse:
    settings: Settings = request.app.state.settings
    inquiry = await submitting.submit_inquiry(
        session, principal, body, default_supplier_slug=settings.DEFAULT_SUPPLIER_SLUG
    )
    return created(
        InquirySubmitted(inquiry_id=inquiry.id, reference_number=inquiry.reference_number),
        message="Inquiry submitted successfully",
    )


@router.get(
    "",
    response_model=page_envelope("inquiries", InquirySummary),
    summary="Your inquiries, newest first (a supplier's staff: all of their supplier's)",
)
async def list_inquiries(
    *,
    principal: CurrentPrincipal,
    session: DbSession,
    paging: Paging,
    created: InstantRangeQuery,
    status: InquiryStatus | None = None,
    priority: InquiryPriority | None = None,
    assigned_to: Annotated[
        str | None, Query(max_length=36, description="A user id, or `me`")
    ] = None,
    search: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="In subject, name, email or reference; case-insensitive",
        ),
    ] = None,
) -> JSONResponse:
    items, total = await service.list_inquiries(
        session,
        principal,
        paging,
        status=status,
        priority=priority,
        assigned_to=assigned_to,
        search=search,
        since=created.since,
        until=created.until,
    )
    rows = [InquirySummary.model_validate(item) for item in items]
    return ok(page_of("inquiries", rows, paging, total))


@router.get(
    "/{inquiry_id}",
    response_model=Envelope[InquiryDetail],
    summary="One inquiry with its messages (internal notes: staff only)",
)
async def get_inquiry(
    inquiry_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> JSONResponse:
    return ok(await service.get_inquiry(session, principal, inquiry_id))


@router.put(
    "/{inquiry_id}/status",
    response_model=Envelope[InquiryRead],
    summary="Move an inquiry along: pending → in_progress → resolved → closed (staff)",
)
async def update_inquiry_status(
    inquiry_id: uuid.UUID, body: StatusUpdate, principal: InquiriesManage, session: DbSession
) -> JSONResponse:
    inquiry = await handling.update_status(session, principal, inquiry_id, body)
    return ok(InquiryRead.model_validate(inquiry), message="Inquiry status updated")


@router.put(
    "/{inquiry_id}/assign",
    response_model=Envelope[InquiryRead],
    summary="Hand an inquiry to another admin or sales user of the supplier (staff)",
)
async def assign_inquiry(
    inquiry_id: uuid.UUID, body: Assignment, principal: InquiriesManage, session: DbSession
) -> JSONResponse:
    inquiry = await handling.assign_inquiry(session, principal, inquiry_id, body)
    return ok(InquiryRead.model_validate(inquiry), message="Inquiry assigned")


@router.post(
    "/{inquiry_id}/messages",
    status_code=201,
    response_model=Envelope[InquiryMessageRead],
    summary="Answer an inquiry (emailed to the requester), add an internal note (staff), "
    "or follow up on your own inquiry",
)
async def add_inquiry_message(
    inquiry_id: uuid.UUID, body: MessageCreate, principal: CurrentPrincipal, session: DbSession
) -> JSONResponse:
    message = await handling.add_message(session, principal, inquiry_id, body)
    return created(message, message="Message added")


@router.post(
    "/{inquiry_id}/convert",
    response_model=Envelope[InquiryRead],
    summary="Link the order an inquiry led to, resolving the inquiry (staff)",
)
async def convert_inquiry(
    inquiry_id: uuid.UUID, body: Conversion, principal: InquiriesManage, session: DbSession
) -> JSONResponse:
    inquiry = await handling.convert_inquiry(session, principal, inquiry_id, body)
    return ok(InquiryRead.model_validate(inquiry), message="Inquiry converted to an order")
