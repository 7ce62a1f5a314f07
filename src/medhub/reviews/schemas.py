from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from medhub.kit.schemas import not_null
from medhub.models.reviews import RATING_MAX, RATING_MIN

MAX_COMMENT_LENGTH = 2_000
MAX_REPLY_LENGTH = 2_000
MAX_REASON_LENGTH = 500
MAX_REPORT_LENGTH = 1_000

SortOrder = Literal["asc", "desc"]
ReviewSort = Literal["recent", "rating"]

Rating = Annotated[int, Field(ge=RATING_MIN, le=RATING_MAX, description="1 (worst) to 5 (best)")]
# Plain text, kept exactly as written (no stripping): the platform never renders it
# as HTML; the input guard has already refused NUL characters.
Comment = Annotated[str, Field(max_length=MAX_COMMENT_LENGTH, description="Plain text")]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewCreate(Input):
    appointment_id: uuid.UUID = Field(description="Your completed appointment with this doctor")
    rating: Rating
    comment: Comment | None = None


class ReviewUpdate(Input):
    """Only the fields sent change; `comment: null` removes the comment."""

    rating: Rating | None = None
    comment: Comment | None = None

    _present = not_null("rating")

    @model_validator(mode="after")
    def _something(self) -> ReviewUpdate:
        if not self.model_fields_set:
            raise ValueError("send the rating, the comment or both")
        return self


class ReplyWrite(Input):
    reply: str = Field(min_length=1, max_length=MAX_REPLY_LENGTH, description="Plain text")


class ReportCreate(Input):
    reason: str = Field(min_length=1, max_length=MAX_REPORT_LENGTH)


class HideRequest(Input):
    reason: str = Field(min_length=1, max_length=MAX_REASON_LENGTH)


class ReviewRead(BaseModel):
    """A review as its author, the reviewed doctor and the moderators see it."""

    id: uuid.UUID
    doctor_id: uuid.UUID
    organization_id: uuid.UUID
    appointment_id: uuid.UUID
    rating: int
    comment: str | None
    reply: str | None
    replied_at: datetime | None
    hidden: bool
    hidden_at: datetime | None
    hidden_reason: str | None
    editable_until: datetime
    created_at: datetime
    updated_at: datetime


class PublicReview(BaseModel):
    """A visible review in a doctor's public list: of the author only a first name and
    the initial of the last."""

    id: uuid.UUID
    author_name: str
    rating: int
    comment: str | None
    reply: str | None
    replied_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ReportedReview(ReviewRead):
    """A review in the moderators' queue, with its reports."""

    report_count: int
    last_reported_at: datetime


@dataclass(frozen=True)
class PublicFilters:
    sort: ReviewSort
    descending: bool
