"""The election of the one API process that runs the job worker: a PostgreSQL advisory
lock on a connection of the holder's own (medhub.ops.worker_election)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from medhub.ops.worker_election import APPLICATION_NAME, WorkerElection
from tests.conftest import DatabaseUrls
from tests.waiting import eventually

AdminSql = Callable[..., list[tuple[Any, ...]]]

RETRY = 0.2


class Work:
    """What an elected process runs: it records when it starts and stops."""

    def __init__(self, name: str, events: list[str], *, fail: bool = False) -> None:
        self.name = name
        self.events = events
        self.fail = fail
        self.finish = asyncio.Event()

    async def __call__(self) -> None:
        self.events.append(f"{self.name} started")
        try:
            await self.finish.wait()
            if self.fail:
                raise RuntimeError(f"{self.name} crashed")
        finally:
            self.events.append(f"{self.name} stopped")

    @property
    def running(self) -> bool:
        started = self.events.count(f"{self.name} started")
        return started > self.events.count(f"{self.name} stopped")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, RuntimeError):
        await task


async def test_only_one_wins_and_another_takes_over_when_it_leaves(
    database_urls: DatabaseUrls,
) -> None:
    events: list[str] = []
    elections = [WorkerElection(database_urls.app, retry_seconds=RETRY) for _ in range(2)]
    works = [Work(f"w{n}", events) for n in range(2)]
    tasks = [
        asyncio.create_task(election.run(work))
        for election, work in zip(elections, works, strict=True)
    ]
    try:
        await eventually(lambda: any(w.running for w in works), message="nobody was elected")
        winner = next(n for n, w in enumerate(works) if w.running)
        loser = 1 - winner
        # The loser keeps trying (several rounds), and never runs alongside the winner.
        tried = elections[loser].attempts + 3
        await eventually(
            lambda: elections[loser].attempts >= tried,
            message="the other candidate stopped standing",
        )
        assert not works[loser].running
        assert events == [f"w{winner} started"]

        # The winner leaves (its lock connection closes): the other wins within its interval.
        left = time.monotonic()
        await stop(tasks[winner])
        await eventually(
            lambda: works[loser].running, seconds=RETRY + 3, message="nobody took over"
        )
        assert time.monotonic() - left < RETRY + 3
        assert events == [f"w{winner} started", f"w{winner} stopped", f"w{loser} started"]
    finally:
        for task in tasks:
            await stop(task)
    assert events[-1] == f"w{loser} stopped"


async def test_a_lone_candidate_wins_at_its_first_try(database_urls: DatabaseUrls) -> None:
    election = WorkerElection(database_urls.app, retry_seconds=60)
    try:
        assert await asyncio.wait_for(election.try_to_win(), 5)
        assert election.attempts == 1
        assert await election.try_to_win(), "winning again is a no-op, not a second lock"
    finally:
        await election.resign()
    assert not election.elected


async def test_a_holder_whose_lock_connection_breaks_stops_before_standing_again(
    database_urls: DatabaseUrls, admin_sql: AdminSql
) -> None:
    events: list[str] = []
    work = Work("w", events)
    task = asyncio.create_task(WorkerElection(database_urls.app, retry_seconds=RETRY).run(work))
    try:
        await eventually(lambda: work.running, message="the lone candidate was not elected")
        # The server ends the lock's session (as a restart or a network cut would): the
        # lock is gone, so the work must stop before the process may win again.
        terminated = admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        )
        assert terminated == [(True,)]
        await eventually(
            lambda: events.count("w started") == 2,
            seconds=RETRY * 3 + 5,
            message="the holder did not notice, or did not stand again",
        )
        assert events == ["w started", "w stopped", "w started"]
    finally:
        await stop(task)


async def test_work_that_ends_gives_the_lock_up(database_urls: DatabaseUrls) -> None:
    events: list[str] = []
    crashing, standby = Work("crashing", events, fail=True), Work("standby", events)
    first = asyncio.create_task(
        WorkerElection(database_urls.app, retry_seconds=RETRY).run(crashing)
    )
    await eventually(lambda: crashing.running, message="the first candidate was not elected")
    second = asyncio.create_task(
        WorkerElection(database_urls.app, retry_seconds=RETRY).run(standby)
    )
    try:
        crashing.finish.set()
        with pytest.raises(RuntimeError, match="crashing crashed"):
            await asyncio.wait_for(first, 5)
        await eventually(
            lambda: standby.running, seconds=RETRY + 3, message="nobody took over after a crash"
        )
    finally:
        await stop(first)
        await stop(second)


async def test_a_stop_that_arrives_as_the_lock_check_completes_still_stops(
    database_urls: DatabaseUrls,
) -> None:
    events: list[str] = []
    work = Work("w", events)
    election = WorkerElection(database_urls.app, retry_seconds=RETRY)
    task = asyncio.create_task(election.run(work))
    try:
        await eventually(lambda: work.running, message="the lone candidate was not elected")
        connection = election._connection
        assert connection is not None
        check = connection.execute

        async def check_then_get_stopped(*args: Any, **kwargs: Any) -> Any:
            result = await check(*args, **kwargs)
            task.cancel()  # the stop arrives just as the "still elected?" query completes
            return result

        connection.execute = check_then_get_stopped  # type: ignore[method-assign]
        finished, _ = await asyncio.wait({task}, timeout=RETRY * 20)
        assert task in finished, "the election went on (holding the lock) after being stopped"
        assert task.cancelled()
        assert events == ["w started", "w stopped"]
    finally:
        await stop(task)
