"""Handlers of the identity events; later domains add theirs in their own modules."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.events.registry import EventView, handles
from medhub.kit.jobs import JobRuntime
from medhub.mail.service import queue_email
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
