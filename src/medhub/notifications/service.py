"""Notifications: `notify()`, the one way any domain tells a user something, and the
user's own list, read marks and channel preferences.

`notify()` works in whatever tenant context its caller runs (a pharmacist's
request, a background job): the recipient's preferences, address and new row
are read and written by SECURITY DEFINER functions (migration 0004), so the
caller's context is never widened. Everything it causes is part of the caller's
transaction: the row, the `pg_notify` that wakes the SSE streams (delivered by
PostgreSQL at COMMIT only), the queued email and the SMS job. A rolled-back
request notifies nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.kit.errors import NotFound
from medhub.kit.jobs import defer
from medhub.kit.pagination import PageParams
from medhub.mail import service as mail
from medhub.models.notifications import Notification, NotificationCategory
from medhub.notifications.repository import (
    NotificationRepository,
    PreferenceRepository,
    Recipient,
    SmsRepository,
    login_session_live,
)
from medhub.notifications.schemas import NotificationRead, Preference, PreferencesUpdate
from medhub.notifications.tasks import send_sms

EMAIL_TEMPLATE = "notification"
TITLE_MAX_LENGTH = 255
# Three concatenated SMS segments; a longer text is cut, the full one is in the app.
SMS_MAX_LENGTH = 459

# Categories that also go out by email unless the user says otherwise: things a
# person must not miss when they are not looking at the app.
EMAIL_BY_DEFAULT = frozenset(
    {
        NotificationCategory.security,
        NotificationCategory.order,
        NotificationCategory.prescription,
        NotificationCategory.appointment,
        NotificationCategory.reminder,
        NotificationCategory.stock,
    }
)


@dataclass(frozen=True)
class Channels:
    in_app: bool
    email: bool
    sms: bool


def default_channels(category: NotificationCategory) -> Channels:
    return Channels(in_app=True, email=category in EMAIL_BY_DEFAULT, sms=False)


def _channels(recipient: Recipient, category: NotificationCategory) -> Channels:
    default = default_channels(category)
    return Channels(
        in_app=default.in_app if recipient.in_app is None else recipient.in_app,
        email=default.email if recipient.email_on is None else recipient.email_on,
        sms=default.sms if recipient.sms_on is None else recipient.sms_on,
    )


def _frontend_path(value: Any) -> str | None:
    """A path on the frontend, or None: an email links to nowhere else."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value
    return None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def notify(  # noqa: PLR0917 - the call every domain makes, kept positional
    session: AsyncSession,
    user_id: uuid.UUID,
    category: NotificationCategory | str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
    *,
    email: tuple[str, dict[str, Any]] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> Notification | None:
    """Tell `user_id` something on the channels they chose for `category`.

    `email=(template, context)` sends that dedicated email (an order confirmation,
    a shipping notice) instead of the generic notification email, still only when
    the user's email channel for the category is on; `attachments` go with that
    dedicated email (kit.email.build_message: e.g. a calendar invitation).

    Returns the stored in-app notification, or None when the user turned the
    in-app channel off for this category. Email and SMS go only to active accounts.
    `data["link"]`, a path in the frontend (`/orders/<id>`), is where the app and
    the email send the user for details.
    """
    category = NotificationCategory(category)
    notifications = NotificationRepository(session)
    recipient = await notifications.recipient(user_id, category)
    if recipient is None:
        raise NotFound("User not found")
    channels = _channels(recipient, category)
    title = _clip(title.strip(), TITLE_MAX_LENGTH)
    notification: Notification | None = None
    if channels.in_app:
        notification = await notifications.insert(user_id, category, title, body, data or {})
    if not recipient.is_active:
        return notification
    if channels.email and email is not None:
        template, context = email
        await mail.queue_email(
            session,
            template,
            recipient.email,
            {"full_name": recipient.full_name, **context},
            user_id=user_id,
            attachments=attachments,
        )
    elif channels.email:
        await mail.queue_email(
            session,
            EMAIL_TEMPLATE,
            recipient.email,
            {
                "full_name": recipient.full_name,
                "title": title,
                "body": body,
                "category": category.value,
                "link": _frontend_path((data or {}).get("link")),
            },
            user_id=user_id,
        )
    if channels.sms and recipient.phone:
        text = _clip(f"{title}: {body}" if body else title, SMS_MAX_LENGTH)
        sms_id = await SmsRepository(session).queue(user_id, recipient.phone, text)
        await defer(session, send_sms, sms_id=str(sms_id))
    return notification


async def send_text(
    session: AsyncSession, user_id: uuid.UUID, category: NotificationCategory | str, text: str
) -> bool:
    """An SMS only (codes, short updates), if the user has a phone and chose SMS for
    `category`. Returns whether one was queued."""
    category = NotificationCategory(category)
    recipient = await NotificationRepository(session).recipient(user_id, category)
    if recipient is None or not recipient.is_active or not recipient.phone:
        return False
    if not _channels(recipient, category).sms:
        return False
    sms_id = await SmsRepository(session).queue(
        user_id, recipient.phone, _clip(text, SMS_MAX_LENGTH)
    )
    await defer(session, send_sms, sms_id=str(sms_id))
    return True


# -- the user's own notifications ------------------------------------------------


@dataclass(frozen=True)
class NotificationPage:
    items: list[NotificationRead]
    total: int
    unread_count: int


async def list_notifications(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    unread: bool | None = None,
    category: NotificationCategory | None = None,
) -> NotificationPage:
    found, total, unread_count = await NotificationRepository(session).page_rows(
        principal.require_user_id(),
        unread=unread,
        category=category,
        limit=page.limit,
        offset=page.offset,
    )
    return NotificationPage(
        items=[NotificationRead.model_validate(row) for row in found],
        total=total,
        unread_count=unread_count,
    )


async def get_notification(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID
) -> Notification:
    notification = await NotificationRepository(session).get_owned(
        principal.require_user_id(), notification_id
    )
    if notification is None:
        raise NotFound("Notification not found")
    return notification


async def mark_read(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID
) -> Notification:
    """Idempotent: a notification read before keeps its first read time."""
    notification = await get_notification(session, principal, notification_id)
    if notification.read_at is None:
        notification.read_at = datetime.now(UTC)
        await session.flush()
    return notification


async def mark_all_read(session: AsyncSession, principal: Principal) -> int:
    return await NotificationRepository(session).mark_all_read(principal.require_user_id())


async def delete_notification(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID
) -> None:
    notification = await get_notification(session, principal, notification_id)
    await NotificationRepository(session).delete(notification)
    audit.record(
        session,
        "notification_deleted",
        actor=principal,
        entity_type="notification",
        entity_id=notification_id,
    )


# -- preferences -----------------------------------------------------------------


async def get_preferences(session: AsyncSession, principal: Principal) -> list[Preference]:
    """Every category, stored choice or default, in the category order."""
    stored = {
        row.category: row
        for row in await PreferenceRepository(session).for_user(principal.require_user_id())
    }
    preferences: list[Preference] = []
    for category in NotificationCategory:
        row = stored.get(category.value)
        if row is None:
            default = default_channels(category)
            preferences.append(
                Preference(
                    category=category, email=default.email, sms=default.sms, in_app=default.in_app
                )
            )
        else:
            preferences.append(
                Preference(category=category, email=row.email, sms=row.sms, in_app=row.in_app)
            )
    return preferences


async def update_preferences(
    session: AsyncSession, principal: Principal, changes: PreferencesUpdate
) -> list[Preference]:
    """Change the listed categories; a channel left out keeps its current value."""
    user_id = principal.require_user_id()
    current = {p.category: p for p in await get_preferences(session, principal)}
    rows: list[dict[str, Any]] = []
    for change in changes.preferences:
        before = current[change.category]
        rows.append(
            {
                "user_id": user_id,
                "category": change.category.value,
                "email": before.email if change.email is None else change.email,
                "sms": before.sms if change.sms is None else change.sms,
                "in_app": before.in_app if change.in_app is None else change.in_app,
            }
        )
    await PreferenceRepository(session).upsert(rows)
    audit.record(
        session,
        "notification_preferences_updated",
        actor=principal,
        entity_type="user",
        entity_id=user_id,
        metadata={
            "preferences": {
                row["category"]: {k: row[k] for k in ("email", "sms", "in_app")} for row in rows
            }
        },
    )
    return await get_preferences(session, principal)


# -- what the live stream reads ------------------------------------------------------


async def notifications_after(
    session: AsyncSession, user_id: uuid.UUID, seq: int, limit: int
) -> Sequence[Notification]:
    return await NotificationRepository(session).after(user_id, seq, limit)


async def last_seq(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await NotificationRepository(session).last_seq(user_id)


async def stream_may_continue(
    session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    return await login_session_live(session, session_id, user_id)
