"""The baseline: the least code that answers MedHub's benchmarked routes with the same bodies.

Starlette routing, raw psycopg 3 through an AsyncConnectionPool, orjson. The
gap between this and MedHub is what MedHub's layers (middleware, dependency
injection, SQLAlchemy, pydantic) cost. Served by the runner as
`uvicorn bench.baseline:app` with BASELINE_DATABASE_URL set.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Same size as MedHub's default DATABASE_POOL_SIZE, so neither side wins on connections.
POOL_SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "20"))
# MedHub opens its connections with a statement timeout; keep the session setup alike.
CONNECT_OPTIONS = "-c statement_timeout=30000"


def _json(data: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


def _pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def live(request: Request) -> Response:
    return _json({"success": True, "data": {"status": "ok", "version": "bench"}})


async def ready(request: Request) -> Response:
    started = time.perf_counter()
    async with _pool(request).connection() as conn:
        cursor = await conn.execute("SELECT version_num FROM alembic_version")
        row = await cursor.fetchone()
    checks = {
        "database": {
            "status": "ok",
            "detail": None,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        },
        "migrations": {
            "status": "ok",
            "detail": f"at {row[0] if row else 'no revision'}",
            "latency_ms": None,
        },
    }
    return _json({"success": True, "data": {"status": "ok", "checks": checks}})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["BASELINE_DATABASE_URL"]
    pool = AsyncConnectionPool(
        url,
        min_size=POOL_SIZE,
        max_size=POOL_SIZE,
        kwargs={"application_name": "medhub-bench-baseline", "options": CONNECT_OPTIONS},
        open=False,
    )
    # Open eagerly and wait, so the first measured requests do not pay for connecting.
    await pool.open(wait=True, timeout=30)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


app = Starlette(
    routes=[
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
    ],
    lifespan=lifespan,
)
