"""Human references (`ORD-2026-000123`): a prefix, the year, and a number from a
PostgreSQL sequence.

A sequence hands out each number once, whatever the concurrency, without the row
lock a counter table would hold until COMMIT; a rolled-back transaction leaves a
gap, never a duplicate. Numbers keep rising across years, so a reference is
never reused. Each domain declares its own series (orders, inquiries, invoices)
next to the code that numbers with it, and its sequence in a migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

DIGITS = 6


@dataclass(frozen=True)
class ReferenceSeries:
    prefix: str
    sequence: str


def format_reference(series: ReferenceSeries, year: int, number: int) -> str:
    return f"{series.prefix}-{year:04d}-{number:0{DIGITS}d}"


async def next_reference(session: AsyncSession, series: ReferenceSeries) -> str:
    number = (await session.execute(text(f"SELECT nextval('{series.sequence}')"))).scalar_one()
    return format_reference(series, datetime.now(UTC).year, int(number))
