"""Electing the one API process that runs the in-process job worker.

`medhub serve --workers N` starts N API processes from one command (and a deployment
may run several `medhub serve` against one database); each would otherwise start a
job worker of its own. They elect one instead: the process that holds a PostgreSQL
session-level advisory lock (`WORKER_LOCK_KEY`, one per database) on a connection of
its own runs the worker. The others keep their connection and try again every
`retry_seconds`, so when the holder exits (its connection closes and PostgreSQL
releases the lock, also when the process is killed) another takes over within one
interval. A lone process wins at its first try, at once.

The holder checks its lock connection every interval too: if that connection broke
(a server restart, a network cut), the lock is gone and another process may win, so
the holder stops its worker before it stands again. The lock needs a real session:
not a transaction-pooling PgBouncer between MedHub and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog

from medhub.kit.db import libpq_url

log = structlog.get_logger(__name__)

# ASCII "medhjobw"; the migrations' lock is 0x6D656468 ("medh").
WORKER_LOCK_KEY = 0x6D65_6468_6A6F_6277
RETRY_SECONDS = 5.0
APPLICATION_NAME = "medhub-worker-election"


class WorkerElection:
    """One process's candidacy, on a connection of its own."""

    def __init__(
        self, url: str, *, retry_seconds: float = RETRY_SECONDS, key: int = WORKER_LOCK_KEY
    ) -> None:
        self.url = libpq_url(url)
        self.retry_seconds = retry_seconds
        self.key = key
        self.attempts = 0
        self.elected = False
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def try_to_win(self) -> bool:
        """One attempt; True when this process holds the lock (now or already)."""
        if self.elected:
            return True
        self.attempts += 1
        try:
            if self._connection is None:
                self._connection = await psycopg.AsyncConnection.connect(
                    self.url,
                    autocommit=True,
                    application_name=APPLICATION_NAME,
                    connect_timeout=max(1, int(self.retry_seconds)),
                )
            cursor = await self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            log.warning("worker_election.database_unavailable", error=str(exc))
            await self._disconnect()
            return False
        self.elected = bool(row and row[0])
        return self.elected

    async def win(self) -> None:
        """Return once elected: try now, then every `retry_seconds`."""
        while not await self.try_to_win():
            if self.attempts == 1:
                log.info("worker_election.standing_by", retry_seconds=self.retry_seconds)
            await asyncio.sleep(self.retry_seconds)

    async def still_elected(self) -> bool:
        """Whether the lock is still ours: a session that answers still holds it."""
        if not self.elected or self._connection is None:
            return False
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the query completes, and a cancelled
            # `run` would then go on holding the lock (and its caller wait forever).
            async with asyncio.timeout(self.retry_seconds):
                await self._connection.execute("SELECT 1")
        except (psycopg.Error, TimeoutError):
            self.elected = False
            await self._disconnect()
            return False
        return True

    async def resign(self) -> None:
        """Give the lock up: closing the session releases it."""
        self.elected = False
        await self._disconnect()

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work()` whenever, and only while, this process is elected; until cancelled.

        Returns (or raises) when `work()` does by itself; the lock is given up then,
        so another process's candidacy takes over.
        """
        try:
            while True:
                await self.win()
                log.info("worker_election.won")
                task = asyncio.ensure_future(work())
                try:
                    while not task.done():
                        await asyncio.wait({task}, timeout=self.retry_seconds)
                        if not task.done() and not await self.still_elected():
                            log.warning("worker_election.lost", reason="lock connection broke")
                            break
                finally:
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                if self.elected:  # the work ended by itself: its outcome is ours
                    task.result()
                    return
        finally:
            await self.resign()

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()
