"""Reviews of doctors: writing one after a completed appointment, editing it for 30
days, the doctor's reply, reports and moderation, and the public list.

Every write that changes which reviews are visible, or their ratings, recomputes the
doctor's `rating_average` and `rating_count` from the visible reviews in the same
transaction (`ReviewRepository.refresh_rating`), so the directory's figures never
drift from the reviews, whatever runs at the same time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.doctors import directory
from medhub.kit.pagination import PageParams
from medhub.models.appointments import AppointmentStatus
from medhub.models.notifications import NotificationCategory
from medhub.models.reviews import DoctorReview
from medhub.notifications import service as notifications
from medhub.reviews.exceptions import (
    AppointmentNotCompleted,
    AppointmentNotFound,
    ReviewAlreadyExists,
    ReviewAlreadyHidden,
    ReviewAlreadyReported,
    ReviewEditWindowClosed,
    ReviewNotFound,
    ReviewNotHidden,
)
from medhub.reviews.repository import ReviewRepository
from medhub.reviews.schemas import (
    HideRequest,
    PublicFilters,
    PublicReview,
    ReplyWrite,
    ReportCreate,
    ReportedReview,
    ReviewCreate,
    ReviewRead,
    ReviewUpdate,
)

ENTITY = "doctor_review"
EDIT_WINDOW = timedelta(days=30)


def now() -> datetime:
    return datetime.now(UTC)


def review_view(review: DoctorReview) -> ReviewRead:
    return ReviewRead(
        id=review.id,
        doctor_id=review.doctor_id,
        organization_id=review.organization_id,
        appointment_id=review.appointment_id,
        rating=review.rating,
        comment=review.comment,
        reply=review.reply,
        replied_at=review.replied_at,
        hidden=review.hidden_at is not None,
        hidden_at=review.hidden_at,
        hidden_reason=review.hidden_reason,
        editable_until=review.created_at + EDIT_WINDOW,
        created_at=review.created_at,
        updated_at=review.updated_at,
    )


def _record(
    session: AsyncSession,
    action: str,
    principal: Principal,
    review: DoctorReview,
    metadata: dict[str, Any] | None = None,
) -> None:
    # The review's organization, not the caller's (a patient has none): its admins
    # find every event about their doctors' reviews in their log.
    audit.record(
        session,
        action,
        actor=principal,
        organization_id=review.organization_id,
        entity_type=ENTITY,
        entity_id=review.id,
        metadata={"doctor_id": str(review.doctor_id), **(metadata or {})},
    )


# The patient's review


async def create_review(
    session: AsyncSession, principal: Principal, doctor_id: uuid.UUID, body: ReviewCreate
) -> ReviewRead:
    """A review of `doctor_id` by the patient whose chart had the completed appointment.

    Another person's appointment, or one with another doctor, is not found: saying
    more would confirm that it exists.
    """
    author_id = principal.require_user_id()
    reviews = ReviewRepository(session)
    appointment = await reviews.own_appointment(body.appointment_id, author_id)
    if appointment is None or appointment.doctor_id != doctor_id:
        raise AppointmentNotFound()
    if appointment.status != AppointmentStatus.completed.value:
        raise AppointmentNotCompleted()
    review = await reviews.insert_once(
        {
            "doctor_id": doctor_id,
            "organization_id": appointment.organization_id,
            "appointment_id": appointment.id,
            "author_user_id": author_id,
            "rating": body.rating,
            "comment": body.comment,
        }
    )
    if review is None:
        raise ReviewAlreadyExists()
    await reviews.refresh_rating(doctor_id)
    _record(session, "review.create", principal, review, {"rating": review.rating})
    # The doctor hears of it in the app (email only if they turn it on): a reply
    # is most useful while the visit is fresh.
    await notifications.notify(
        session,
        doctor_id,
        NotificationCategory.review,
        f"New {review.rating}-star review",
        review.comment or "A patient rated your care.",
        {"link": f"/reviews/{review.id}", "review_id": str(review.id)},
    )
    return review_view(review)


async def update_review(
    session: AsyncSession, principal: Principal, review_id: uuid.UUID, body: ReviewUpdate
) -> ReviewRead:
    """The author's own review, changed within 30 days of its writing."""
    reviews = ReviewRepository(session)
    review = await reviews.for_update(review_id, author_id=principal.require_user_id())
    if review is None:
        raise ReviewNotFound()
    if now() >= review.created_at + EDIT_WINDOW:
        raise ReviewEditWindowClosed()
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(review, field, value)
    await session.flush()
    if "rating" in changes:
        await reviews.refresh_rating(review.doctor_id)
    _record(session, "review.update", principal, review, {"fields": sorted(changes)})
    return review_view(review)


# The doctor's reply


async def reply(
    session: AsyncSession, principal: Principal, review_id: uuid.UUID, body: ReplyWrite
) -> ReviewRead:
    """The reviewed doctor's answer (set, or replaced); any other doctor finds nothing."""
    reviews = ReviewRepository(session)
    review = await reviews.for_update(review_id, doctor_id=principal.require_user_id())
    if review is None:
        raise ReviewNotFound()
    review.reply = body.reply
    review.replied_at = now()
    await session.flush()
    _record(session, "review.reply", principal, review)
    return review_view(review)


# Reports and moderation


async def report(
    session: AsyncSession, principal: Principal, review_id: uuid.UUID, body: ReportCreate
) -> None:
    """Flag a visible review for its moderators (once per person)."""
    reporter_id = principal.require_user_id()
    reviews = ReviewRepository(session)
    organization_id = await reviews.public_review_organization(review_id)
    if organization_id is None:
        raise ReviewNotFound()
    report_id = await reviews.report_once(review_id, organization_id, reporter_id, body.reason)
    if report_id is None:
        raise ReviewAlreadyReported()
    audit.record(
        session,
        "review.report",
        actor=principal,
        organization_id=organization_id,
        entity_type=ENTITY,
        entity_id=review_id,
        metadata={"report_id": str(report_id)},
    )


def _moderated_organization(principal: Principal) -> uuid.UUID | None:
    """A super admin moderates every organization's reviews (None); an organization's
    admin, their own organization's."""
    if principal.is_super_admin:
        return None
    if principal.organization_id is None:
        # An admin of no organization moderates nothing: no id matches this one.
        return uuid.UUID(int=0)
    return principal.organization_id


async def _moderated(
    session: AsyncSession, principal: Principal, review_id: uuid.UUID
) -> tuple[ReviewRepository, DoctorReview]:
    reviews = ReviewRepository(session)
    review = await reviews.for_update(review_id, organization_id=_moderated_organization(principal))
    if review is None:
        raise ReviewNotFound()
    return reviews, review


async def hide(
    session: AsyncSession, principal: Principal, review_id: uuid.UUID, body: HideRequest
) -> ReviewRead:
    reviews, review = await _moderated(session, principal, review_id)
    if review.hidden_at is not None:
        raise ReviewAlreadyHidden()
    review.hidden_at = now()
    review.hidden_by = principal.user_id
    review.hidden_reason = body.reason
    await session.flush()
    await reviews.refresh_rating(review.doctor_id)
    _record(session, "review.hide", principal, review, {"reason": body.reason})
    return review_view(review)


async def unhide(session: AsyncSession, principal: Principal, review_id: uuid.UUID) -> ReviewRead:
    reviews, review = await _moderated(session, principal, review_id)
    if review.hidden_at is None:
        raise ReviewNotHidden()
    review.hidden_at = None
    review.hidden_by = None
    review.hidden_reason = None
    await session.flush()
    await reviews.refresh_rating(review.doctor_id)
    _record(session, "review.unhide", principal, review)
    return review_view(review)


async def reported(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[ReportedReview], int]:
    """The moderators' queue: reviews with reports, most recently reported first."""
    rows, total = await ReviewRepository(session).reported_page(
        _moderated_organization(principal), params
    )
    items = [
        ReportedReview(
            **review_view(review).model_dump(),
            report_count=count,
            last_reported_at=last,
        )
        for review, count, last in rows
    ]
    return items, total


# The public list


async def public_reviews(
    session: AsyncSession, doctor_id: uuid.UUID, filters: PublicFilters, params: PageParams
) -> tuple[Sequence[PublicReview], int]:
    """The visible reviews of a doctor in the public directory (anyone, anonymous
    included); a doctor who is not there is not found."""
    await directory.public_profile(session, doctor_id)
    rows, total = await ReviewRepository(session).public_page(doctor_id, filters, params)
    return [PublicReview.model_validate(dict(row)) for row in rows], total
