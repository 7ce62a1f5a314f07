"""Readiness: can this process serve requests right now?"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from medhub.health.schemas import Check, Readiness
from medhub.kit.db import Database
from medhub.ops.migrations import head_revision

CHECK_TIMEOUT_SECONDS = 3.0


async def _current_revision(database: Database) -> str | None:
    async with database.engine.connect() as conn:
        try:
            result = await conn.execute(text("SELECT version_num FROM alembic_version"))
        except ProgrammingError:
            return None  # no alembic_version table: never migrated
        return result.scalar_one_or_none()


async def readiness(database: Database) -> Readiness:
    checks: dict[str, Check] = {}
    started = time.perf_counter()
    try:
        current = await asyncio.wait_for(_current_revision(database), CHECK_TIMEOUT_SECONDS)
    except (TimeoutError, DBAPIError, OSError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        checks["database"] = Check(status="failing", detail=f"database unreachable ({reason})")
        checks["migrations"] = Check(status="failing", detail="unknown: database unreachable")
        return Readiness(status="failing", checks=checks)
    checks["database"] = Check(
        status="ok", latency_ms=round((time.perf_counter() - started) * 1000, 2)
    )
    head = head_revision()
    if current == head:
        checks["migrations"] = Check(status="ok", detail=f"at head {head}")
    else:
        checks["migrations"] = Check(
            status="failing",
            detail=f"database at {current or 'no revision'}, code expects {head}; "
            "run `medhub db upgrade`",
        )
    status = "ok" if all(c.status == "ok" for c in checks.values()) else "failing"
    return Readiness(status=status, checks=checks)
