"""`python -m bench load`: many simulated users against MedHub alone (no baseline).

    uv run python -m bench load [--users 1000] [--duration 180] [--sse-streams 200]
        [--think-min 1] [--think-max 5] [--workers 1] [--processes 1]

MedHub runs as the runner starts it (bench/services.py: `medhub serve` on a fresh
embedded PostgreSQL, rate limiting off), with a METRICS_TOKEN of this run so /metrics
can be read. The setup seeds the MedPharm catalog (bench/catalog_data.py, as the
catalog scenarios do) and makes the accounts: one per role (customer, patient, doctor)
registered through the API and marked verified with admin SQL, the others copies of
its row with the same password hash (as the order scenarios do).

The users run in `--processes` child processes (asyncio + httpx, uvloop when
installed), each user with an httpx client of its own (one keep-alive connection,
two for a user with an event stream), like one browser each. Each user:

1. ramp-up (not measured): logs in (at most LOGIN_SLOTS_PER_WORKER logins in flight
   per MedHub worker: each is an Argon2id verify), a customer adds its shipping
   address, and the first `--sse-streams` users open `GET /api/v1/notifications/stream`
   and keep it open until the end;
2. then loops until the end: browse a category page, search, view a product, list
   its notifications, and a customer sometimes (1 iteration in ORDER_EVERY) places an
   order of one unit; a think time (uniform between --think-min and --think-max)
   before each request.

The measured window starts WARMUP_S after the last user has finished its ramp-up
(every stream is open) and lasts `--duration`; a request counts when it starts in the
window. Meanwhile the parent reads MedHub's /metrics (the `medhub_db_pool_*` gauges)
every METRICS_INTERVAL_S and the CPU time of MedHub's processes, PostgreSQL's and
the load generator's. Results go to bench/results/<stamp>-load.{md,json}; the exit
code is 1 if any request (ramp-up included) or stream failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import random
import re
import secrets
import shutil
import signal
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import psycopg

from bench import REPO_ROOT, RESULTS_DIR, catalog_data
from bench.scenarios import (
    BENCH_PASSWORD,
    BUYER_ADDRESS,
    CLONE_BUYER_SQL,
    VERIFY_USER_SQL,
    RequestSpec,
    SetupContext,
    SetupError,
    _call,
    _seed_catalog,
)
from bench.services import (
    DEFAULT_REDIS_URL,
    MEDHUB_READY_TIMEOUT_S,
    MEDHUB_STOP_TIMEOUT_S,
    Service,
    ServiceError,
    admin_database_url,
    app_database_url,
    pgdata_dir,
    resolve_hash_params,
    start_medhub,
    stop_orphaned_postgres,
    stop_service,
    wait_ready,
)

# Only DATABASE_POOL_SIZE's default is read (Any here: no py.typed in the project package).
from medhub.config import Settings  # type: ignore[import-untyped]

# Who the users are: a share of each role, customers first. Only customers order
# (orders.create); every role reads the catalog and its notifications.
ROLE_SHARES = (("customer", 0.8), ("patient", 0.1), ("doctor", 0.1))
# A customer places an order in one iteration in this many (at random).
ORDER_EVERY = 20
# Logins in flight at once, per MedHub worker: its hash pool has PASSWORD_HASH_WORKERS
# (2) threads, so more would only queue inside MedHub.
LOGIN_SLOTS_PER_WORKER = 4
# After the last user's ramp-up, before the measured window.
WARMUP_S = 5.0
METRICS_INTERVAL_S = 0.5
REQUEST_TIMEOUT_S = 30.0
# An open stream gets `: ping` every SSE_HEARTBEAT_SECONDS (15 s): longer than that
# without a line is a stalled stream.
STREAM_READ_TIMEOUT_S = 60.0
# What the load test is for: absolute targets, not a comparison.
TARGET_READ_P95_MS = 50.0
TARGET_READ_P99_MS = 200.0
MAX_USERS = 10_000
MAX_PROCESSES = 16
MAX_LOAD_DURATION_S = 3600.0
# How long the children may take to log every user in: Argon2id bounds it.
RAMP_TIMEOUT_BASE_S = 120.0
RAMP_TIMEOUT_PER_USER_S = 0.25
# After the window: in-flight requests finish (at most their timeout), results come back.
COLLECT_SLACK_S = REQUEST_TIMEOUT_S + 30.0
# Distinct error messages counted per request kind, for the report.
ERROR_KINDS = 10
ERROR_MESSAGE_LENGTH = 240
LOG_KEY_LENGTH = 200

READ_KINDS = ("browse", "search", "detail", "notifications")
WRITE_KINDS = ("order",)
RAMP_KINDS = ("login", "address")
KIND_REQUESTS = {
    "browse": "GET /api/v1/products?category=…&sort=…&order=…&page=1..10&limit=20",
    "search": "GET /api/v1/products?search=<one of 40 molecules>&limit=20",
    "detail": "GET /api/v1/products/{one of 10,000}",
    "notifications": "GET /api/v1/notifications?limit=20",
    "order": "POST /api/v1/orders (1 unit of one of 1,000 products)",
    "login": "POST /api/v1/auth/login",
    "address": "POST /api/v1/users/addresses",
}
CATEGORIES = sorted({molecule[1] for molecule in catalog_data.MOLECULES})
SEARCH_TERMS = [molecule[0].lower() for molecule in catalog_data.MOLECULES]
SORTS = ("name", "price", "created_at")
BROWSE_PAGES = 10
STREAM_PATH = "/api/v1/notifications/stream"
# uvicorn (`medhub serve`) closes a keep-alive connection idle for 5 s (its default
# timeout_keep_alive), about when a user thinking up to 5 s sends its next request: a
# request written as the server closes the connection fails ("Server disconnected").
# A browser would resend it; these clients instead never reuse a connection idle for
# longer than this, and open a new one.
KEEPALIVE_EXPIRY_S = 4.0
POOL_GAUGE = re.compile(r"^medhub_db_pool_(\w+)\s+([0-9.eE+-]+)\s*$", re.MULTILINE)


class LoadTestError(Exception):
    """The load test could not run (setup, ramp-up, a generator process)."""


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class UserPlan:
    email: str
    role: str
    stream: bool  # opens an event stream during its ramp-up and keeps it open


@dataclass(frozen=True)
class GeneratorConfig:
    """What one load-generator process needs (pickled to it)."""

    index: int
    base_url: str
    users: list[UserPlan]
    product_ids: list[str]
    order_product_ids: list[str]
    think_min: float
    think_max: float
    login_slots: int
    seed: int


REQUEST_ID = re.compile(r'"request_id":\s*"[0-9a-f-]+"')


def count_error(counts: dict[str, int], message: str, times: int = 1) -> None:
    """Count an error by its message (request id left out), ERROR_KINDS at most."""
    key = REQUEST_ID.sub('"request_id": "..."', message)[:ERROR_MESSAGE_LENGTH]
    if key not in counts and len(counts) >= ERROR_KINDS:
        key = "(other messages)"
    counts[key] = counts.get(key, 0) + times


@dataclass
class KindTally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_messages: dict[str, int] = field(default_factory=dict)

    def add(self, latency_ms: float, error: str | None) -> None:
        self.latencies_ms.append(latency_ms)
        if error is not None:
            self.errors += 1
            count_error(self.error_messages, error)

    def merge(self, other: KindTally) -> None:
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors
        for message, times in other.error_messages.items():
            count_error(self.error_messages, message, times)


@dataclass
class StreamTally:
    opened: int = 0  # answered 200 and sent `: connected`
    failed: int = 0  # never opened, or ended before the end of the run
    open_at_end: int = 0
    notification_events: int = 0
    pings: int = 0
    error_messages: dict[str, int] = field(default_factory=dict)

    def fail(self, error: str) -> None:
        self.failed += 1
        count_error(self.error_messages, error)


@dataclass
class GeneratorResult:
    """What one generator process sends back."""

    window: dict[str, KindTally] = field(default_factory=dict)  # requests started in it
    outside: dict[str, KindTally] = field(default_factory=dict)  # ramp-up, warm-up, after
    streams: StreamTally = field(default_factory=StreamTally)
    lag_ms: list[float] = field(default_factory=list)  # think-time wake-ups, late by
    ramp_s: float = 0.0  # its users' ramp-up, from start to the last one ready
    users_ready: int = 0


# --- the simulated users (in each generator process) -----------------------------------------


class Generator:
    """The users of one process, and what they measured."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self.result = GeneratorResult()
        self.window_start = math.inf
        self.window_end = math.inf
        self.login_slots = asyncio.Semaphore(config.login_slots)
        self.pending_ramp = len(config.users)
        self.ramp_done = asyncio.Event()
        if not config.users:
            self.ramp_done.set()
        self.started = time.monotonic()
        # One TLS context for every client (none is used: the URLs are http), not
        # one certificate store per user.
        self.ssl_context = ssl.create_default_context()

    def _tally(self, kind: str, started: float) -> KindTally:
        if self.window_start <= started < self.window_end:
            return self.result.window.setdefault(kind, KindTally())
        return self.result.outside.setdefault(kind, KindTally())

    @property
    def stopping(self) -> bool:
        return time.monotonic() >= self.window_end

    def _ramped(self) -> None:
        self.pending_ramp -= 1
        if self.pending_ramp == 0:
            self.result.ramp_s = round(time.monotonic() - self.started, 3)
            self.ramp_done.set()

    async def request(
        self,
        client: httpx.AsyncClient,
        kind: str,
        method: str,
        path: str,
        expect: int,
        *,
        params: dict[str, str | int] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Any:
        """One timed request; its `data` when the status is as expected, else None."""
        started = time.monotonic()
        error: str | None = None
        data: Any = None
        try:
            response = await client.request(method, path, params=params, json=payload)
            if response.status_code != expect:
                error = f"{response.status_code}: {response.text[:200]}"
            else:
                data = response.json().get("data") if method == "POST" else True
        except (httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._tally(kind, started).add((time.monotonic() - started) * 1000, error)
        return data if error is None else None

    async def think(self, rng: random.Random) -> bool:
        """Sleep a think time (cut short by the end of the window); False when it is over."""
        pause = rng.uniform(self.config.think_min, self.config.think_max)
        wake = time.monotonic() + pause
        if wake >= self.window_end:
            await asyncio.sleep(max(0.0, self.window_end - time.monotonic()))
            return False
        await asyncio.sleep(pause)
        late = time.monotonic() - wake
        if self.window_start <= wake < self.window_end:
            self.result.lag_ms.append(late * 1000)
        return True

    async def stream(self, client: httpx.AsyncClient, connected: asyncio.Event) -> None:
        """One idle event stream, open until cancelled at the end of the run."""
        tally = self.result.streams
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, read=STREAM_READ_TIMEOUT_S)
        headers = {"Accept": "text/event-stream"}
        try:
            async with client.stream("GET", STREAM_PATH, headers=headers, timeout=timeout) as r:
                if r.status_code != 200:
                    tally.fail(f"{r.status_code}: {(await r.aread())[:200]!r}")
                    return
                event: str | None = None
                async for line in r.aiter_lines():
                    if event == "closed" and line.startswith("data:"):
                        tally.fail(f"closed by the server: {line.partition(':')[2].strip()}")
                        return
                    event = self._stream_line(line, event, connected)
                tally.fail("the server ended the stream")
        except asyncio.CancelledError:
            if connected.is_set():
                tally.open_at_end += 1
            raise
        except httpx.HTTPError as exc:
            tally.fail(f"{type(exc).__name__}: {exc}")
        finally:
            connected.set()  # never leave the ramp-up waiting for a stream that failed

    def _stream_line(self, line: str, event: str | None, connected: asyncio.Event) -> str | None:
        """Count one line of a stream; the event name it leaves current."""
        tally = self.result.streams
        if line.startswith(":"):
            if "connected" in line and not connected.is_set():
                tally.opened += 1
                connected.set()
            elif "ping" in line:
                tally.pings += 1
            return event
        if line.startswith("event:"):
            return line.partition(":")[2].strip()
        if line.startswith("data:") and event == "notification":
            tally.notification_events += 1
        return None if not line else event

    async def user(self, number: int, plan: UserPlan) -> None:
        config = self.config
        rng = random.Random(config.seed * 1_000_003 + number)
        limits = httpx.Limits(
            max_connections=2 if plan.stream else 1, keepalive_expiry=KEEPALIVE_EXPIRY_S
        )
        stream_task: asyncio.Task[None] | None = None
        async with httpx.AsyncClient(
            base_url=config.base_url,
            limits=limits,
            timeout=REQUEST_TIMEOUT_S,
            verify=self.ssl_context,
            # No proxy from the environment may redirect loopback load.
            trust_env=False,
        ) as client:
            try:
                ready, address_id = await self._ramp_up(client, plan)
                if not ready:
                    return
                if plan.stream:
                    connected = asyncio.Event()
                    stream_task = asyncio.create_task(self.stream(client, connected))
                    await connected.wait()
                self.result.users_ready += 1
            finally:
                self._ramped()
            try:
                # Spread the first requests over a think time instead of starting together.
                await asyncio.sleep(rng.uniform(0, config.think_max))
                while not self.stopping:
                    for kind in self._iteration(rng, ordering=address_id is not None):
                        if not await self.think(rng):
                            return
                        await self._send(client, rng, kind, address_id)
            finally:
                if stream_task is not None:
                    stream_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await stream_task

    async def _ramp_up(self, client: httpx.AsyncClient, plan: UserPlan) -> tuple[bool, str | None]:
        """Log in, and a customer adds its address: (succeeded, the address id)."""
        async with self.login_slots:
            login = await self.request(
                client,
                "login",
                "POST",
                "/api/v1/auth/login",
                200,
                payload={"email": plan.email, "password": BENCH_PASSWORD},
            )
        if not login:
            return False, None
        client.headers["Authorization"] = f"Bearer {login['access_token']}"
        if plan.role != "customer":
            return True, None
        address = await self.request(
            client, "address", "POST", "/api/v1/users/addresses", 201, payload=BUYER_ADDRESS
        )
        return (True, str(address["id"])) if address else (False, None)

    @staticmethod
    def _iteration(rng: random.Random, *, ordering: bool) -> list[str]:
        """One visit: the reads in order, and sometimes an order at the end."""
        kinds = list(READ_KINDS)
        if ordering and rng.random() < 1 / ORDER_EVERY:
            kinds.append("order")
        return kinds

    async def _send(
        self, client: httpx.AsyncClient, rng: random.Random, kind: str, address_id: str | None
    ) -> None:
        config = self.config
        if kind == "browse":
            params: dict[str, str | int] = {
                "category": rng.choice(CATEGORIES),
                "sort": rng.choice(SORTS),
                "order": rng.choice(("asc", "desc")),
                "page": rng.randint(1, BROWSE_PAGES),
                "limit": 20,
            }
            await self.request(client, kind, "GET", "/api/v1/products", 200, params=params)
        elif kind == "search":
            params = {"search": rng.choice(SEARCH_TERMS), "limit": 20}
            await self.request(client, kind, "GET", "/api/v1/products", 200, params=params)
        elif kind == "detail":
            path = f"/api/v1/products/{rng.choice(config.product_ids)}"
            await self.request(client, kind, "GET", path, 200)
        elif kind == "notifications":
            params = {"limit": 20}
            await self.request(client, kind, "GET", "/api/v1/notifications", 200, params=params)
        else:
            order = {
                "items": [{"product_id": rng.choice(config.order_product_ids), "quantity": 1}],
                "shipping_address_id": address_id,
            }
            await self.request(client, kind, "POST", "/api/v1/orders", 201, payload=order)

    async def run(self, ready: Any, go: Any, window: Any) -> GeneratorResult:
        tasks = [
            asyncio.create_task(self.user(number, plan))
            for number, plan in enumerate(self.config.users)
        ]
        await self.ramp_done.wait()
        ready.set()
        # The parent sets the window (monotonic clock, shared by every process) once
        # every generator is ready, then `go`.
        while not await asyncio.to_thread(go.wait, 1.0):
            if all(task.done() for task in tasks):
                break
        self.window_start, self.window_end = window[0], window[1]
        await asyncio.wait(tasks, timeout=max(0.0, self.window_end - time.monotonic()) + 60)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return self.result


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, as in bench/driver.py
    except ImportError:
        return None
    return uvloop.new_event_loop


def generator_process(config: GeneratorConfig, ready: Any, go: Any, window: Any, out: Any) -> None:
    """Entry point of one load-generator process: run its users, send back the result."""
    # Ctrl-C reaches the whole process group: the parent stops everything.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        result = runner.run(Generator(config).run(ready, go, window))
    out.send(result)
    out.close()


# --- setup: catalog and accounts ---------------------------------------------------------------


def _plans(users: int, streams: int) -> list[UserPlan]:
    """`users` accounts in ROLE_SHARES proportions; the streams go to users spread
    over the list (every role has some)."""
    counts = [int(users * share) for _role, share in ROLE_SHARES]
    counts[0] += users - sum(counts)
    roles = [
        role
        for (role, _share), count in zip(ROLE_SHARES, counts, strict=True)
        for _ in range(count)
    ]
    emails = [
        f"load-{role}-{number:05d}@example.com"
        for role, count in zip((r for r, _s in ROLE_SHARES), counts, strict=True)
        for number in range(count)
    ]
    stride = users / streams if streams else math.inf
    with_stream = {int(k * stride) for k in range(streams)}
    return [
        UserPlan(email=email, role=role, stream=index in with_stream)
        for index, (email, role) in enumerate(zip(emails, roles, strict=True))
    ]


def create_accounts(medhub_url: str, admin_url: str, plans: Sequence[UserPlan]) -> None:
    """The first account of each role through the API (register), verified by admin
    SQL; every other account a copy of its role's first row (same password hash)."""
    first: dict[str, str] = {}
    for plan in plans:
        first.setdefault(plan.role, plan.email)
    for role, email in first.items():
        account = {
            "email": email,
            "password": BENCH_PASSWORD,
            "full_name": f"Load {role.title()}",
            "role": role,
        }
        _call(medhub_url, "POST", "/api/v1/auth/register", account, 201)
    copies = [(uuid.uuid4(), p.email, first[p.role]) for p in plans if p.email != first[p.role]]
    with psycopg.connect(admin_url) as conn, conn.cursor() as cursor:
        cursor.executemany(VERIFY_USER_SQL, [(email,) for email in first.values()])
        cursor.executemany(CLONE_BUYER_SQL, copies)
        cursor.execute("ANALYZE users")


def seed_catalog(data_dir: Path, medhub_url: str) -> list[str]:
    """The catalog scenarios' 10,000 products (once per run); their ids, by index."""
    context = SetupContext(
        target="medhub",
        base_url=medhub_url,
        medhub_url=medhub_url,
        admin_database_url=admin_database_url(data_dir),
        app_database_url=app_database_url(data_dir),
        data_dir=data_dir,
        request=RequestSpec(method="GET", path="/"),
        state={},
    )
    return [str(product_id) for product_id in _seed_catalog(context)]


# --- measuring: pool gauges and CPU ---------------------------------------------------------------


def configured_pool_size() -> int:
    """DATABASE_POOL_SIZE as MedHub will read it: from this environment, else its default."""
    raw = os.environ.get("DATABASE_POOL_SIZE")
    return int(raw) if raw else int(Settings.model_fields["DATABASE_POOL_SIZE"].default)


@dataclass
class PoolSampler:
    """Reads MedHub's /metrics every METRICS_INTERVAL_S in a thread, during the window.

    With one worker the gauges are its pool, read when scraped. With several, what a
    scrape shows depends on MedHub's metrics: per process (the one that answers) or
    summed over the workers (prometheus_client's multiprocess mode, each process's
    figures refreshed every second or so); `summary` tells which from the size."""

    url: str
    token: str
    samples: list[dict[str, float]] = field(default_factory=list)
    failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, until: float) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while not self.stop.is_set() and time.monotonic() < until:
                tick = time.monotonic()
                try:
                    response = client.get(self.url, headers=headers)
                    response.raise_for_status()
                    gauges = {k: float(v) for k, v in POOL_GAUGE.findall(response.text)}
                    if gauges:
                        self.samples.append(gauges)
                    else:
                        self.failures += 1
                except httpx.HTTPError:
                    self.failures += 1
                self.stop.wait(max(0.0, METRICS_INTERVAL_S - (time.monotonic() - tick)))

    def summary(self, workers: int, per_process: int) -> dict[str, Any]:
        """The largest checked_out seen, against one process's pool size: a sum over
        several workers at or above it means one of them may have been full."""
        checked_out = [s.get("checked_out", 0.0) for s in self.samples]
        size = int(max((s.get("size", 0.0) for s in self.samples), default=0.0))
        overflow = max((s.get("overflow", 0.0) for s in self.samples), default=0.0)
        max_out = int(max(checked_out, default=0.0))
        if workers == 1 or size == per_process:
            scope = "process"
        elif size == per_process * workers:
            scope = "sum over the workers"
        else:
            scope = "unknown"
        return {
            "samples": len(self.samples),
            "failed_reads": self.failures,
            "interval_s": METRICS_INTERVAL_S,
            "gauges_are": scope,
            "size": size,
            "size_per_process": per_process,
            "max_checked_out": max_out,
            "mean_checked_out": round(statistics.fmean(checked_out), 2) if checked_out else None,
            "samples_at_process_size": sum(1 for v in checked_out if v >= per_process),
            "max_overflow": int(overflow),
            "reached_size": bool(self.samples) and max_out >= per_process,
        }


def _tree_of(pid: int) -> list[psutil.Process]:
    """The process and its descendants (none when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu_seconds(processes: Iterable[psutil.Process], roots: set[int]) -> dict[int, float]:
    """user + system seconds of each process; a root's also counts its reaped children."""
    seconds: dict[int, float] = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total = times.user + times.system
        if process.pid in roots:
            total += times.children_user + times.children_system
        seconds[process.pid] = total
    return seconds


class CpuMeter:
    """CPU seconds of MedHub's processes, PostgreSQL's and the load generator's over the
    window, and of the whole machine (what else ran: the machine may be shared)."""

    def __init__(self, medhub_pid: int, data_dir: Path, generator_pids: Sequence[int]) -> None:
        self.medhub_pid = medhub_pid
        self.data_dir = data_dir
        self.generator_pids = list(generator_pids)
        self.start: dict[str, dict[int, float]] = {}
        self.machine_start = psutil.cpu_times()
        self.started = time.monotonic()

    def _postmaster(self) -> int | None:
        try:
            return int((pgdata_dir(self.data_dir) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _groups(self) -> dict[str, dict[int, float]]:
        postmaster = self._postmaster()
        postgres = _tree_of(postmaster) if postmaster else []
        postgres_pids = {p.pid for p in postgres}
        medhub = [p for p in _tree_of(self.medhub_pid) if p.pid not in postgres_pids]
        generator = [p for pid in self.generator_pids for p in _tree_of(pid)[:1]]
        return {
            "medhub": _cpu_seconds(medhub, {self.medhub_pid}),
            "postgres": _cpu_seconds(postgres, {postmaster} if postmaster else set()),
            "generator": _cpu_seconds(generator, set()),
            # This process: reads /metrics and waits (the users run in the generators).
            "runner": _cpu_seconds(_tree_of(os.getpid())[:1], set()),
        }

    def begin(self) -> None:
        self.start = self._groups()
        self.machine_start = psutil.cpu_times()
        self.started = time.monotonic()

    def end(self) -> dict[str, Any]:
        finish = self._groups()
        machine = psutil.cpu_times()
        seconds = time.monotonic() - self.started
        result: dict[str, Any] = {"seconds": round(seconds, 3), "cpus": psutil.cpu_count()}
        ours = 0.0
        for name, now in finish.items():
            before = self.start.get(name, {})
            used = sum(value - before.get(pid, 0.0) for pid, value in now.items())
            ours += used
            result[name] = {
                "cpu_s": round(used, 2),
                "core_percent": round(100 * used / seconds, 1) if seconds else None,
                "processes": len(now),
            }
        idle = (machine.idle + getattr(machine, "iowait", 0.0)) - (
            self.machine_start.idle + getattr(self.machine_start, "iowait", 0.0)
        )
        total = sum(machine) - sum(self.machine_start)
        busy = total - idle
        result["machine"] = {
            "busy_core_percent": round(100 * busy / seconds, 1) if seconds else None,
            "other_core_percent": round(100 * (busy - ours) / seconds, 1) if seconds else None,
        }
        return result


# --- the run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadConfig:
    users: int
    duration: float
    sse_streams: int
    think_min: float
    think_max: float
    workers: int
    processes: int
    redis_url: str


@dataclass
class LoadOutcome:
    config: LoadConfig
    started_at: datetime
    setup_s: dict[str, float]
    window: dict[str, KindTally]
    outside: dict[str, KindTally]
    streams: StreamTally
    lag_ms: list[float]
    ramp_s: float
    pool: dict[str, Any]
    cpu: dict[str, Any]
    roles: dict[str, int]
    window_s: float
    users_ready: int
    medhub_log: dict[str, int] = field(default_factory=dict)


def _split(plans: Sequence[UserPlan], parts: int) -> list[list[UserPlan]]:
    return [list(plans[k::parts]) for k in range(parts)]


class Generators:
    """The load-generator processes (spawned), their ready events, the shared window
    and the pipes their results come back on."""

    def __init__(self, config: LoadConfig, base_url: str, plans: Sequence[UserPlan]) -> None:
        self.config = config
        self.base_url = base_url
        self.plans = plans
        self.context = multiprocessing.get_context("spawn")
        self.ready = [self.context.Event() for _ in range(config.processes)]
        self.go = self.context.Event()
        # (start, end) on the monotonic clock, which every process on the machine shares.
        self.window = self.context.Array("d", [math.inf, math.inf], lock=False)
        self.processes: list[Any] = []
        self.pipes: list[Any] = []
        self.login_slots = max(1, LOGIN_SLOTS_PER_WORKER * config.workers // config.processes)

    def start(self, product_ids: list[str]) -> None:
        for index, users in enumerate(_split(self.plans, self.config.processes)):
            receive, send = self.context.Pipe(duplex=False)
            generator_config = GeneratorConfig(
                index=index,
                base_url=self.base_url,
                users=users,
                product_ids=product_ids,
                order_product_ids=product_ids[: catalog_data.ORDER_PRODUCTS],
                think_min=self.config.think_min,
                think_max=self.config.think_max,
                login_slots=self.login_slots,
                seed=index + 1,
            )
            process = self.context.Process(
                target=generator_process,
                args=(generator_config, self.ready[index], self.go, self.window, send),
                name=f"bench-load-{index}",
                daemon=True,
            )
            process.start()
            send.close()
            self.processes.append(process)
            self.pipes.append(receive)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def wait_ramp_up(self, medhub: Service) -> float:
        """Until every process says its users are in (logged in, streams open); seconds."""
        started = time.monotonic()
        deadline = started + RAMP_TIMEOUT_BASE_S + RAMP_TIMEOUT_PER_USER_S * self.config.users
        while not all(event.is_set() for event in self.ready):
            if any(not process.is_alive() for process in self.processes):
                raise LoadTestError("a load-generator process exited during the ramp-up")
            if medhub.process.poll() is not None:
                raise ServiceError(f"medhub exited during the ramp-up:\n{medhub.log_tail()}")
            if time.monotonic() > deadline:
                raise LoadTestError(
                    f"the ramp-up took longer than {deadline - started:.0f} s:\n{medhub.log_tail()}"
                )
            time.sleep(0.2)
        return time.monotonic() - started

    def open_window(self, begin: float, end: float) -> None:
        self.window[0], self.window[1] = begin, end
        self.go.set()

    def collect(self) -> list[GeneratorResult]:
        results: list[GeneratorResult] = []
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            try:
                if not pipe.poll(COLLECT_SLACK_S + self.config.think_max):
                    raise LoadTestError(f"{process.name} sent no result")
                results.append(pipe.recv())
            except (EOFError, OSError) as exc:
                raise LoadTestError(
                    f"{process.name} exited (code {process.exitcode}) without its result"
                ) from exc
            process.join(10)
        return results

    def stop(self) -> None:
        """Terminate (by their own process objects) the ones still running."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(5)


def _merge(results: Sequence[GeneratorResult]) -> GeneratorResult:
    merged = GeneratorResult()
    for result in results:
        for target, source in ((merged.window, result.window), (merged.outside, result.outside)):
            for kind, tally in source.items():
                target.setdefault(kind, KindTally()).merge(tally)
        streams = result.streams
        merged.streams.opened += streams.opened
        merged.streams.failed += streams.failed
        merged.streams.open_at_end += streams.open_at_end
        merged.streams.notification_events += streams.notification_events
        merged.streams.pings += streams.pings
        for message, times in streams.error_messages.items():
            count_error(merged.streams.error_messages, message, times)
        merged.lag_ms += result.lag_ms
        merged.users_ready += result.users_ready
    return merged


def _start(config: LoadConfig, stack: ExitStack, data_dir: Path, metrics_token: str) -> Service:
    log_dir = data_dir / "logs"
    log_dir.mkdir()
    stack.callback(stop_orphaned_postgres, data_dir)
    medhub = start_medhub(
        data_dir,
        log_dir,
        jwt_secret=secrets.token_urlsafe(48),
        hash_params=resolve_hash_params(),
        workers=config.workers,
        redis_url=config.redis_url,
        # /metrics with this run's token, whatever the environment says.
        extra_env={"METRICS_TOKEN": metrics_token, "METRICS_PUBLIC": "false"},
    )
    stack.callback(stop_service, medhub, MEDHUB_STOP_TIMEOUT_S)
    _progress(
        f"medhub: starting on {medhub.base_url} ({config.workers} worker(s), DATA_DIR={data_dir})"
    )
    return medhub


def _measure(
    generators: Generators, medhub: Service, data_dir: Path, metrics_token: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Open the window, and over it read the pool gauges and the CPU times: (pool, cpu)."""
    begin = time.monotonic() + WARMUP_S
    end = begin + generators.config.duration
    generators.open_window(begin, end)
    cpu = CpuMeter(medhub.process.pid, data_dir, generators.pids)
    sampler = PoolSampler(medhub.base_url + "/metrics", metrics_token)
    time.sleep(max(0.0, begin - time.monotonic()))
    cpu.begin()
    thread = threading.Thread(target=sampler.run, args=(end,), daemon=True)
    thread.start()
    _progress(f"measuring for {generators.config.duration:g} s ...")
    time.sleep(max(0.0, end - time.monotonic()))
    cpu_result = cpu.end()
    sampler.stop.set()
    thread.join(10)
    return sampler.summary(generators.config.workers, configured_pool_size()), cpu_result


def _stamp(started_at: datetime) -> str:
    return f"{started_at:%Y%m%dT%H%M%SZ}"


def _log_entry(line: str) -> str:
    """What one line of MedHub's log is about: its event, and the exception's last line."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line.strip()[:LOG_KEY_LENGTH]
    if not isinstance(entry, dict):
        return line.strip()[:LOG_KEY_LENGTH]
    key = f"{entry.get('level', '?')} {entry.get('event', '?')}"
    exception = str(entry.get("exception") or "").strip()
    if exception:
        # "sqlalchemy.exc.TimeoutError: QueuePool limit of size 20 ... (Background on ...)"
        key += ": " + exception.splitlines()[-1].split(" (Background")[0]
    return key[:LOG_KEY_LENGTH]


def keep_log(data_dir: Path, started_at: datetime) -> dict[str, int]:
    """Copy MedHub's log (LOG_LEVEL=WARNING: warnings, errors and their tracebacks)
    next to the results; how many lines of each kind it has, most frequent first."""
    log = data_dir / "logs" / "medhub.log"
    if not log.exists() or not log.stat().st_size:
        return {}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log, RESULTS_DIR / f"{_stamp(started_at)}-load-medhub.log")
    counts: dict[str, int] = {}
    with log.open(errors="replace") as handle:
        for line in handle:
            if line.strip() and not line[0].isspace():
                key = _log_entry(line)
                counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def run(config: LoadConfig) -> LoadOutcome:
    started_at = datetime.now(UTC)
    plans = _plans(config.users, config.sse_streams)
    data_dir = Path(tempfile.mkdtemp(prefix="medhub-bench-load-"))
    metrics_token = secrets.token_urlsafe(32)
    setup_s: dict[str, float] = {}
    generators: Generators | None = None
    try:
        with ExitStack() as stack:
            medhub = _start(config, stack, data_dir, metrics_token)
            setup_s["medhub_ready"] = round(wait_ready(medhub, MEDHUB_READY_TIMEOUT_S), 2)
            tick = time.monotonic()
            product_ids = seed_catalog(data_dir, medhub.base_url)
            setup_s["catalog"] = round(time.monotonic() - tick, 2)
            tick = time.monotonic()
            create_accounts(medhub.base_url, admin_database_url(data_dir), plans)
            setup_s["accounts"] = round(time.monotonic() - tick, 2)
            _progress(
                f"setup: {len(product_ids):,} products ({setup_s['catalog']} s), "
                f"{len(plans):,} accounts ({setup_s['accounts']} s)"
            )
            generators = Generators(config, medhub.base_url, plans)
            stack.callback(generators.stop)
            generators.start(product_ids)
            _progress(
                f"ramp-up: {config.users:,} users log in ({generators.login_slots} at once in "
                f"each of {config.processes} generator process(es)), {config.sse_streams} "
                "open a stream ..."
            )
            ramp_s = generators.wait_ramp_up(medhub)
            _progress(f"ramp-up: done in {ramp_s:.1f} s; warm-up {WARMUP_S:g} s")
            pool, cpu = _measure(generators, medhub, data_dir, metrics_token)
            merged = _merge(generators.collect())
    finally:
        log_summary = keep_log(data_dir, started_at)
        shutil.rmtree(data_dir, ignore_errors=True)
    roles: dict[str, int] = {}
    for plan in plans:
        roles[plan.role] = roles.get(plan.role, 0) + 1
    return LoadOutcome(
        config=config,
        started_at=started_at,
        setup_s=setup_s,
        window=merged.window,
        outside=merged.outside,
        streams=merged.streams,
        lag_ms=merged.lag_ms,
        ramp_s=round(ramp_s, 2),
        pool=pool,
        cpu=cpu,
        roles=roles,
        window_s=config.duration,
        users_ready=merged.users_ready,
        medhub_log=log_summary,
    )


# --- the report -----------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest rank, as bench/driver.py."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1], 2)


def stats(tally: KindTally | None, seconds: float) -> dict[str, Any]:
    values = sorted(tally.latencies_ms) if tally else []
    return {
        "count": len(values),
        "errors": tally.errors if tally else 0,
        "rps": round(len(values) / seconds, 1) if seconds else None,
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": round(values[-1], 2) if values else None,
        "error_messages": tally.error_messages if tally else {},
    }


def _combined(tallies: Iterable[KindTally | None]) -> KindTally:
    total = KindTally()
    for tally in tallies:
        if tally is not None:
            total.merge(tally)
    return total


def summarise(outcome: LoadOutcome) -> dict[str, Any]:
    seconds = outcome.window_s
    window, outside = outcome.window, outcome.outside
    kinds = {kind: stats(window.get(kind), seconds) for kind in (*READ_KINDS, *WRITE_KINDS)}
    reads = stats(_combined(window.get(k) for k in READ_KINDS), seconds)
    writes = stats(_combined(window.get(k) for k in WRITE_KINDS), seconds)
    everything = stats(_combined(window.values()), seconds)
    ramp = {
        kind: stats(outside.get(kind), outcome.ramp_s) for kind in RAMP_KINDS if kind in outside
    }
    # Browsing requests outside the window: during the ramp-up, the warm-up, or started
    # after its end is known... any error there fails the run too.
    not_measured = _combined(t for k, t in outside.items() if k not in RAMP_KINDS)
    errors_outside = sum(t.errors for t in outside.values())
    lag = sorted(outcome.lag_ms)
    pool = outcome.pool
    targets = {
        "read_p95_ms": {
            "target": TARGET_READ_P95_MS,
            "value": reads["p95_ms"],
            "met": reads["p95_ms"] is not None and reads["p95_ms"] < TARGET_READ_P95_MS,
        },
        "read_p99_ms": {
            "target": TARGET_READ_P99_MS,
            "value": reads["p99_ms"],
            "met": reads["p99_ms"] is not None and reads["p99_ms"] < TARGET_READ_P99_MS,
        },
        "errors": {
            "target": 0,
            "value": everything["errors"] + errors_outside + outcome.streams.failed,
            "met": everything["errors"] + errors_outside + outcome.streams.failed == 0,
        },
        "pool_waits": {
            "target": "checked_out never reaches a process's pool size",
            "value": f"{pool['max_checked_out']}/{pool['size_per_process']}",
            "met": bool(pool["samples"]) and not pool["reached_size"],
        },
    }
    return {
        "kinds": kinds,
        "reads": reads,
        "writes": writes,
        "all": everything,
        "ramp": ramp,
        "not_measured": {"count": len(not_measured.latencies_ms), "errors": not_measured.errors},
        "errors_outside_window": errors_outside,
        "generator_lag_ms": {
            "samples": len(lag),
            "p50": percentile(lag, 50),
            "p99": percentile(lag, 99),
            "max": round(lag[-1], 2) if lag else None,
        },
        "targets": targets,
    }


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _row(name: str, s: dict[str, Any]) -> str:
    rps = "n/a" if s["rps"] is None else f"{s['rps']:,.1f}"
    return (
        f"| {name} | {s['count']:,} | {s['errors']} | {rps} | {_ms(s['p50_ms'])} "
        f"| {_ms(s['p95_ms'])} | {_ms(s['p99_ms'])} | {_ms(s['max_ms'])} |"
    )


def markdown(outcome: LoadOutcome, summary: dict[str, Any], info: dict[str, Any]) -> str:
    config = outcome.config
    roles = ", ".join(f"{count:,} {role}s" for role, count in outcome.roles.items())
    workers = _count(config.workers, "worker process", "worker processes")
    generators = _count(config.processes, "process", "processes")
    lines = [
        f"# MedHub load test, {outcome.started_at:%Y-%m-%d %H:%M:%S} UTC",
        "",
        f"{config.users:,} users ({roles}), think time {config.think_min:g} to "
        f"{config.think_max:g} s before each request, {config.sse_streams} idle event "
        f"streams open throughout; {config.duration:g} s measured, after the ramp-up "
        f"({outcome.ramp_s:g} s: every login, address and stream) and {WARMUP_S:g} s of "
        f"warm-up. MedHub: {workers}, fresh embedded PostgreSQL, rate limiting off. Load "
        f"generator: {generators} on the same machine (asyncio + httpx, one client per "
        "user). A request counts in the window it starts in.",
        f"Machine: {info['cpus']} CPU(s), Python {info['python']}, commit "
        f"{info['commit'] or 'unknown'}.",
        "",
        "| request | count | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in (*READ_KINDS, *WRITE_KINDS):
        lines.append(_row(kind, summary["kinds"][kind]))
    lines += [
        _row("**reads**", summary["reads"]),
        _row("**writes**", summary["writes"]),
        _row("**all**", summary["all"]),
    ]
    ideal = config.users / ((config.think_min + config.think_max) / 2)
    lines += [
        "",
        f"Offered load: {summary['all']['rps'] or 0:,.1f} req/s; with instant answers the "
        f"users would send {ideal:,.0f} req/s (users / mean think time).",
    ]
    lines += ["", "Requests: " + "; ".join(f"{k}: `{v}`" for k, v in KIND_REQUESTS.items()) + "."]
    verdicts = []
    for name, target in summary["targets"].items():
        mark = "met" if target["met"] else "NOT MET"
        verdicts.append(f"{name} {target['value']} (target {target['target']}): {mark}")
    lines += ["", "Targets: " + "; ".join(verdicts) + "."]
    pool = outcome.pool
    scope = {
        "process": "one process's pool",
        "sum over the workers": f"the sum over the {config.workers} workers' pools",
    }.get(pool["gauges_are"], "of unknown scope")
    lines += [
        "",
        f"Connection pool (`medhub_db_pool_*` from /metrics every {pool['interval_s']:g} s, "
        f"{pool['samples']} samples, {pool['failed_reads']} failed reads; the gauges are "
        f"{scope}): size {pool['size']}, checked out at most {pool['max_checked_out']} "
        f"(mean {pool['mean_checked_out']}), {pool['samples_at_process_size']} sample(s) at "
        f"or above one process's pool size ({pool['size_per_process']}), overflow at most "
        f"{pool['max_overflow']}. "
        + (
            "No pool was full in any sample (a wait shorter than the interval would not "
            "show here; the latencies would)."
            if not pool["reached_size"]
            else "The pool was full: requests waited for a connection."
            if pool["gauges_are"] == "process"
            else "A worker's pool may have been full: requests may have waited for a connection."
        ),
    ]
    cpu = outcome.cpu
    requests = summary["all"]["count"]

    def share(name: str) -> str:
        group = cpu[name]
        per_request = f", {1000 * group['cpu_s'] / requests:.2f} ms per request" if requests else ""
        count = group["processes"]
        processes = f"{count} process{'es' if count != 1 else ''}"
        return f"{group['core_percent']}% ({processes}{per_request})"

    lines += [
        "",
        f"CPU over the window ({cpu['seconds']:g} s; % of one core, the machine has "
        f"{cpu['cpus']}): MedHub {share('medhub')}, PostgreSQL {share('postgres')}, load "
        f"generator {share('generator')}, this runner process (reading /metrics) "
        f"{cpu['runner']['core_percent']}%. The whole machine was busy "
        f"{cpu['machine']['busy_core_percent']}%, of which "
        f"{cpu['machine']['other_core_percent']}% was other processes.",
    ]
    lag = summary["generator_lag_ms"]
    lines += [
        "",
        f"Load generator: think-time wake-ups late by p50 {_ms(lag['p50'])} ms, p99 "
        f"{_ms(lag['p99'])} ms, max {_ms(lag['max'])} ms ({lag['samples']:,} wake-ups; "
        "late wake-ups mean its event loop was busy, which would also inflate the "
        "latencies above).",
    ]
    ramp = summary["ramp"]
    if "login" in ramp:
        login = ramp["login"]
        lines += [
            "",
            f"Ramp-up (not in the table): {login['count']:,} logins in {outcome.ramp_s:g} s, "
            f"p50 {_ms(login['p50_ms'])} ms, p95 {_ms(login['p95_ms'])} ms, "
            f"{login['errors']} errors"
            + (
                f"; {ramp['address']['count']:,} addresses added, "
                f"{ramp['address']['errors']} errors"
                if "address" in ramp
                else ""
            )
            + f". Outside the window (ramp-up, warm-up) the users also sent "
            f"{summary['not_measured']['count']:,} requests, "
            f"{summary['not_measured']['errors']} errors.",
        ]
    streams = outcome.streams
    lines += [
        "",
        f"Event streams: {streams.opened} of {config.sse_streams} opened, "
        f"{streams.open_at_end} still open at the end, {streams.failed} failed; "
        f"{streams.notification_events} notification events and {streams.pings} pings "
        "received.",
    ]
    errors = [
        f"{kind}: {times} x {message}"
        for source in (summary["kinds"], summary["ramp"])
        for kind, s in source.items()
        for message, times in s["error_messages"].items()
    ] + [f"stream: {times} x {message}" for message, times in streams.error_messages.items()]
    if errors:
        lines += [
            "",
            "Errors by message (requests of the window, ramp-up logins and addresses, "
            "streams over the whole run):",
            "",
            *(f"- {line}" for line in errors),
        ]
    if outcome.medhub_log:
        stamp = _stamp(outcome.started_at)
        lines += [
            "",
            f"MedHub's log (LOG_LEVEL=WARNING, kept as `bench/results/{stamp}-load-medhub.log`),"
            " lines by kind:",
            "",
            *(f"- {count} x {key}" for key, count in list(outcome.medhub_log.items())[:10]),
        ]
    return "\n".join(lines) + "\n"


def _commit() -> str | None:
    # The runner's, imported here: it imports this module's command.
    from bench.runner import _commit as commit  # noqa: PLC0415

    return commit()


def write_results(
    outcome: LoadOutcome, summary: dict[str, Any], text: str, info: dict[str, Any]
) -> tuple[Path, Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(outcome.started_at)
    md_path = RESULTS_DIR / f"{stamp}-load.md"
    json_path = RESULTS_DIR / f"{stamp}-load.json"
    payload = {
        "kind": "load",
        "started_at": outcome.started_at.isoformat(),
        **info,
        "config": asdict(outcome.config) | {"warmup_s": WARMUP_S, "order_every": ORDER_EVERY},
        "roles": outcome.roles,
        "setup_s": outcome.setup_s,
        "ramp_s": outcome.ramp_s,
        "window_s": outcome.window_s,
        **summary,
        "pool": outcome.pool,
        "cpu": outcome.cpu,
        "streams": asdict(outcome.streams),
        "medhub_log": outcome.medhub_log,
        "requests": KIND_REQUESTS,
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    md_path.write_text(text)
    return json_path, md_path


# --- command line ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench load",
        description="Load test: many simulated users against MedHub alone (bench/users.py).",
    )
    parser.add_argument("--users", type=int, default=1000, help="Simulated users (default 1000)")
    parser.add_argument(
        "--duration", type=float, default=180.0, help="Measured seconds (default 180)"
    )
    parser.add_argument(
        "--sse-streams",
        type=int,
        default=200,
        help="Users that keep a notification stream open (default 200)",
    )
    parser.add_argument("--think-min", type=float, default=1.0, help="Seconds (default 1)")
    parser.add_argument("--think-max", type=float, default=5.0, help="Seconds (default 5)")
    parser.add_argument(
        "--workers", type=int, default=1, help="MedHub worker processes (default 1)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Load-generator processes the users are split over (default 1)",
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help=f"With --workers > 1: MedHub's REDIS_URL, flushed first (default {DEFAULT_REDIS_URL})",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.users <= MAX_USERS:
        parser.error(f"--users must be between 1 and {MAX_USERS:,}")
    if not 0 <= args.sse_streams <= args.users:
        parser.error("--sse-streams must be between 0 and --users (one stream per user)")
    if not 0 < args.duration <= MAX_LOAD_DURATION_S:
        parser.error(f"--duration must be between 0 and {MAX_LOAD_DURATION_S:.0f} s")
    if not 0 <= args.think_min <= args.think_max or args.think_max <= 0:
        parser.error("--think-min and --think-max: 0 <= min <= max, max > 0")
    if not 1 <= args.workers <= 8:
        parser.error("--workers must be between 1 and 8")
    if not 1 <= args.processes <= min(MAX_PROCESSES, args.users):
        parser.error(f"--processes must be between 1 and {MAX_PROCESSES} (and at most --users)")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    config = LoadConfig(
        users=args.users,
        duration=args.duration,
        sse_streams=args.sse_streams,
        think_min=args.think_min,
        think_max=args.think_max,
        workers=args.workers,
        processes=args.processes,
        redis_url=args.redis_url,
    )
    try:
        outcome = run(config)
    except KeyboardInterrupt:
        _progress("bench load: interrupted; MedHub stopped and the temporary directory removed")
        return 130
    except (ServiceError, SetupError, LoadTestError) as exc:
        _progress(f"bench load: {exc}")
        return 1
    summary = summarise(outcome)
    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "commit": _commit()}
    text = markdown(outcome, summary, info)
    print(text, end="")
    json_path, md_path = write_results(outcome, summary, text, info)
    _progress(f"results: {json_path.relative_to(REPO_ROOT)}, {md_path.relative_to(REPO_ROOT)}")
    failed = summary["targets"]["errors"]["value"]
    if failed:
        _progress(f"bench load: {failed} request(s) or stream(s) failed (see above)")
        return 1
    return 0
