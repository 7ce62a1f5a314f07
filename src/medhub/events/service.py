"""Domain events: `emit()` records the event and defers one job per handler, all in the
caller's transaction. Handlers run exactly once in effect: a receipt row is written
in the handler's own transaction, and a job that runs again finds it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.events import handlers  # noqa: F401 - registers the handlers
from medhub.events.registry import handlers_for
from medhub.events.tasks import dispatch_event
from medhub.kit.jobs import defer
from medhub.models.events import DomainEvent


async def emit(
    session: AsyncSession,
    name: str,
    payload: dict[str, Any],
    *,
    actor_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
) -> uuid.UUID:
    event = DomainEvent(
        name=name, payload=payload, actor_id=actor_id, organization_id=organization_id
    )
    session.add(event)
    await session.flush()
    for handler in handlers_for(name):
        await defer(session, dispatch_event, event_id=str(event.id), handler=handler)
    return event.id
