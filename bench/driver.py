"""Fallback load generator when wrk is not installed: asyncio + httpx, one process.

    python -m bench.driver --url http://127.0.0.1:8000/health/live \
        --connections 64 --duration 10 --warmup 2

Keeps N requests in flight for a warm-up (discarded), then for the measured
duration, and prints one JSON object: requests, errors, duration_s, rps and
p50/p95/p99 in milliseconds. A Python client is slower than wrk, so on a small
machine it can be the bottleneck; compare targets only within one driver.

`--variants-file` makes the requests differ: a JSON list of
`{"headers": {...}, "body": "<base64>" | null, "path": "/..." (optional)}`, sent in
turn (request k, over all connections, is variant k mod n), each variant's headers
added to `--header` and its path, when it has one, instead of the URL's.

`--accept-status 409` (repeatable): answers with that status are counted as
`accepted`, not as errors (a booking refused because the slot was just taken).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import itertools
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

MAX_DURATION_S = 600.0
MAX_CONNECTIONS = 1024
DEFAULT_MAX_REQUESTS = 10_000_000


def is_loopback_url(url: str) -> bool:
    """Load goes to this machine only: 127.0.0.0/8, ::1 or localhost."""
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def percentile_ms(sorted_ns: Sequence[int], pct: float) -> float | None:
    """Nearest-rank percentile of nanosecond samples, in milliseconds."""
    if not sorted_ns:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_ns)))
    return round(sorted_ns[rank - 1] / 1_000_000, 3)


@dataclass
class Tally:
    requests: int = 0
    errors: int = 0
    accepted: int = 0
    latencies_ns: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Load:
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    expect_status: int
    # (path or None, headers, body) to take turns with; empty: always `headers` and `body`.
    variants: Sequence[tuple[str | None, dict[str, str], bytes | None]] = ()
    # Statuses counted as `accepted` answers rather than errors.
    accept_statuses: frozenset[int] = frozenset()

    def requests(self) -> Iterator[tuple[str, dict[str, str], bytes | None]]:
        """The (url, headers, body) of each next request, round robin, shared by all workers."""
        if not self.variants:
            return itertools.repeat((self.url, self.headers, self.body))
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.url))
        return itertools.cycle(
            [
                (origin + path if path else self.url, {**self.headers, **h}, b)
                for path, h, b in self.variants
            ]
        )


async def _worker(
    client: httpx.AsyncClient,
    load: Load,
    deadline: float,
    tally: Tally,
    cap: int,
    *,
    turns: Iterator[tuple[str, dict[str, str], bytes | None]],
) -> None:
    while time.perf_counter() < deadline and tally.requests < cap:
        # One event loop: taking the next variant needs no lock.
        url, headers, body = next(turns)
        started = time.perf_counter_ns()
        accepted = False
        try:
            response = await client.request(load.method, url, headers=headers, content=body)
            accepted = response.status_code in load.accept_statuses
            failed = response.status_code != load.expect_status and not accepted
        except httpx.HTTPError:
            failed = True
        tally.latencies_ns.append(time.perf_counter_ns() - started)
        tally.requests += 1
        tally.errors += failed
        tally.accepted += accepted


async def _phase(
    clients: Sequence[httpx.AsyncClient], load: Load, seconds: float, cap: int
) -> tuple[Tally, float]:
    tally = Tally()
    turns = load.requests()
    started = time.perf_counter()
    deadline = started + seconds
    async with asyncio.TaskGroup() as group:
        for client in clients:
            group.create_task(_worker(client, load, deadline, tally, cap, turns=turns))
    return tally, time.perf_counter() - started


async def run_load(
    load: Load, *, connections: int, duration: float, warmup: float, max_requests: int
) -> dict[str, float | int | None]:
    # One client with one keep-alive connection per worker: a single client sharing a
    # 64-connection pool spends its time in the pool's bookkeeping (measured here: about
    # 130 req/s against a server that answers 1,400 req/s to per-worker clients).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(10.0)
    async with AsyncExitStack() as stack:
        clients = [
            # trust_env=False: no proxy from the environment may redirect loopback load.
            await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False)
            )
            for _ in range(connections)
        ]
        if warmup > 0:
            await _phase(clients, load, warmup, max_requests)
        tally, elapsed = await _phase(clients, load, duration, max_requests)
    samples = sorted(tally.latencies_ns)
    return {
        "requests": tally.requests,
        "errors": tally.errors,
        "accepted": tally.accepted,
        "duration_s": round(elapsed, 3),
        "rps": round(tally.requests / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": percentile_ms(samples, 50),
        "p95_ms": percentile_ms(samples, 95),
        "p99_ms": percentile_ms(samples, 99),
    }


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.driver", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", type=_header, action="append", default=[])
    parser.add_argument("--body-file", help="Send this file's bytes as the request body")
    parser.add_argument(
        "--variants-file",
        help='Take turns with these requests: JSON [{"headers": {...}, "body": base64 | null,'
        ' "path": "/..." (optional)}]',
    )
    parser.add_argument("--expect-status", type=int, default=200)
    parser.add_argument(
        "--accept-status",
        type=int,
        action="append",
        default=[],
        help="Also an answer, counted apart and not as an error (repeatable)",
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS)
    args = parser.parse_args(argv)
    if not is_loopback_url(args.url):
        parser.error("only loopback targets (127.0.0.0/8, ::1, localhost) are allowed")
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be between 1 and {MAX_CONNECTIONS}")
    if not 0 < args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S:
        parser.error(f"--duration and --warmup must be at most {MAX_DURATION_S:.0f} s")
    return args


def _event_loop_factory() -> type[asyncio.AbstractEventLoop] | None:
    # uvloop trims the client's own overhead, which matters when the client is the bottleneck.
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up
    except ImportError:
        return None
    return uvloop.Loop


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    body = None
    if args.body_file:
        with open(args.body_file, "rb") as handle:
            body = handle.read()
    variants: list[tuple[str | None, dict[str, str], bytes | None]] = []
    if args.variants_file:
        with open(args.variants_file, "rb") as handle:
            for item in json.load(handle):
                raw = item.get("body")
                variants.append(
                    (
                        item.get("path"),
                        dict(item.get("headers") or {}),
                        None if raw is None else base64.b64decode(raw),
                    )
                )
    load = Load(
        url=args.url,
        method=args.method.upper(),
        headers=dict(args.header),
        body=body,
        expect_status=args.expect_status,
        variants=variants,
        accept_statuses=frozenset(args.accept_status),
    )
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        result = runner.run(
            run_load(
                load,
                connections=args.connections,
                duration=args.duration,
                warmup=args.warmup,
                max_requests=args.max_requests,
            )
        )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
