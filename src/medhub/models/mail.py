"""Outgoing email: each message is a row, delivered by a job that takes its id."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin


class EmailStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


class OutgoingEmail(IdMixin, Base):
    __tablename__ = "email_messages"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status"),
        Index("ix_email_messages_status_created", "status", "created_at"),
        # Counting what one address was sent (inquiry acknowledgements) stays cheap.
        Index(
            "ix_email_messages_recipient_template",
            func.lower(text("to_address")),
            "template",
            "created_at",
        ),
    )

    to_address: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(500))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    # Inline parts (a prescription's QR image): [{cid, filename, content_type, data_b64}].
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    user_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(20), default=EmailStatus.queued.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    sent_at: Mapped[datetime | None]
