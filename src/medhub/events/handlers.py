"""Handlers of the identity events; later domains add theirs in their own modules."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.events.registry import EventView, handles
from medhub.kit.jobs import JobRuntime
from medhub.mail.service import queue_email
from medhub.models.notifications import NotificationCategory
from medhub.notifications import service as notifications
from medhub.users import service as users


@handles("user.registered")
async def send_welcome_email(session: AsyncSession, runtime: JobRuntime, event: EventView) -> None:
    user = await users.get_user(session, uuid.UUID(event.payload["user_id"]))
    await queue_email(
        session,
        "welcome",
        user.email,
        {"full_name": user.full_name, "role": user.role, "pending_approval": not user.is_approved},
        user_id=user.id,
    )


@handles("test.event")
async def notify_test_event(session: AsyncSession, runtime: JobRuntime, event: EventView) -> None:
    """`POST /events/test`: the caller gets an in-app notification (and live on the stream)."""
    await notifications.notify(
        session,
        uuid.UUID(event.payload["user_id"]),
        NotificationCategory.test,
        "Test event",
        str(event.payload.get("message", "Test event")),
        {"event_id": str(event.id)},
    )
