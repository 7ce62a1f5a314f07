"""Prometheus metrics: requests by route template and status, latency, DB pool gauges.

Two modes, chosen by the environment the process starts with:

- **One process** (no `PROMETHEUS_MULTIPROC_DIR`): every app has a registry of its
  own, so tests and several apps in one process never collide; the pool gauges are a
  custom collector that reads the pool when scraped.
- **Several processes** (`medhub serve --workers N` sets `PROMETHEUS_MULTIPROC_DIR`
  before uvicorn starts them; see `multiprocess_directory`): prometheus_client's
  multiprocess mode. Each process writes its values to files of its own in that
  directory, and a scrape, whichever process answers it, reads all of them with
  `MultiProcessCollector` on a fresh registry: counters and histograms are the sums
  over every process that ever served (an exited worker's requests still count).
  A scraper cannot read another process's pool, so there the four pool gauges are
  ordinary gauges with `multiprocess_mode="livesum"`, which each process writes:
  the simplest correct choice, since the sum over live processes is what one wants to
  watch (connections open, in use, idle across the host). Each process rewrites its
  own every `POOL_REFRESH_SECONDS` (and the answering process just before a scrape),
  so another process's figures are at most that old. A process's gauges are dropped
  when it stops (`stop`, from the app's lifespan) and, for one that died without
  stopping, by the next scrape (uvicorn has no hook per worker process).
  prometheus_client decides its mode when first imported, so the variable must be
  in the environment before the process starts; one app per process in this mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
POOL_REFRESH_SECONDS = 1.0
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

POOL_GAUGES = (
    ("size", "Configured size of the database connection pool"),
    ("checked_out", "Database connections in use by requests"),
    ("checked_in", "Idle database connections in the pool"),
    ("overflow", "Connections opened beyond the pool size"),
)


def multiprocess_directory_configured() -> Path | None:
    value = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    return Path(value) if value else None


@contextlib.contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """The directory the API processes of one `medhub serve` write their metrics to.

    `PROMETHEUS_MULTIPROC_DIR` when set (created if missing, and emptied of the value
    files of an earlier run, which would otherwise be counted again), else a fresh
    temporary directory, removed at the end. Either way it is in the environment while
    the block runs, so the worker processes started inside it inherit it.
    """
    configured = multiprocess_directory_configured()
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        # Only prometheus_client's files: the variable may name a directory shared
        # with something else.
        for stale in configured.glob("*.db"):
            stale.unlink()
        yield configured
        return
    created = Path(tempfile.mkdtemp(prefix="medhub-metrics-"))
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(created)
    try:
        yield created
    finally:
        os.environ.pop(MULTIPROCESS_DIR_VARIABLE, None)
        shutil.rmtree(created, ignore_errors=True)


class Metrics:
    """This process's metrics; see the module docstring for the two modes."""

    def __init__(self) -> None:
        self.directory = multiprocess_directory_configured()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "medhub_http_requests",
            "HTTP requests handled, by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "medhub_http_request_duration_seconds",
            "Time from request start to response end, by method and route template",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.rate_limit_store_errors = Counter(
            "medhub_rate_limit_store_errors",
            "Requests whose rate limit could not be checked (Redis unreachable), by outcome"
            " under RATE_LIMIT_FAIL_OPEN: allowed or refused (503)",
            ["outcome"],
            registry=self.registry,
        )
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}
        self._read_pool: Callable[[], dict[str, int]] | None = None
        self._pool_gauges: dict[str, Gauge] = {}
        self._refresher: asyncio.Task[None] | None = None

    def reset(self) -> None:
        """Forget every request counted so far (tests reuse an app for a new test)."""
        for metric in (self.requests, self.latency, self.rate_limit_store_errors):
            metric.clear()
        self._counters.clear()
        self._timers.clear()

    @property
    def multiprocess(self) -> bool:
        return self.directory is not None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in HTTP_METHODS:
            # Any token is a valid method on the wire: one label for the unknown ones
            # keeps the series (and this cache) bounded.
            method = "OTHER"
        # The labelled children, found once per label set: `labels()` validates and
        # joins its arguments on every call, a cost paid by every request.
        counted = self._counters.get((method, route, status))
        if counted is None:
            counted = self._counters[(method, route, status)] = self.requests.labels(
                method, route, str(status)
            )
        timed = self._timers.get((method, route))
        if timed is None:
            timed = self._timers[(method, route)] = self.latency.labels(method, route)
        counted.inc()
        timed.observe(seconds)

    def rate_limit_store_error(self, outcome: str) -> None:
        self.rate_limit_store_errors.labels(outcome).inc()

    def add_pool_gauges(self, read_status: Callable[[], dict[str, int]]) -> None:
        if not self.multiprocess:
            self.registry.register(_PoolCollector(read_status))
            return
        self._read_pool = read_status
        self._pool_gauges = {
            key: Gauge(
                f"medhub_db_pool_{key}",
                help_text,
                multiprocess_mode="livesum",
                registry=self.registry,
            )
            for key, help_text in POOL_GAUGES
        }

    def start(self) -> None:
        """The app started (its database is known): keep this process's pool gauges
        current. Nothing to do with one process, where a scrape reads the pool."""
        if self._read_pool is not None and self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_pool_gauges(), name="pool-gauges")

    async def stop(self) -> None:
        """The app is stopping: in multiprocess mode this process's gauges go away."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        if self.directory is not None:
            # prometheus_client's multiprocess module has no type annotations.
            prometheus_multiprocess.mark_process_dead(os.getpid(), str(self.directory))  # type: ignore[no-untyped-call]

    def exposition(self) -> bytes:
        """The text a scrape gets: this app's registry, or every process's files."""
        if self.directory is None:
            return generate_latest(self.registry)
        self._write_pool_gauges()
        self._forget_dead_processes(self.directory)
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    async def _refresh_pool_gauges(self) -> None:
        while True:
            self._write_pool_gauges()
            await asyncio.sleep(POOL_REFRESH_SECONDS)

    def _write_pool_gauges(self) -> None:
        if self._read_pool is None:
            return
        status = self._read_pool()
        for key, gauge in self._pool_gauges.items():
            gauge.set(status[key])

    @staticmethod
    def _forget_dead_processes(directory: Path) -> None:
        """Drop the live gauges of processes that exited without stopping (killed)."""
        for path in directory.glob("gauge_live*_*.db"):
            try:
                pid = int(path.stem.rsplit("_", 1)[1])
            except ValueError:  # not a file of prometheus_client's naming
                continue
            if pid != os.getpid() and not _running(pid):
                # Another scrape may be removing the same files at the same time.
                with contextlib.suppress(FileNotFoundError):
                    prometheus_multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie has: its parent,
    uvicorn, reaps it only a moment later)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, run by another user
        return True
    if not Path("/proc").is_dir():  # not Linux: the signal test is all there is
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # it exited just now
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


class _PoolCollector(Collector):
    def __init__(self, read_status: Callable[[], dict[str, int]]) -> None:
        self._read_status = read_status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self._read_status()
        for key, help_text in POOL_GAUGES:
            gauge = GaugeMetricFamily(f"medhub_db_pool_{key}", help_text)
            gauge.add_metric([], status[key])
            yield gauge
