from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class EmailQueueStatus(BaseModel):
    total_jobs: int
    pending_jobs: int
    processing_jobs: int
    completed_jobs: int
    failed_jobs: int
    is_healthy: bool
    last_updated: datetime


class EmailRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    to_address: str
    template: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    job_id: int | None
    created_at: datetime
    sent_at: datetime | None


class Cleared(BaseModel):
    cleared: int


class TestEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(default="Test event", min_length=1, max_length=500)


class EmittedEvent(BaseModel):
    event_id: uuid.UUID
    name: str
