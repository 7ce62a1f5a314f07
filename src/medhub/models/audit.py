"""The activity log: append-only and hash-chained (see migration 0002 for the triggers)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin


class ActivityLog(IdMixin, Base):
    __tablename__ = "activity_logs"
    __table_args__ = (
        Index("ix_activity_logs_org_created", "organization_id", "created_at"),
        Index("ix_activity_logs_user_created", "user_id", "created_at"),
        Index("ix_activity_logs_action", "action"),
        Index("ix_activity_logs_entity", "entity_type", "entity_id"),
        Index("ix_activity_logs_created", "created_at"),
    )

    # Position in the chain, assigned by the insert trigger under the chain lock,
    # so it is the commit order of the log (no gaps, no reordering).
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, server_default=text("0"))
    organization_id: Mapped[uuid.UUID | None]
    # No foreign key: the log must outlive the users and rows it mentions.
    user_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str | None] = mapped_column(String(50))
    entity_id: Mapped[uuid.UUID | None]
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, default=dict, server_default="{}"
    )
    created_at: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))
    prev_hash: Mapped[str] = mapped_column(String(64), server_default="")
    row_hash: Mapped[str] = mapped_column(String(64), server_default="")
