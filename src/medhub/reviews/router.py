"""Reviews and ratings of doctors: the public list of a doctor's reviews, the
patient's review of a completed appointment, the doctor's reply, reports and
moderation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from medhub.kit.db import DbSession, ReadSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.reviews import service
from medhub.reviews.auth import ReviewsModerate, ReviewsReply, ReviewsReport, ReviewsWrite
from medhub.reviews.schemas import (
    HideRequest,
    PublicFilters,
    PublicReview,
    ReplyWrite,
    ReportCreate,
    ReportedReview,
    ReviewCreate,
    ReviewRead,
    ReviewSort,
    ReviewUpdate,
    SortOrder,
)

router = APIRouter(tags=["reviews"])


@router.get(
    "/doctors/{doctor_id}/reviews",
    response_model=page_envelope("reviews", PublicReview),
    summary="A doctor's visible reviews, with replies (anonymous allowed)",
)
async def list_doctor_reviews(
    doctor_id: uuid.UUID,
    session: ReadSession,
    paging: Paging,
    sort: Annotated[ReviewSort, Query(description="recent or rating")] = "recent",
    order: SortOrder = "desc",
) -> JSONResponse:
    filters = PublicFilters(sort=sort, descending=order == "desc")
    items, total = await service.public_reviews(session, doctor_id, filters, paging)
    return ok(page_of("reviews", items, paging, total))


@router.post(
    "/doctors/{doctor_id}/reviews",
    response_model=Envelope[ReviewRead],
    status_code=201,
    summary="Review a doctor after your completed appointment (patients)",
)
async def create_review(
    doctor_id: uuid.UUID, body: ReviewCreate, principal: ReviewsWrite, session: DbSession
) -> JSONResponse:
    review = await service.create_review(session, principal, doctor_id, body)
    return created(review, message="Review published")


@router.get(
    "/reviews/reported",
    response_model=page_envelope("reported_reviews", ReportedReview),
    summary="Reviews with reports: your organization's (admins), all (super admins)",
)
async def list_reported_reviews(
    principal: ReviewsModerate, session: DbSession, paging: Paging
) -> JSONResponse:
    items, total = await service.reported(session, principal, paging)
    return ok(page_of("reported_reviews", items, paging, total))


@router.put(
    "/reviews/{review_id}",
    response_model=Envelope[ReviewRead],
    summary="Edit your review, within 30 days of writing it (patients)",
)
async def update_review(
    review_id: uuid.UUID, body: ReviewUpdate, principal: ReviewsWrite, session: DbSession
) -> JSONResponse:
    review = await service.update_review(session, principal, review_id, body)
    return ok(review, message="Review updated")


@router.put(
    "/reviews/{review_id}/reply",
    response_model=Envelope[ReviewRead],
    summary="Reply to a review of you (the reviewed doctor)",
)
async def reply_to_review(
    review_id: uuid.UUID, body: ReplyWrite, principal: ReviewsReply, session: DbSession
) -> JSONResponse:
    review = await service.reply(session, principal, review_id, body)
    return ok(review, message="Reply saved")


@router.post(
    "/reviews/{review_id}/report",
    response_model=Envelope[None],
    status_code=201,
    summary="Report a review to its moderators, once (anyone signed in)",
)
async def report_review(
    review_id: uuid.UUID, body: ReportCreate, principal: ReviewsReport, session: DbSession
) -> JSONResponse:
    await service.report(session, principal, review_id, body)
    return created(None, message="Review reported")


@router.post(
    "/reviews/{review_id}/hide",
    response_model=Envelope[ReviewRead],
    summary="Hide a review from the public list and the rating (moderators)",
)
async def hide_review(
    review_id: uuid.UUID, body: HideRequest, principal: ReviewsModerate, session: DbSession
) -> JSONResponse:
    review = await service.hide(session, principal, review_id, body)
    return ok(review, message="Review hidden")


@router.post(
    "/reviews/{review_id}/unhide",
    response_model=Envelope[ReviewRead],
    summary="Show a hidden review again (moderators)",
)
async def unhide_review(
    review_id: uuid.UUID, principal: ReviewsModerate, session: DbSession
) -> JSONResponse:
    review = await service.unhide(session, principal, review_id)
    return ok(review, message="Review shown again")
