"""Domain events: recorded with the change that caused them, handled by jobs exactly once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin


class DomainEvent(IdMixin, Base):
    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_name_created", "name", "created_at"),)

    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    actor_id: Mapped[uuid.UUID | None]
    organization_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class EventDelivery(Base):
    """A handler's receipt: written in the handler's own transaction, so a job that
    runs twice finds it and does nothing the second time."""

    __tablename__ = "event_deliveries"

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("domain_events.id", ondelete="CASCADE"), primary_key=True
    )
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
