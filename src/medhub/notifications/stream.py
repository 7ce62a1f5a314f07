"""GET /notifications/stream: the caller's notifications as Server-Sent Events.

What the client receives:
- `: connected` (with `retry: 3000`) once the stream is live: subscribed and caught up;
- `event: notification`, `id: <seq>`, `data: <the notification as JSON>` per notification;
- `: ping` every SSE_HEARTBEAT_SECONDS, so proxies keep an idle connection open;
- `event: closed`, `data: {"reason": ...}` when the server ends the stream
  (`session_ended` after logout or revocation, `overflow` for a client that does
  not keep up, `shutdown`, `unavailable`). A browser reconnects by itself and
  sends `Last-Event-ID`; after a logout that reconnect is refused with 401.

Resuming: `Last-Event-ID` (or `?last_event_id=`) replays every notification of the
user with a larger seq, in order, before the live ones. The stream subscribes to
the process's hub first and reads the backlog second, so nothing committed in
between is lost, and it only ever sends seqs above the last one sent, so nothing
is sent twice.

An open stream holds no database connection: it authenticates with the request's
session, releases it, and reads later in short units of work of its own, on the
primary (a replica may not have the row yet when its NOTIFY arrives).
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit.db import Database
from medhub.kit.errors import ServiceUnavailable
from medhub.kit.tenancy import set_tenant_context
from medhub.notifications import service
from medhub.notifications.notify_hub import Closed, NotifyHub, Resync, Subscription, Wakeup
from medhub.notifications.schemas import NotificationRead

log = structlog.get_logger(__name__)

EVENT_NOTIFICATION = "notification"
EVENT_CLOSED = "closed"
REPLAY_BATCH = 100
RECONNECT_DELAY_MS = 3000
# A client that accepts nothing for this long is gone; its stream is dropped.
SEND_TIMEOUT_SECONDS = 30.0

T = TypeVar("T")


def heartbeat_seconds(settings: Settings) -> float:
    # Read with a default: the setting is optional.
    return settings.SSE_HEARTBEAT_SECONDS


@dataclass(frozen=True)
class StreamOwner:
    """Who the stream is for, kept after the request's session is released."""

    user_id: uuid.UUID
    session_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    role: str

    @classmethod
    def of(cls, principal: Principal) -> StreamOwner:
        return cls(
            user_id=principal.require_user_id(),
            session_id=principal.session_id,
            organization_id=principal.organization_id,
            role=principal.role,
        )


class NotificationStream:
    def __init__(
        self,
        hub: NotifyHub,
        database: Database,
        owner: StreamOwner,
        *,
        resume_after: int | None,
        heartbeat: float,
    ) -> None:
        self.hub = hub
        self.database = database
        self.owner = owner
        self.resume_after = resume_after
        self.heartbeat = heartbeat
        self.last_seq = 0
        self.closed_reason = "client_gone"

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        log.info(
            "notifications.stream_opened",
            user_id=str(self.owner.user_id),
            resume_after=self.resume_after,
        )
        try:
            # Subscribe before reading: a notification committed from here on is
            # either in the backlog read below or announced on the subscription.
            with self.hub.subscription(self.owner.user_id, self.owner.session_id) as subscription:
                if self.resume_after is None:
                    self.last_seq = await self._read(
                        functools.partial(service.last_seq, user_id=self.owner.user_id)
                    )
                else:
                    self.last_seq = self.resume_after
                    async for event in self._pending():
                        yield event
                yield ServerSentEvent(comment="connected", retry=RECONNECT_DELAY_MS)
                async for event in self._live(subscription):
                    yield event
        except (SQLAlchemyError, OSError) as exc:
            # The database went away: the client reconnects and resumes from its last id.
            self.closed_reason = "unavailable"
            log.warning("notifications.stream_failed", error=f"{type(exc).__name__}: {exc}")
            yield _closed(self.closed_reason)
        finally:
            log.info(
                "notifications.stream_closed",
                user_id=str(self.owner.user_id),
                reason=self.closed_reason,
                last_seq=self.last_seq,
            )

    async def _live(self, subscription: Subscription) -> AsyncIterator[ServerSentEvent]:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self.heartbeat
        while True:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
                # cancellation of a closing stream when an event arrives at that moment,
                # and this loop would then outlive its client.
                async with asyncio.timeout(max(0.0, next_beat - loop.time())):
                    first = await subscription.next()
            except TimeoutError:
                # The hub announces revocations; this catches what it cannot (a
                # session that expired, a NOTIFY lost while it reconnected).
                if not await self._session_live():
                    self.closed_reason = "session_ended"
                    yield _closed(self.closed_reason)
                    return
                yield ServerSentEvent(comment="ping")
                next_beat = loop.time() + self.heartbeat
                continue
            events = [first, *subscription.drain()]
            closed = next((e for e in events if isinstance(e, Closed)), None)
            if closed is not None:
                self.closed_reason = (
                    "session_ended" if closed.reason == "session_revoked" else closed.reason
                )
                yield _closed(self.closed_reason)
                return
            if any(
                isinstance(e, Resync) or (isinstance(e, Wakeup) and e.seq > self.last_seq)
                for e in events
            ):
                async for event in self._pending():
                    yield event

    async def _pending(self) -> AsyncIterator[ServerSentEvent]:
        """Every notification after the last one sent, in batches, oldest first."""
        while True:
            batch = await self._read(
                functools.partial(
                    service.notifications_after,
                    user_id=self.owner.user_id,
                    seq=self.last_seq,
                    limit=REPLAY_BATCH,
                )
            )
            for notification in batch:
                self.last_seq = notification.seq
                yield ServerSentEvent(
                    data=NotificationRead.model_validate(notification).model_dump_json(),
                    event=EVENT_NOTIFICATION,
                    id=str(notification.seq),
                )
            if len(batch) < REPLAY_BATCH:
                return

    async def _session_live(self) -> bool:
        session_id = self.owner.session_id
        if session_id is None:
            return True
        async with self.database.unit_of_work() as session:
            return await service.stream_may_continue(session, session_id, self.owner.user_id)

    async def _read(self, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.database.unit_of_work() as session:
            await set_tenant_context(
                session,
                user_id=self.owner.user_id,
                organization_id=self.owner.organization_id,
                role=self.owner.role,
            )
            return await query(session)


def _closed(reason: str) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps({"reason": reason}), event=EVENT_CLOSED)


class _EventStreamResponse(EventSourceResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            # A client that stopped reading: routine, not a server error.
            log.info("notifications.stream_stalled", timeout=SEND_TIMEOUT_SECONDS)


def open_stream(request: Request, principal: Principal, resume_after: int | None) -> Response:
    hub: NotifyHub | None = getattr(request.app.state, "notify_hub", None)
    if hub is None:
        raise ServiceUnavailable("Live notifications are not available on this server")
    stream = NotificationStream(
        hub,
        request.app.state.database,
        StreamOwner.of(principal),
        resume_after=resume_after,
        heartbeat=heartbeat_seconds(request.app.state.settings),
    )
    return _EventStreamResponse(
        stream.events(),
        # The stream sends its own heartbeat (and checks the session with it).
        ping=0,
        send_timeout=SEND_TIMEOUT_SECONDS,
    )
