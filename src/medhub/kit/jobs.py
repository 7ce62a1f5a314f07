"""Background jobs on PostgreSQL (procrastinate), deferred inside the request's transaction.

`await defer(session, some_task, id=...)` inserts the job through the SQLAlchemy
session's own connection: if the request rolls back, the job never existed; if it
commits, the job is there. Jobs take ids, reload rows, are idempotent, and
declare their retry policy (see `Backoff`).

Workers (`medhub worker`, or the one `medhub serve` runs in development) receive
the process's `JobRuntime` in their job context.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from procrastinate import App, BaseConnector, JobContext, PsycopgConnector, RetryDecision
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from procrastinate.tasks import Task
from procrastinate.worker import Worker
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.config import Settings, get_settings
from medhub.kit.db import Database

log = structlog.get_logger(__name__)

# Every module that defines tasks, so a worker knows them all.
TASK_MODULES = [
    "medhub.mail.tasks",
    "medhub.events.tasks",
    "medhub.events.handlers",
    "medhub.jobs.periodic",
    "medhub.notifications.tasks",
    "medhub.catalog.tasks",
    "medhub.orders.tasks",
    "medhub.auth.tasks",
    "medhub.audit.tasks",
    "medhub.appointments.tasks",
    "medhub.billing.tasks",
    "medhub.prescriptions.tasks",
    "medhub.prescriptions.handlers",
    "medhub.documents.tasks",
    "medhub.pharmacy_stock.tasks",
]

jobs_app = App(connector=PsycopgConnector(), import_paths=TASK_MODULES)

RUNTIME_KEY = "medhub"

# The settings of the worker running in this process: retry strategies read their
# limits at failure time, from here (the job context does not reach them).
_worker_settings: Settings | None = None


def active_settings() -> Settings:
    if _worker_settings is not None:
        return _worker_settings
    return get_settings()


@dataclass
class JobRuntime:
    """What a job needs besides its arguments; one per worker process."""

    settings: Settings
    database: Database
    extras: dict[str, Any] = field(default_factory=dict)


def runtime_of(context: JobContext) -> JobRuntime:
    runtime: JobRuntime = context.additional_context[RUNTIME_KEY]
    return runtime


async def defer(session: AsyncSession, task: Task[Any, Any, Any], **kwargs: Any) -> int:
    """Defer `task(**kwargs)` in the session's transaction; returns the job id."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    job_id: int = await task.configure(connection=driver).defer_async(**kwargs)
    return job_id


@dataclass(frozen=True)
class Backoff(BaseRetryStrategy):
    """Exponential backoff: base, 2·base, 4·base, … (capped), for `max_attempts` runs.

    The numbers come from settings when the job fails, not at import, so an
    operator's change applies without redeploying. Exceptions listed in `give_up_on`
    fail the job at once (a permanent error does not get better by retrying).
    """

    max_attempts: Callable[[], int]
    base_seconds: Callable[[], float]
    cap_seconds: float = 6 * 3600
    give_up_on: tuple[type[BaseException], ...] = ()

    def is_last_attempt(self, job: Job) -> bool:
        """Whether a failure of this run ends the job (what a task records must agree)."""
        # `attempts` counts the runs before this one.
        return job.attempts + 1 >= self.max_attempts()

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, self.give_up_on) or self.is_last_attempt(job):
            return None
        wait = min(self.cap_seconds, self.base_seconds() * math.pow(2, job.attempts))
        return RetryDecision(retry_in={"seconds": math.ceil(wait)})


def constant(value: float) -> Callable[[], float]:
    return lambda: value


# procrastinate's default beat, and the most a worker waits between two.
HEARTBEAT_SECONDS = 10.0


def heartbeat_seconds(settings: Settings) -> float:
    """How often a worker tells the database it is alive: a third of STALLED_JOB_SECONDS
    at most. Beating only as often as that limit (procrastinate's 10 s against its lowest
    value, 10 s), a live worker would look dead just before each beat, and the rescue
    (`medhub.jobs.periodic.retry_stalled_jobs`) could put back the jobs it is running."""
    return min(HEARTBEAT_SECONDS, settings.STALLED_JOB_SECONDS / 3)


def worker_connector(url: str, *, size: int) -> PsycopgConnector:
    return PsycopgConnector(
        conninfo=url,
        min_size=1,
        max_size=size,
        kwargs={"application_name": "medhub-worker"},
    )


@dataclass
class _SharedConnector:
    url: str
    connector: PsycopgConnector
    previous: BaseConnector
    opened: asyncio.Task[None]
    users: int
    max_size: int


# procrastinate's app (with its connector) is one per process, so every worker running
# in this process (several `run_worker` calls, or `medhub serve`'s one beside a test's)
# shares one pool: the first to start opens it, the last to stop closes it. Swapping
# the app's connector per worker would pull it from under the workers still running.
_shared: _SharedConnector | None = None


@asynccontextmanager
async def _worker_pool(url: str, *, size: int) -> AsyncIterator[None]:
    global _shared  # noqa: PLW0603 - the process-wide pool of procrastinate's global app
    shared = _shared
    if shared is None:
        connector = worker_connector(url, size=size)
        shared = _SharedConnector(
            url=url,
            connector=connector,
            previous=jobs_app.connector,
            opened=asyncio.ensure_future(connector.open_async()),
            users=1,
            max_size=size,
        )
        _shared = shared
        jobs_app.connector = connector
        jobs_app.job_manager.connector = connector
    elif shared.url != url:
        raise RuntimeError("the job workers of one process must share one database")
    else:
        shared.users += 1
        shared.max_size += size
    try:
        await asyncio.shield(shared.opened)
        if shared.connector.pool.max_size < shared.max_size:
            await shared.connector.pool.resize(1, shared.max_size)
        yield
    finally:
        shared.users -= 1
        shared.max_size -= size
        if shared.users == 0:
            _shared = None
            jobs_app.connector = shared.previous
            jobs_app.job_manager.connector = shared.previous
            if not shared.opened.done():
                shared.opened.cancel()  # stopped while still connecting
            elif not shared.opened.cancelled() and shared.opened.exception() is None:
                await shared.connector.close_async()


async def run_worker(
    runtime: JobRuntime,
    *,
    queues: Iterable[str] | None = None,
    concurrency: int = 4,
    wait: bool = True,
    install_signal_handlers: bool = True,
    name: str = "medhub-worker",
    listen_notify: bool = True,
) -> None:
    """Run a worker against this process's database until stopped (or, with
    `wait=False`, until the queues are empty). Several may run at once in one process.

    Cancelling it stops the worker as a stop signal does, whatever it is doing: running
    jobs finish, and it leaves the database's list of workers."""
    global _worker_settings  # noqa: PLW0603 - one worker runtime per process
    _worker_settings = runtime.settings
    async with _worker_pool(runtime.database.url, size=concurrency + 2):
        options: dict[str, Any] = {"queues": list(queues)} if queues else {}
        options.update(
            concurrency=concurrency,
            wait=wait,
            name=name,
            install_signal_handlers=install_signal_handlers,
            listen_notify=listen_notify and wait,
            additional_context={RUNTIME_KEY: runtime},
            fetch_job_polling_interval=1.0 if not wait else 5.0,
            shutdown_graceful_timeout=30,
            update_heartbeat_interval=heartbeat_seconds(runtime.settings),
        )
        # What `jobs_app.run_worker_async` does, keeping hold of the worker to stop it.
        jobs_app.perform_import_paths()  # type: ignore[no-untyped-call]
        worker = Worker(app=jobs_app, **{**jobs_app.worker_defaults, **options})
        await _until_stopped(worker)


async def _until_stopped(worker: Worker) -> None:
    """Run `worker`; when cancelled, stop it gracefully and wait for it, then re-raise.

    procrastinate stops gracefully on cancellation only once the worker is running: a
    cancellation during start-up, after the INSERT registering the worker committed but
    before the worker reads its id back, ends it without unregistering (a phantom
    worker in `procrastinate_workers` until another worker's start prunes it). A stop
    request is honoured at every stage, including that one.
    """
    started = False

    async def run() -> None:
        nonlocal started
        started = True
        # Synchronously up to its first await, `run` forgets any earlier stop request;
        # from here on a stop() reaches it.
        await worker.run()  # type: ignore[no-untyped-call]

    task = asyncio.ensure_future(run())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not started:
            task.cancel()  # it never ran: nothing to stop or unregister
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise
        worker.stop()  # type: ignore[no-untyped-call]
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # Cancelled again while stopping: stop at once, as procrastinate does.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        raise


JOB_RETENTION = timedelta(days=7)
