from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from medhub.models.notifications import NotificationCategory


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, str_strip_whitespace=True)


class NotificationRead(Schema):
    id: uuid.UUID
    # Also the SSE event id: give it back as Last-Event-ID to resume a stream.
    seq: int
    category: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class MarkedRead(Schema):
    marked_read: int


class Preference(Schema):
    category: NotificationCategory
    email: bool
    sms: bool
    in_app: bool


class PreferenceList(Schema):
    preferences: list[Preference]


class PreferenceChange(Schema):
    """One category's new settings; a channel left out keeps its current value."""

    model_config = ConfigDict(extra="forbid")

    category: NotificationCategory
    email: bool | None = None
    sms: bool | None = None
    in_app: bool | None = None


class PreferencesUpdate(Schema):
    model_config = ConfigDict(extra="forbid")

    preferences: list[PreferenceChange] = Field(min_length=1, max_length=len(NotificationCategory))

    @field_validator("preferences")
    @classmethod
    def _one_change_per_category(cls, value: list[PreferenceChange]) -> list[PreferenceChange]:
        seen: set[str] = set()
        for change in value:
            if change.category in seen:
                raise ValueError(f"category {change.category.value!r} is listed twice")
            seen.add(change.category)
        return value
