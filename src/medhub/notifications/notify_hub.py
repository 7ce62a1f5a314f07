"""The per-process LISTEN/NOTIFY fan-out behind the live notification streams.

One dedicated autocommit connection per process LISTENs on two channels, and one
reader task dispatches what arrives to the in-memory subscriptions of that
process (one per open stream):

- `medhub_notifications`, payload `{"user_id": ..., "seq": ...}`: a notification
  was committed for that user → `Wakeup(seq)` to the user's subscriptions;
- `medhub_session_revoked`, payload `<session uuid>` (or several, comma-separated):
  that login ended → `Closed("session_revoked")` to the streams opened with it.

An idle subscription is a small object and an empty bounded queue: nothing
polls. A subscriber that does not keep up (its queue is full, because its client
reads slower than events arrive) is dropped with `Closed("overflow")` rather than
slowing anyone else. If the listening connection drops, the hub reconnects with
exponential backoff and then tells every subscriber to `Resync`: notifications
committed while nobody was listening are found by re-reading from the last
sequence number a stream has sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger(__name__)

NOTIFICATIONS_CHANNEL = "medhub_notifications"
SESSION_REVOKED_CHANNEL = "medhub_session_revoked"
APPLICATION_NAME = "medhub-notify-hub"


@dataclass(frozen=True, slots=True)
class Wakeup:
    """A notification with this sequence number was committed for the subscriber's user."""

    seq: int


@dataclass(frozen=True, slots=True)
class Resync:
    """Events may have been missed: re-read everything after the last one sent."""


@dataclass(frozen=True, slots=True)
class Closed:
    """The subscription is over (`session_revoked`, `overflow`, `shutdown`)."""

    reason: str


HubEvent = Wakeup | Resync | Closed


class Subscription:
    __slots__ = ("closed", "queue", "session_id", "user_id")

    def __init__(self, user_id: uuid.UUID, session_id: uuid.UUID | None, size: int) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.queue: asyncio.Queue[HubEvent] = asyncio.Queue(maxsize=size)
        self.closed = False

    async def next(self) -> HubEvent:
        return await self.queue.get()

    def drain(self) -> list[HubEvent]:
        """Whatever else is already queued, without waiting."""
        events: list[HubEvent] = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events

    def push(self, event: HubEvent) -> bool:
        """Queue `event`; False if the queue is full (the subscriber is not keeping up)."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def close(self, reason: str) -> None:
        """Replace whatever is pending with one final `Closed` (there is room for it then)."""
        self.closed = True
        self.drain()
        self.queue.put_nowait(Closed(reason))


class NotifyHub:
    """One per process: `await hub.start()` at start-up, `await hub.stop()` at shutdown."""

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 256,
        health_check_seconds: float = 30.0,
        reconnect_min_seconds: float = 0.5,
        reconnect_max_seconds: float = 30.0,
        connect_timeout_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.queue_size = queue_size
        self.health_check_seconds = health_check_seconds
        self.reconnect_min_seconds = reconnect_min_seconds
        self.reconnect_max_seconds = reconnect_max_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self._by_user: dict[uuid.UUID, set[Subscription]] = {}
        self._by_session: dict[uuid.UUID, set[Subscription]] = {}
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self.backend_pid: int | None = None
        self.connections_made = 0
        # Other channels this process listens to, for in-process caches (the
        # session-check cache), and who wants to know when listening starts or stops.
        self._watchers: dict[str, Callable[[str], None]] = {}
        self._listening_watchers: list[Callable[[bool], None]] = []
        self._connection: psycopg.AsyncConnection[object] | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, *, wait_seconds: float = 1.0) -> None:
        """Start listening; waits a moment for the first LISTEN, never longer.

        Start-up must not hang on it: if the database is not reachable yet, the
        hub keeps trying in the background and its subscribers re-sync once it is.
        """
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="medhub-notify-hub")
        try:
            await asyncio.wait_for(self._listening.wait(), wait_seconds)
        except TimeoutError:
            log.warning("notify_hub.not_listening_yet", retry_max=self.reconnect_max_seconds)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listening.is_set():
            self._set_listening(False)
        for subscription in list(self._subscriptions()):
            self.unsubscribe(subscription)
            subscription.close("shutdown")

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def watch(
        self,
        channel: str,
        on_payload: Callable[[str], None],
        on_listening: Callable[[bool], None],
    ) -> None:
        """Hand every payload of `channel` to `on_payload`, and tell `on_listening`
        whenever listening starts or stops (announcements may have been missed then).
        Call before `start()`."""
        self._watchers[channel] = on_payload
        self._listening_watchers.append(on_listening)

    def poll(self) -> None:
        """Dispatch what has already reached this process, without waiting.

        A notification travels from the committing transaction to this process's
        socket before the client hears of the commit; the reader task might not
        have run yet when the next request is served. Reading the socket here (a
        non-blocking receive) closes that window for callers that depend on it.
        """
        connection = self._connection
        if connection is None or connection.closed:
            return
        pgconn = connection.pgconn
        try:
            pgconn.consume_input()
        except psycopg.OperationalError:
            return
        while (notify := pgconn.notifies()) is not None:
            self.dispatch(
                notify.relname.decode(errors="replace"), notify.extra.decode(errors="replace")
            )

    def _set_listening(self, listening: bool) -> None:
        if listening:
            self._listening.set()
        else:
            self._listening.clear()
        for watcher in self._listening_watchers:
            watcher(listening)

    # -- subscriptions -----------------------------------------------------------

    def subscribe(self, user_id: uuid.UUID, session_id: uuid.UUID | None) -> Subscription:
        subscription = Subscription(user_id, session_id, self.queue_size)
        self._by_user.setdefault(user_id, set()).add(subscription)
        if session_id is not None:
            self._by_session.setdefault(session_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        _discard(self._by_user, subscription.user_id, subscription)
        if subscription.session_id is not None:
            _discard(self._by_session, subscription.session_id, subscription)

    @contextlib.contextmanager
    def subscription(
        self, user_id: uuid.UUID, session_id: uuid.UUID | None
    ) -> Iterator[Subscription]:
        subscription = self.subscribe(user_id, session_id)
        try:
            yield subscription
        finally:
            self.unsubscribe(subscription)

    @property
    def subscriber_count(self) -> int:
        return sum(len(group) for group in self._by_user.values())

    def _subscriptions(self) -> Iterator[Subscription]:
        for group in self._by_user.values():
            yield from group

    # -- dispatch ----------------------------------------------------------------

    def dispatch(self, channel: str, payload: str) -> None:
        """Route one notification from PostgreSQL to the subscriptions it concerns."""
        watcher = self._watchers.get(channel)
        if watcher is not None:
            watcher(payload)
        elif channel == NOTIFICATIONS_CHANNEL:
            try:
                message = json.loads(payload)
                user_id = uuid.UUID(str(message["user_id"]))
                event: HubEvent = Wakeup(int(message["seq"]))
            except (ValueError, KeyError, TypeError):
                log.warning("notify_hub.bad_payload", channel=channel, payload=payload[:200])
                return
            self._deliver(self._by_user.get(user_id, ()), event)
        elif channel == SESSION_REVOKED_CHANNEL:
            try:
                session_ids = [uuid.UUID(part) for part in payload.replace(",", " ").split()]
            except ValueError:
                log.warning("notify_hub.bad_payload", channel=channel, payload=payload[:200])
                return
            for session_id in session_ids:
                for subscription in list(self._by_session.get(session_id, ())):
                    self.unsubscribe(subscription)
                    subscription.close("session_revoked")

    def _deliver(self, subscriptions: set[Subscription] | tuple[()], event: HubEvent) -> None:
        for subscription in list(subscriptions):
            if not subscription.push(event):
                self.unsubscribe(subscription)
                subscription.close("overflow")
                log.warning(
                    "notify_hub.subscriber_dropped",
                    reason="overflow",
                    user_id=str(subscription.user_id),
                    queue_size=self.queue_size,
                )

    def _resync_all(self) -> None:
        for group in list(self._by_user.values()):
            self._deliver(group, Resync())

    # -- the listening connection ------------------------------------------------

    def _retry_delay(self) -> float:
        doublings = min(self._failures, 16)
        delay: float = self.reconnect_min_seconds * 2.0**doublings
        return min(delay, self.reconnect_max_seconds)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "notify_hub.connection_lost",
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=self._retry_delay(),
                )
            except Exception:
                # Whatever went wrong, the process must not lose its live streams for good.
                log.exception("notify_hub.failed", retry_in=self._retry_delay())
            finally:
                self._connection = None
                if self._listening.is_set():
                    self._set_listening(False)
                self.backend_pid = None
            await asyncio.sleep(self._retry_delay())
            self._failures += 1

    async def _listen(self) -> None:
        connection = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            application_name=APPLICATION_NAME,
            connect_timeout=max(1, int(self.connect_timeout_seconds)),
            # A peer that vanishes without closing the socket is noticed by the
            # health check below; keepalives make the kernel notice it as well.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        async with connection:
            for channel in (NOTIFICATIONS_CHANNEL, SESSION_REVOKED_CHANNEL, *self._watchers):
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.backend_pid = connection.info.backend_pid
            self.connections_made += 1
            self._failures = 0
            self._connection = connection
            self._set_listening(True)
            log.info("notify_hub.listening", connections=self.connections_made)
            # Whatever was committed while nobody listened (start-up, a reconnect)
            # is found by the subscribers themselves, from their last sent seq.
            self._resync_all()
            while True:
                async for notify in connection.notifies(timeout=self.health_check_seconds):
                    self.dispatch(notify.channel, notify.payload)
                async with asyncio.timeout(self.connect_timeout_seconds):
                    await connection.execute("SELECT 1")


def _discard(
    index: dict[uuid.UUID, set[Subscription]], key: uuid.UUID, subscription: Subscription
) -> None:
    group = index.get(key)
    if group is None:
        return
    group.discard(subscription)
    if not group:
        del index[key]
