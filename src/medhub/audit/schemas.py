from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
