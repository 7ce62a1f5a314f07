"""Which handlers run for which domain event. Handlers register with `@handles(...)`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.kit.jobs import JobRuntime


@dataclass(frozen=True)
class EventView:
    id: uuid.UUID
    name: str
    payload: dict[str, Any]
    actor_id: uuid.UUID | None
    organization_id: uuid.UUID | None


Handler = Callable[[AsyncSession, JobRuntime, EventView], Awaitable[None]]

HANDLERS: dict[str, dict[str, Handler]] = {}


def handles(*event_names: str) -> Callable[[Handler], Handler]:
    """Register a handler; its qualified name identifies it in delivery receipts."""

    def register(handler: Handler) -> Handler:
        key = f"{handler.__module__}.{handler.__qualname__}"
        for name in event_names:
            HANDLERS.setdefault(name, {})[key] = handler
        return handler

    return register


def handlers_for(event_name: str) -> dict[str, Handler]:
    return HANDLERS.get(event_name, {})
