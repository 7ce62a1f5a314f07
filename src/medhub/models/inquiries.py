"""Inquiries and quote requests sent to a supplier, and the conversation on each."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, TimestampMixin, one_of


class InquiryStatus(StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"


class InquiryPriority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class InquiryMessageKind(StrEnum):
    response = "response"  # emailed to the requester
    note = "note"  # staff only


class Inquiry(IdMixin, TimestampMixin, Base):
    __tablename__ = "inquiries"
    __table_args__ = (
        CheckConstraint(one_of("status", InquiryStatus), name="status"),
        CheckConstraint(one_of("priority", InquiryPriority), name="priority"),
        Index("ix_inquiries_supplier_status", "supplier_id", "status", "created_at"),
        Index("ix_inquiries_assigned_status", "assigned_to", "status"),
        Index("ix_inquiries_user_created", "user_id", "created_at"),
    )

    reference_number: Mapped[str] = mapped_column(String(50), unique=True)
    supplier_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(CITEXT)
    company: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=InquiryStatus.pending.value)
    priority: Mapped[str] = mapped_column(String(20), default=InquiryPriority.normal.value)
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class InquiryMessage(IdMixin, Base):
    __tablename__ = "inquiry_messages"
    __table_args__ = (
        CheckConstraint(one_of("kind", InquiryMessageKind), name="kind"),
        Index("ix_inquiry_messages_inquiry_created", "inquiry_id", "created_at"),
    )

    inquiry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inquiries.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
