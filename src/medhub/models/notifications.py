"""In-app notifications, each user's channel preferences, and the SMS outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin


class NotificationCategory(StrEnum):
    account = "account"
    security = "security"
    order = "order"
    inquiry = "inquiry"
    prescription = "prescription"
    appointment = "appointment"
    review = "review"
    reminder = "reminder"
    stock = "stock"
    system = "system"
    test = "test"


class SmsStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


# The SSE event id: one sequence for all users, so a client's Last-Event-ID is a
# plain number. Rows are inserted by `notification_insert()` (migration 0004).
NOTIFICATION_SEQ = Sequence("notifications_seq", metadata=Base.metadata)


class Notification(IdMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_seq", "user_id", "seq"),
        Index("ix_notifications_user_category_seq", "user_id", "category", "seq"),
        Index(
            "ix_notifications_user_unread",
            "user_id",
            "seq",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger, server_default=text("nextval('notifications_seq')"), unique=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class NotificationPreference(Base):
    """A user's choice for one category; no row means the category's defaults."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(50), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[bool] = mapped_column(Boolean)
    in_app: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class SmsMessage(IdMixin, Base):
    """One text message: a row, delivered by the `medhub.send_sms` job that takes its id."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status"),
        Index("ix_sms_messages_status_created", "status", "created_at"),
        Index("ix_sms_messages_user_created", "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    to_number: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=SmsStatus.queued.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    sent_at: Mapped[datetime | None]
