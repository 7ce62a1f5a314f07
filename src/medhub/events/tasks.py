"""The job that runs one handler for one event, once."""

from __future__ import annotations

import uuid

from procrastinate import JobContext
from sqlalchemy import select, text

from medhub.events.registry import EventView, handlers_for
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of
from medhub.kit.tenancy import set_system_context
from medhub.models.events import DomainEvent

EVENT_RETRY = Backoff(max_attempts=lambda: 10, base_seconds=constant(5))

_RECEIPT = text(
    "INSERT INTO event_deliveries (event_id, handler) VALUES (:event_id, :handler)"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


@jobs_app.task(name="medhub.dispatch_event", queue="events", pass_context=True, retry=EVENT_RETRY)
async def dispatch_event(context: JobContext, event_id: str, handler: str) -> str:
    runtime = runtime_of(context)
    async with runtime.database.unit_of_work() as session:
        await set_system_context(session)
        event = (
            await session.execute(select(DomainEvent).where(DomainEvent.id == uuid.UUID(event_id)))
        ).scalar_one_or_none()
        if event is None:
            return "event gone"
        run = handlers_for(event.name).get(handler)
        if run is None:
            return "no such handler"
        # The receipt and the handler's work commit together: a second run of this
        # job (after a crash, a retry) finds the receipt and stops here.
        receipt = await session.execute(_RECEIPT, {"event_id": event.id, "handler": handler})
        if receipt.first() is None:
            return "already delivered"
        view = EventView(
            id=event.id,
            name=event.name,
            payload=dict(event.payload),
            actor_id=event.actor_id,
            organization_id=event.organization_id,
        )
        await run(session, runtime, view)
    return "delivered"
