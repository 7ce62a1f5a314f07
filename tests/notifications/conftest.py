"""Fixtures for the notification tests: the app with the notifications router, real
uvicorn servers for the SSE streams, and a reader that collects a stream's events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from medhub.app import create_app
from medhub.config import Settings
from medhub.kit.db import Database
from medhub.notifications.notify_hub import NotifyHub
from tests.waiting import eventually

API = "/api/v1"
URL = f"{API}/notifications"
AdminSql = Callable[..., list[tuple[Any, ...]]]


# --- live servers -------------------------------------------------------------------------


@dataclass
class LiveApp:
    app: FastAPI
    base_url: str
    hub: NotifyHub

    @property
    def database(self) -> Database:
        database: Database = self.app.state.database
        return database


@contextlib.asynccontextmanager
async def live_app(settings: Settings) -> AsyncIterator[LiveApp]:
    """One API process: a real uvicorn server on a free port, in this event loop.

    (httpx's ASGI transport returns a response only once its body is complete,
    which an event stream never is.)
    """
    app = create_app(settings, configure_logs=False)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        return server.started

    await eventually(started, seconds=10, message="uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    hub: NotifyHub = app.state.notify_hub
    try:
        yield LiveApp(app=app, base_url=f"http://127.0.0.1:{port}", hub=hub)
    finally:
        server.should_exit = True
        await task


def with_heartbeat(settings: Settings, seconds: float) -> Settings:
    return settings.model_copy(update={"SSE_HEARTBEAT_SECONDS": seconds})


# --- reading a stream -----------------------------------------------------------------------


@dataclass
class SseEvent:
    event: str | None = None
    id: str | None = None
    data: str | None = None
    retry: str | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


@dataclass
class Stream:
    """A stream read in the background: every event lands in `events`."""

    response: httpx.Response
    events: list[SseEvent] = field(default_factory=list)
    ended: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @property
    def notifications(self) -> list[dict[str, Any]]:
        return [e.json() for e in self.events if e.event == "notification"]

    @property
    def ids(self) -> list[int]:
        return [int(e.id) for e in self.events if e.event == "notification" and e.id]

    @property
    def connected(self) -> bool:
        return any("connected" in e.comments for e in self.events)

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        current = SseEvent()
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if current != SseEvent():
                        self.events.append(current)
                        self._changed.set()
                    current = SseEvent()
                elif line.startswith(":"):
                    current.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "data" and current.data is not None:
                        current.data += "\n" + value
                    elif name in {"event", "id", "data", "retry"}:
                        setattr(current, name, value)
        except httpx.HTTPError:
            pass
        finally:
            self.ended = True
            self._changed.set()

    async def wait_until(self, predicate: Callable[[Stream], bool], seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            while not predicate(self):
                if self.ended:
                    raise AssertionError(f"stream ended first; events: {self.events}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_ended(self, seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            while not self.ended:
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient,
    base_url: str,
    headers: dict[str, str],
    *,
    params: dict[str, str] | None = None,
    wait_connected: bool = True,
) -> AsyncIterator[Stream]:
    async with http.stream(
        "GET", f"{base_url}{URL}/stream", headers=headers, params=params
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        stream.start()
        try:
            if wait_connected:
                await stream.wait_until(lambda s: s.connected)
            yield stream
        finally:
            await stream.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None), limits=limits) as client:
        yield client
