"""The activity log: append-only and hash-chained (triggers and the sealer: migrations
0002 and 0008)."""

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
        Index("ix_activity_logs_unsealed", "seq", postgresql_where=text("chain_seq IS NULL")),
        # The rows about given patient charts (a patient's access log): the function and
        # the convention it reads are in migration 0017.
        Index(
            "ix_activity_logs_charts",
            text("activity_log_charts(entity_type, entity_id, metadata)"),
            postgresql_using="gin",
            postgresql_where=text(
                "entity_type = 'patient' OR metadata ? 'patient_id' OR metadata ? 'patient_ids'"
            ),
        ),
    )

    # Insertion order, from a sequence in the insert trigger (which takes no lock): a
    # rolled-back insert leaves a gap, and a row may commit after a higher one.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, server_default=text("0"))
    # The inserting transaction (pg_current_xact_id): the sealer takes a row only once
    # that transaction is certainly over.
    xact_id: Mapped[int | None] = mapped_column(BigInteger)
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
    # The chain: NULL until the sealer (`seal_activity_logs()`) gives the row its
    # position, gapless in sealing order, and the hashes linking it to the row before.
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))
