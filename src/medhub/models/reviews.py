"""Reviews of doctors (eCureTrip "reviews and ratings"): one per completed appointment,
written by the patient whose chart the appointment was for, answered by the doctor,
reported by anyone signed in and hidden or shown again by moderators.

The tenant is the doctor's organization, like the appointment's. A visible review is
public: the directory reads it through the view at the end of this module (migration
0021), which shows only the public columns and the author's first name and initial.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, TimestampMixin

RATING_MIN = 1
RATING_MAX = 5


class DoctorReview(IdMixin, TimestampMixin, Base):
    __tablename__ = "doctor_reviews"
    __table_args__ = (
        CheckConstraint(f"rating BETWEEN {RATING_MIN} AND {RATING_MAX}", name="rating_range"),
        CheckConstraint(
            "(hidden_at IS NULL AND hidden_by IS NULL AND hidden_reason IS NULL)"
            " OR (hidden_at IS NOT NULL AND hidden_reason IS NOT NULL)",
            name="hidden_together",
        ),
        # The public list: a doctor's reviews, newest first or by rating.
        Index("ix_doctor_reviews_doctor_created", "doctor_id", "created_at"),
        Index("ix_doctor_reviews_doctor_rating", "doctor_id", "rating"),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_profiles.user_id", ondelete="CASCADE")
    )
    # The doctor's organization when the appointment was held (the tenant).
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    # One review per appointment.
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    author_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[int] = mapped_column(SmallInteger)
    # Plain text, never rendered as HTML by the platform.
    comment: Mapped[str | None] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hidden_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    hidden_reason: Mapped[str | None] = mapped_column(String(500))


class ReviewReport(IdMixin, Base):
    """Someone signed in flags a review for the moderators (once per person)."""

    __tablename__ = "review_reports"
    __table_args__ = (
        UniqueConstraint("review_id", "reporter_user_id", name="uq_review_reports_reporter"),
    )

    review_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_reviews.id", ondelete="CASCADE")
    )
    # The review's organization: its moderators read the report.
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    reporter_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)


# The public view (migration 0021), read-only, in its own MetaData like the doctors'
# views: the visible reviews of the doctors in the public directory.
VIEWS = MetaData()

public_doctor_reviews = Table(
    "public_doctor_reviews",
    VIEWS,
    Column("id", Uuid, primary_key=True),
    Column("doctor_id", Uuid),
    Column("organization_id", Uuid),
    Column("author_name", Text),
    Column("rating", SmallInteger),
    Column("comment", Text),
    Column("reply", Text),
    Column("replied_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)
