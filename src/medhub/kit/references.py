"""Human references (`ORD-2026-000123`): a prefix, the year, and a number from a
PostgreSQL sequence (migration 0005).

A sequence hands out each number once, whatever the concurrency, without the row
lock a counter table would hold until COMMIT; a rolled-back transaction leaves a
gap, never a duplicate. Numbers keep rising across years, so a reference is
never reused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class ReferenceKind(StrEnum):
    order = "ORD"
    inquiry = "INQ"
    invoice = "INV"


_SEQUENCES = {
    ReferenceKind.order: "order_number_seq",
    ReferenceKind.inquiry: "inquiry_number_seq",
    ReferenceKind.invoice: "invoice_number_seq",
}

DIGITS = 6


def format_reference(kind: ReferenceKind, year: int, number: int) -> str:
    return f"{kind.value}-{year:04d}-{number:0{DIGITS}d}"


async def next_reference(session: AsyncSession, kind: ReferenceKind) -> str:
    number = (await session.execute(text(f"SELECT nextval('{_SEQUENCES[kind]}')"))).scalar_one()
    return format_reference(kind, datetime.now(UTC).year, int(number))
