"""The `sse-fanout` scenario: notification delivery latency to many open event streams.

MedHub runs as its own process (`medhub serve --no-worker`) on a fresh embedded
database. This process registers USERS accounts, opens STREAMS_PER_USER event
streams for each (all of them at once), then commits one notification per user
through the same SQL function MedHub's `notify()` uses, one transaction each,
and times each delivery from just after COMMIT to the event's arrival on every
stream of that user.

Baseline, in the same run: a bare psycopg LISTEN on the same channel, timing
COMMIT → NOTIFY arrival. That is the database's part; the ratio shows what the
hub, the streams, HTTP and JSON add on top.

    uv run python -m bench.sse_fanout [--users 100] [--streams-per-user 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import RESULTS_DIR

PASSWORD = "Bench-Fanout-Pass-42!"  # noqa: S105 - throwaway accounts on a temp database
READY_TIMEOUT_S = 90.0
DELIVERY_TIMEOUT_S = 30.0


@dataclass
class Result:
    users: int
    streams: int
    notifications: int
    deliveries_expected: int
    deliveries: int
    medhub_ms: dict[str, float] = field(default_factory=dict)
    baseline_ms: dict[str, float] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.deliveries_expected - self.deliveries


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1] * 1000, 2),
        "mean": round(statistics.fmean(ordered) * 1000, 2),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_medhub(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "ENV": "development",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_ENABLED": "false",
            "RUN_WORKER": "false",
            "ACCESS_TOKEN_TTL_MINUTES": "120",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "medhub", "serve", "--no-worker", "--port", str(port)],
        cwd=data_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(data_dir / "medhub.log").open("wb"),
        start_new_session=True,
    )


async def wait_ready(base: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("medhub did not become ready")


async def make_users(base: str, count: int) -> list[tuple[uuid.UUID, str]]:
    """(user id, access token) for `count` fresh patients, made through the API."""
    accounts: list[tuple[uuid.UUID, str]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def one(number: int) -> tuple[uuid.UUID, str]:
            email = f"fanout{number}-{uuid.uuid4().hex[:6]}@example.org"
            registered = await http.post(
                "/api/v1/auth/register",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "full_name": "Fan Out",
                    "role": "patient",
                },
            )
            registered.raise_for_status()
            login = await http.post(
                "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            login.raise_for_status()
            data = login.json()["data"]
            return uuid.UUID(data["user"]["id"]), str(data["access_token"])

        for start in range(0, count, 10):
            accounts += await asyncio.gather(
                *(one(n) for n in range(start, min(count, start + 10)))
            )
    return accounts


class Stream:
    """One open event stream; records when each notification id arrived."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token
        self.connected = asyncio.Event()
        self.arrivals: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        async with self.client.stream(
            "GET", "/api/v1/notifications/stream", headers=headers
        ) as response:
            response.raise_for_status()
            event: str | None = None
            async for line in response.aiter_lines():
                if line.startswith(":") and "connected" in line:
                    self.connected.set()
                elif line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:") and event == "notification":
                    payload = json.loads(line.partition(":")[2])
                    self.arrivals[str(payload["id"])] = time.perf_counter()
                elif not line:
                    event = None


async def baseline_listener(
    admin_url: str, arrivals: dict[int, float], stop: asyncio.Event
) -> None:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute("LISTEN medhub_notifications")
        while not stop.is_set():
            async for note in conn.notifies(timeout=0.5):
                arrivals[int(json.loads(note.payload)["seq"])] = time.perf_counter()


async def run(users: int, per_user: int) -> Result:  # noqa: PLR0915 - one linear scenario
    data_dir = Path(tempfile.mkdtemp(prefix="medhub-bench-sse-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_medhub(data_dir, port)
    try:
        await wait_ready(base)
        admin_url = f"postgresql://postgres@/medhub?host={data_dir / 'pgdata'}"
        accounts = await make_users(base, users)
        limits = httpx.Limits(max_connections=users * per_user + 10)
        timeout = httpx.Timeout(None, connect=10.0)  # streams stay open as long as they like
        async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
            streams: dict[uuid.UUID, list[Stream]] = {}
            for user_id, token in accounts:
                streams[user_id] = [Stream(client, token) for _ in range(per_user)]
            everything = [s for group in streams.values() for s in group]
            for stream in everything:
                stream.task = asyncio.create_task(stream.run())
            await asyncio.wait_for(
                asyncio.gather(*(s.connected.wait() for s in everything)), READY_TIMEOUT_S
            )
            stop = asyncio.Event()
            base_arrivals: dict[int, float] = {}
            listener = asyncio.create_task(baseline_listener(admin_url, base_arrivals, stop))
            await asyncio.sleep(0.5)
            committed: dict[str, tuple[uuid.UUID, float, int]] = {}
            async with await psycopg.AsyncConnection.connect(admin_url) as conn:
                for user_id, _token in accounts:
                    notification_id = uuid.uuid4()
                    cursor = await conn.execute(
                        "SELECT seq FROM notification_insert(%s, %s, 'test', 'Fan-out',"
                        " 'bench', '{}'::jsonb)",
                        [notification_id, user_id],
                    )
                    row = await cursor.fetchone()
                    await conn.commit()
                    assert row is not None
                    committed[str(notification_id)] = (user_id, time.perf_counter(), int(row[0]))
                    await asyncio.sleep(0.01)
            deadline = time.monotonic() + DELIVERY_TIMEOUT_S
            expected = len(committed) * per_user
            while time.monotonic() < deadline:
                got = sum(
                    1
                    for nid, (uid, _t, _s) in committed.items()
                    for s in streams[uid]
                    if nid in s.arrivals
                )
                if got >= expected and len(base_arrivals) >= len(committed):
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await listener
            medhub_latencies = [
                s.arrivals[nid] - sent
                for nid, (uid, sent, _seq) in committed.items()
                for s in streams[uid]
                if nid in s.arrivals
            ]
            baseline_latencies = [
                base_arrivals[seq] - sent
                for _nid, (_uid, sent, seq) in committed.items()
                if seq in base_arrivals
            ]
            for stream in everything:
                if stream.task is not None:
                    stream.task.cancel()
            await asyncio.gather(*(s.task for s in everything if s.task), return_exceptions=True)
        return Result(
            users=users,
            streams=len(everything),
            notifications=len(committed),
            deliveries_expected=expected,
            deliveries=len(medhub_latencies),
            medhub_ms=percentiles(medhub_latencies),
            baseline_ms=percentiles(baseline_latencies),
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=30)
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        log_tail = (data_dir / "medhub.log").read_text(errors="replace")[-3000:]
        if os.environ.get("BENCH_KEEP_LOG"):
            print(log_tail, file=sys.stderr)
        shutil.rmtree(data_dir, ignore_errors=True)


def report(result: Result) -> str:
    m, b = result.medhub_ms, result.baseline_ms

    def ratio(key: str) -> str:
        return f"{m[key] / b[key]:.1f}" if b.get(key) and m.get(key) else "n/a"

    return "\n".join(
        [
            f"### sse-fanout: {result.streams} open streams ({result.users} users), "
            f"{result.notifications} notifications",
            "",
            "| target | deliveries | p50 ms | p95 ms | p99 ms | max ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| medhub (COMMIT → event on each stream) | {result.deliveries}/"
            f"{result.deliveries_expected} | {m.get('p50')} | {m.get('p95')} | {m.get('p99')} "
            f"| {m.get('max')} |",
            f"| baseline (COMMIT → NOTIFY on a bare LISTEN) | {result.notifications} | "
            f"{b.get('p50')} | {b.get('p95')} | {b.get('p99')} | {b.get('max')} |",
            "",
            f"ratio = medhub / baseline latency: p50 {ratio('p50')}, p95 {ratio('p95')}; "
            f"lost deliveries: {result.lost}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--streams-per-user", type=int, default=5)
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 1000 or not 1 <= args.streams_per_user <= 20:
        parser.error("--users 1..1000, --streams-per-user 1..20")
    result = asyncio.run(run(args.users, args.streams_per_user))
    text = report(result)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (RESULTS_DIR / f"{stamp}-sse-fanout.md").write_text(text + "\n")
    payload: dict[str, Any] = {**asdict(result), "lost": result.lost}
    (RESULTS_DIR / f"{stamp}-sse-fanout.json").write_text(json.dumps(payload, indent=2))
    return 0 if result.lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
