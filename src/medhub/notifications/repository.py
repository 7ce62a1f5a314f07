"""Queries for notifications, preferences and the SMS outbox; every read is the user's own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.kit import rows
from medhub.kit.repository import Repository
from medhub.models.base import new_id
from medhub.models.notifications import (
    Notification,
    NotificationPreference,
    SmsMessage,
    SmsStatus,
)

_INSERT = text(
    "SELECT * FROM notification_insert(:id, :user_id, :category, :title, :body, :data)"
).bindparams(bindparam("data", type_=JSONB))
_RECIPIENT = text("SELECT * FROM notification_recipient(:user_id, :category)")
# The same check the auth dependency makes on every request (it also sets the context).
_LOGIN_SESSION = text("SELECT session_ok, user_active, org_active FROM auth_context(:sid, :uid)")


@dataclass(frozen=True)
class Recipient:
    """Who a notification goes to, with their stored preference (None: the default)."""

    email: str
    phone: str | None
    full_name: str
    is_active: bool
    in_app: bool | None
    email_on: bool | None
    sms_on: bool | None


# The list page, its total and the unread count in one round trip, as rows: the list is
# polled by every signed-in client, and three ORM queries cost most of its time. The
# optional filters are fixed fragments, never built from input.
_PAGE_COLUMNS = (
    "SELECT id, seq, category, title, body, data, read_at, created_at,"
    " count(*) OVER () AS total,"
    " (SELECT count(*) FROM notifications unread WHERE unread.user_id = %(user_id)s"
    " AND unread.read_at IS NULL) AS unread_count"
    " FROM notifications WHERE user_id = %(user_id)s"
)
_ONLY_UNREAD = " AND read_at IS NULL"
_ONLY_READ = " AND read_at IS NOT NULL"
_OF_CATEGORY = " AND category = %(category)s"
_NEWEST_FIRST = " ORDER BY seq DESC LIMIT %(limit)s OFFSET %(offset)s"
_COUNTS = (
    "SELECT count(*) AS total,"
    " (SELECT count(*) FROM notifications unread WHERE unread.user_id = %(user_id)s"
    " AND unread.read_at IS NULL) AS unread_count"
    " FROM notifications WHERE user_id = %(user_id)s"
)


class NotificationRepository(Repository[Notification]):
    model = Notification

    async def page_rows(
        self,
        user_id: uuid.UUID,
        *,
        unread: bool | None,
        category: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int, int]:
        """One page of the user's notifications, newest first, the total matching the
        filters and the user's unread count."""
        filters: LiteralString = ""
        if unread is True:
            filters += _ONLY_UNREAD
        elif unread is False:
            filters += _ONLY_READ
        if category is not None:
            filters += _OF_CATEGORY
        params = {"user_id": user_id, "category": category, "limit": limit, "offset": offset}
        found = await rows.fetch_all(self.session, _PAGE_COLUMNS + filters + _NEWEST_FIRST, params)
        if found:
            return found, int(found[0]["total"]), int(found[0]["unread_count"])
        # An empty page (none at all, or past the last one): the counts alone.
        counts = await rows.fetch_one(self.session, _COUNTS + filters, params)
        assert counts is not None  # an aggregate always answers one row
        return [], int(counts["total"]), int(counts["unread_count"])

    async def get_owned(
        self, user_id: uuid.UUID, notification_id: uuid.UUID
    ) -> Notification | None:
        result = await self.session.execute(
            select(Notification).where(
                Notification.id == notification_id, Notification.user_id == user_id
            )
        )
        return result.scalar_one_or_none()

    async def mark_all_read(self, user_id: uuid.UUID) -> int:
        result = await self.session.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=datetime.now(UTC))
            .returning(Notification.id)
        )
        return len(result.all())

    async def after(self, user_id: uuid.UUID, seq: int, limit: int) -> Sequence[Notification]:
        """The user's notifications with a larger seq than `seq`, oldest first."""
        result = await self.session.execute(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.seq > seq)
            .order_by(Notification.seq)
            .limit(limit)
        )
        return result.scalars().all()

    async def last_seq(self, user_id: uuid.UUID) -> int:
        result = await self.session.scalar(
            select(func.max(Notification.seq)).where(Notification.user_id == user_id)
        )
        return int(result or 0)

    async def insert(
        self,
        user_id: uuid.UUID,
        category: str,
        title: str,
        body: str,
        data: dict[str, Any],
    ) -> Notification:
        """Store and announce one notification, whoever's tenant context this session has."""
        statement = select(Notification).from_statement(_INSERT)
        result = await self.session.execute(
            statement,
            {
                "id": new_id(),
                "user_id": user_id,
                "category": category,
                "title": title,
                "body": body,
                "data": data,
            },
        )
        notification: Notification = result.scalar_one()
        return notification

    async def recipient(self, user_id: uuid.UUID, category: str) -> Recipient | None:
        row = (
            await self.session.execute(_RECIPIENT, {"user_id": user_id, "category": category})
        ).one_or_none()
        if row is None:
            return None
        return Recipient(
            email=row.email,
            phone=row.phone,
            full_name=row.full_name,
            is_active=row.is_active,
            in_app=row.pref_in_app,
            email_on=row.pref_email,
            sms_on=row.pref_sms,
        )


class PreferenceRepository(Repository[NotificationPreference]):
    model = NotificationPreference

    async def for_user(self, user_id: uuid.UUID) -> Sequence[NotificationPreference]:
        result = await self.session.execute(
            select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
        return result.scalars().all()

    async def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        statement = pg_insert(NotificationPreference).values(list(rows))
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[NotificationPreference.user_id, NotificationPreference.category],
                set_={
                    "email": statement.excluded.email,
                    "sms": statement.excluded.sms,
                    "in_app": statement.excluded.in_app,
                    "updated_at": func.now(),
                },
            )
        )


class SmsRepository(Repository[SmsMessage]):
    model = SmsMessage

    async def queue(self, user_id: uuid.UUID, to_number: str, body: str) -> uuid.UUID:
        # A plain INSERT without RETURNING: the row is usually for another user, whom
        # the caller's read policy does not show (and RETURNING would have to).
        message_id = new_id()
        await self.session.execute(
            insert(SmsMessage).values(
                id=message_id,
                user_id=user_id,
                to_number=to_number,
                body=body,
                status=SmsStatus.queued.value,
                attempts=0,
            )
        )
        return message_id


async def login_session_live(
    session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    """Whether a login may still act: not revoked or expired, account and organization active."""
    row = (await session.execute(_LOGIN_SESSION, {"sid": session_id, "uid": user_id})).one_or_none()
    return row is not None and bool(row.session_ok and row.user_active and row.org_active)
