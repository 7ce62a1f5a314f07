"""Review queries.

`ReviewRepository` reads and writes the tenant tables. Row-level security (migration
0021) holds every statement to the rows of the caller's organization, of their
account (the author, the reporter) or of every organization (super admins); the
statements name the author, the doctor or the organization as well, so that a
colleague's review, which RLS lets through, is still not found.

The public list reads the view `public_doctor_reviews` and nothing else: the visible
reviews of the doctors in the public directory, without any tenant context.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.appointments import Appointment
from medhub.models.base import new_id
from medhub.models.patients import Patient
from medhub.models.reviews import DoctorReview, ReviewReport, public_doctor_reviews
from medhub.reviews.schemas import PublicFilters


class ReviewRepository(Repository[DoctorReview]):
    model = DoctorReview

    PUBLIC_SORTS: dict[str, Any] = {
        "recent": public_doctor_reviews.c.created_at,
        "rating": public_doctor_reviews.c.rating,
    }

    async def own_appointment(
        self, appointment_id: uuid.UUID, user_id: uuid.UUID
    ) -> Appointment | None:
        """The appointment, if it was for a chart linked to `user_id` (not deleted)."""
        statement = (
            select(Appointment)
            .join(Patient, Patient.id == Appointment.patient_id)
            .where(
                Appointment.id == appointment_id,
                Patient.user_id == user_id,
                Patient.deleted_at.is_(None),
            )
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def insert_once(self, values: dict[str, Any]) -> DoctorReview | None:
        """The new review, or None when the appointment has one already (one statement,
        so two at once cannot both insert)."""
        statement = (
            pg_insert(DoctorReview)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[DoctorReview.appointment_id])
            .returning(DoctorReview)
        )
        result = await self.session.execute(
            select(DoctorReview).from_statement(statement),
            execution_options={"populate_existing": True},
        )
        return result.scalar_one_or_none()

    async def for_update(
        self,
        review_id: uuid.UUID,
        *,
        author_id: uuid.UUID | None = None,
        doctor_id: uuid.UUID | None = None,
        organization_id: uuid.UUID | None = None,
    ) -> DoctorReview | None:
        """The review, locked, if it is the author's, the doctor's or the organization's
        (whichever are given; none: any review row-level security shows)."""
        statement = select(DoctorReview).where(DoctorReview.id == review_id)
        if author_id is not None:
            statement = statement.where(DoctorReview.author_user_id == author_id)
        if doctor_id is not None:
            statement = statement.where(DoctorReview.doctor_id == doctor_id)
        if organization_id is not None:
            statement = statement.where(DoctorReview.organization_id == organization_id)
        result = await self.session.execute(
            statement.with_for_update().execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def refresh_rating(self, doctor_id: uuid.UUID) -> None:
        """The doctor's rating average and count, recomputed from the visible reviews
        with the doctor's profile row locked (migration 0021)."""
        await self.session.execute(select(func.refresh_doctor_rating(doctor_id)))

    async def public_review_organization(self, review_id: uuid.UUID) -> uuid.UUID | None:
        """The organization of the review, if it is visible in the public list."""
        view = public_doctor_reviews
        statement = select(view.c.organization_id).where(view.c.id == review_id)
        organization_id: uuid.UUID | None = (
            await self.session.execute(statement)
        ).scalar_one_or_none()
        return organization_id

    async def public_page(
        self, doctor_id: uuid.UUID, filters: PublicFilters, params: PageParams
    ) -> tuple[Sequence[RowMapping], int]:
        view = public_doctor_reviews
        statement = select(
            view.c.id,
            view.c.author_name,
            view.c.rating,
            view.c.comment,
            view.c.reply,
            view.c.replied_at,
            view.c.created_at,
            view.c.updated_at,
        ).where(view.c.doctor_id == doctor_id)
        total = await self.count(statement)
        if total == 0:
            return [], 0
        column = self.PUBLIC_SORTS[filters.sort]
        if filters.descending:
            ordering = [column.desc(), view.c.created_at.desc(), view.c.id.desc()]
        else:
            ordering = [column.asc(), view.c.created_at.asc(), view.c.id.asc()]
        rows = (
            (
                await self.session.execute(
                    statement.order_by(*ordering).limit(params.limit).offset(params.offset)
                )
            )
            .mappings()
            .all()
        )
        return rows, total

    async def report_once(
        self,
        review_id: uuid.UUID,
        organization_id: uuid.UUID,
        reporter_id: uuid.UUID,
        reason: str,
    ) -> uuid.UUID | None:
        """The new report's id, or None when this person reported the review already."""
        statement = (
            pg_insert(ReviewReport)
            .values(
                id=new_id(),
                review_id=review_id,
                organization_id=organization_id,
                reporter_user_id=reporter_id,
                reason=reason,
            )
            .on_conflict_do_nothing(constraint="uq_review_reports_reporter")
            .returning(ReviewReport.id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def reported_page(
        self, organization_id: uuid.UUID | None, params: PageParams
    ) -> tuple[list[tuple[DoctorReview, int, datetime]], int]:
        """Reviews with reports, most recently reported first, with how many and when
        last: the organization's, or every one (`organization_id` None)."""
        reports = (
            select(
                ReviewReport.review_id,
                func.count().label("report_count"),
                func.max(ReviewReport.created_at).label("last_reported_at"),
            )
            .group_by(ReviewReport.review_id)
            .subquery()
        )
        statement = select(DoctorReview, reports.c.report_count, reports.c.last_reported_at).join(
            reports, reports.c.review_id == DoctorReview.id
        )
        if organization_id is not None:
            statement = statement.where(DoctorReview.organization_id == organization_id)
        total = await self.count(statement)
        if total == 0:
            return [], 0
        rows = (
            await self.session.execute(
                statement.order_by(reports.c.last_reported_at.desc(), DoctorReview.id.desc())
                .limit(params.limit)
                .offset(params.offset)
            )
        ).all()
        return [(review, int(count), last) for review, count, last in rows], total
