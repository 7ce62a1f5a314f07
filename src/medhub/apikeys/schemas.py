from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, description="What the key is for")
    role: str = Field(
        min_length=1,
        max_length=20,
        description="The role the key acts as: one of your organization kind's roles",
    )


class ApiKeyRead(BaseModel):
    """A key as listed: never the key itself, nor its hash."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: str
    prefix: str
    organization_id: uuid.UUID
    created_by: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(BaseModel):
    """The answer to a create: the only time `key` is ever shown."""

    id: uuid.UUID
    name: str
    role: str
    prefix: str
    key: str
    created_at: datetime
