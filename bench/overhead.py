"""`python -m bench overhead`: the framework's own cost per request, in process.

No network and no database in the measured loop: requests are ASGI calls made
directly on the app (`await app(scope, receive, send)`), one after another, so
the time is the request path itself: middleware, routing, dependencies, the
session check, the rate limiter, serialisation and the access log.

Measured routes:
- `health`: `GET /health/live` (no authentication);
- `auth-json`: `GET /api/v1/bench/overhead` as a logged-in customer: a route
  added by this bench with the same dependencies as every `/api/v1` route (the
  global rate limit, the principal) returning a small JSON envelope. After the
  first request the session check comes from the cache: the run checks that the
  measured requests sent no SQL at all;
- `baseline`: the same ASGI calls to a bare Starlette route returning the same
  body: the floor of this harness (scope building, the call, the response
  messages), measured in the same run.

A database is needed only to create the user and its session before the loop (a
fresh embedded PostgreSQL in a temporary directory). The access log is on (INFO,
JSON) and written to /dev/null; rate limiting is on with in-memory counters and
limits the run cannot exhaust.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from bench import RESULTS_DIR
from medhub.app import create_app  # type: ignore[import-untyped]
from medhub.authz.dependencies import CurrentPrincipal, api_rate_limit  # type: ignore[import-untyped]
from medhub.config import Settings, prepare_settings  # type: ignore[import-untyped]
from medhub.kit.envelope import Envelope, JSONResponse, ok  # type: ignore[import-untyped]
from medhub.ops.provision import prepare_database  # type: ignore[import-untyped]

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
EMAIL = "bench-overhead@example.com"
PASSWORD = "Bench-overhead-password-1"  # noqa: S105 - a throwaway account of a temporary database
BODY = b'{"success":true,"data":{"ok":true},"message":null}'


async def call(
    app: ASGIApp, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    status = 0
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def timed(
    app: ASGIApp, path: str, headers: list[tuple[bytes, bytes]], requests: int
) -> float:
    """Microseconds per request over `requests` sequential calls (garbage collector off,
    as a steady server mostly is between collections)."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(requests):
            await call(app, "GET", path, headers)
        return (time.perf_counter() - started) / requests * 1e6
    finally:
        gc.enable()


def _settings(data_dir: Path, **values: Any) -> Settings:
    generous = "10000000/minute"
    return Settings(
        _env_file=None,
        ENV="development",
        DATA_DIR=data_dir,
        JWT_SECRET="bench-overhead-" + "x" * 40,
        LOG_LEVEL="INFO",
        LOG_JSON=True,
        RUN_WORKER=False,
        RATE_LIMIT_ENABLED=True,
        RATE_LIMIT_GLOBAL=generous,
        RATE_LIMIT_ANONYMOUS=generous,
        RATE_LIMIT_ROLES={"customer": generous},
        EMAIL_BACKEND="console",
        **values,
    )


def bench_app(settings: Settings) -> FastAPI:
    app = create_app(settings)

    async def overhead(principal: CurrentPrincipal) -> JSONResponse:
        return ok({"ok": principal.role == "customer"})

    app.add_api_route(
        "/api/v1/bench/overhead",
        overhead,
        methods=["GET"],
        response_model=Envelope[dict[str, bool]],
        dependencies=[Depends(api_rate_limit)],
    )
    return app


def baseline_app() -> Starlette:
    async def endpoint(_request: Any) -> Response:
        return Response(BODY, media_type="application/json")

    return Starlette(routes=[Route("/bench/overhead", endpoint)])


async def measure(data_dir: Path, requests: int, rounds: int) -> dict[str, Any]:
    target = prepare_database(_settings(data_dir, DATABASE_URL=None))
    # As `medhub serve` does: development secrets (field keys, signing key) generated
    # into DATA_DIR.
    settings = prepare_settings(
        _settings(
            data_dir, DATABASE_URL=str(target.app_url), DATABASE_ADMIN_URL=str(target.admin_url)
        )
    )
    app = bench_app(settings)
    baseline = baseline_app()
    json_body = [(b"content-type", b"application/json")]
    results: dict[str, list[float]] = {"health": [], "auth-json": [], "baseline": []}
    # The access log is written (that is part of the cost), to nowhere.
    with open(os.devnull, "w") as devnull:  # noqa: ASYNC230 - opening /dev/null does not block
        real_stderr, sys.stderr = sys.stderr, devnull
        try:
            async with app.router.lifespan_context(app):
                credentials = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
                register = json.dumps(
                    {"email": EMAIL, "password": PASSWORD, "full_name": "Bench Overhead"}
                ).encode()
                await call(app, "POST", "/api/v1/auth/register", json_body, register)
                status, body = await call(app, "POST", "/api/v1/auth/login", json_body, credentials)
                if status != 200:
                    raise SystemExit(f"login failed: {status} {body[:300]!r}")
                token = json.loads(body)["data"]["access_token"]
                auth = [(b"authorization", f"Bearer {token}".encode())]
                status, body = await call(app, "GET", "/api/v1/bench/overhead", auth)
                if status != 200:
                    raise SystemExit(f"overhead route: {status} {body[:300]!r}")
                statements: list[str] = []
                engine = app.state.database.engine.sync_engine

                def record(*args: Any) -> None:
                    statements.append(str(args[2]))

                event.listen(engine, "before_cursor_execute", record)
                for _ in range(rounds):
                    for name, target_app, path, headers in (
                        ("health", app, "/health/live", []),
                        ("auth-json", app, "/api/v1/bench/overhead", auth),
                        ("baseline", baseline, "/bench/overhead", []),
                    ):
                        await timed(target_app, path, headers, requests // 10)  # warm-up
                        results[name].append(await timed(target_app, path, headers, requests))
                event.remove(engine, "before_cursor_execute", record)
        finally:
            sys.stderr = real_stderr
    return {
        "requests_per_round": requests,
        "rounds": rounds,
        "microseconds": results,
        "median": {name: statistics.median(values) for name, values in results.items()},
        "sql_statements_during_measurement": len(statements),
    }


def markdown(result: dict[str, Any]) -> str:
    median = result["median"]
    floor = median["baseline"]
    lines = [
        "## overhead: the request path in process (ASGI calls, no network, no database)",
        f"{result['rounds']} round(s) of {result['requests_per_round']:,} sequential requests "
        "per route; median of the rounds, microseconds per request.",
        "",
        "| route | µs / request | minus the bare-Starlette floor |",
        "| --- | ---: | ---: |",
    ]
    for name, label in (
        ("health", "`GET /health/live` (anonymous)"),
        ("auth-json", "`GET /api/v1/bench/overhead` (bearer token, cached session check)"),
        ("baseline", "bare Starlette route, same body"),
    ):
        lines.append(f"| {label} | {median[name]:,.1f} | {median[name] - floor:,.1f} |")
    lines.append("")
    lines.append(
        f"SQL statements sent during the measured requests: "
        f"{result['sql_statements_during_measurement']}."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench overhead", description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="requests per route per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="medhub-overhead-") as directory:
        result = asyncio.run(measure(Path(directory), args.requests, args.rounds))
    text = markdown(result)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"{stamp}-overhead.md").write_text(text)
    (RESULTS_DIR / f"{stamp}-overhead.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
