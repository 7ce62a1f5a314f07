from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medhub.kit.pagination import Pagination


class ActivityLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    organization_id: uuid.UUID | None
    user_id: uuid.UUID | None
    action: str
    entity_type: str | None
    entity_id: uuid.UUID | None
    ip_address: str | None
    user_agent: str | None
    # The model calls the `metadata` column `details` (`metadata` is SQLAlchemy's).
    metadata: dict[str, Any] = Field(validation_alias="details")
    created_at: datetime


class ActivityLogPage(BaseModel):
    """`data` of the activity-log list (for the docs; the route builds it with `page_of`)."""

    activity_logs: list[ActivityLogRead]
    pagination: Pagination
