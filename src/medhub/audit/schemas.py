from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class LogFilters:
    action: str | None = None
    user_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


class ActivityLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int = Field(
        description=(
            "Insertion order (newest first in this list). Not the hash chain's order: rows "
            "join the tamper-evident chain shortly after they are written, when the "
            "background sealer gives them a chain position and hashes (not part of this "
            "response; `medhub audit verify` checks them)"
        )
    )
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


@dataclass(frozen=True)
class ChartAccessFilters:
    action: str | None = None
    # Both inclusive.
    since: datetime | None = None
    until: datetime | None = None


class ChartAccessEntry(BaseModel):
    """One read or change of a patient's chart or its clinical content, as the patient
    sees it: who, when, what, for which organization. Never the address or device."""

    occurred_at: datetime
    action: str = Field(examples=["consultation.read"])
    entity_type: str | None = Field(examples=["consultation"])
    entity_id: uuid.UUID | None
    actor_kind: Literal["user", "api_key", "system"] = Field(
        description="A person, an organization's API key, or MedHub itself (a background job)"
    )
    actor_name: str | None
    actor_role: str | None = Field(examples=["doctor"])
    organization_id: uuid.UUID | None = Field(
        description="The organization the actor acted for (else the chart's)"
    )
    organization_name: str | None
    is_self: bool = Field(description="You did it yourself")
