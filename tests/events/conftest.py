"""Probe handlers registered for one test only (the registry is restored afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.events import registry
from medhub.events.registry import EventView, handles
from medhub.kit.jobs import JobRuntime

Work = Callable[[AsyncSession, EventView], Awaitable[None]]


@dataclass
class Probe:
    """A handler that records each run; its first `fail_times` runs raise after the work."""

    key: str
    work: Work | None = None
    fail_times: int = 0
    calls: list[EventView] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, runtime: JobRuntime, event: EventView) -> None:
        self.calls.append(event)
        if self.work is not None:
            await self.work(session, event)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError(f"{self.key} failed on purpose")


Register = Callable[..., Probe]


@pytest.fixture
def register_probe(monkeypatch: pytest.MonkeyPatch) -> Register:
    monkeypatch.setattr(
        registry, "HANDLERS", {name: dict(found) for name, found in registry.HANDLERS.items()}
    )

    def register(event_name: str, *, work: Work | None = None, fail_times: int = 0) -> Probe:
        name = f"probe_{uuid.uuid4().hex[:8]}"
        probe = Probe(key=f"{__name__}.{name}", work=work, fail_times=fail_times)

        async def handler(session: AsyncSession, runtime: JobRuntime, event: EventView) -> None:
            await probe(session, runtime, event)

        # `handles` names a handler by module and qualified name, as in its receipts.
        handler.__module__ = __name__
        handler.__qualname__ = name
        handles(event_name)(handler)
        assert probe.key in registry.handlers_for(event_name)
        return probe

    return register
