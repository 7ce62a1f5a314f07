"""Rows for hot read paths, below the ORM, on the session's own connection.

The ORM costs a good part of a millisecond of CPU per query on this machine kind
(building the statement, loading entities, tracking them in the session); a page
that only shows data needs none of it. These helpers run literal SQL on the
connection the session already holds (the same transaction, tenant context and
statement timeout) and return plain dictionaries. Use them where a measured read
path is hot; keep writes and everything else on the ORM. Queries are literal
strings with psycopg placeholders (`%(name)s`), or psycopg `sql` compositions of
such literals (a list's optional filters), never built from input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, LiteralString

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.kit.tenancy import transaction_driver_connection


async def _driver_connection(session: AsyncSession) -> AsyncConnection[Any]:
    begun: AsyncConnection[Any] | None = transaction_driver_connection(session)
    if begun is not None:
        return begun
    connection = await session.connection()  # begins the transaction (and its context)
    raw = await connection.get_raw_connection()
    driver: AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    return driver


async def fetch_all(
    session: AsyncSession, query: LiteralString | sql.SQL | sql.Composed, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    driver = await _driver_connection(session)
    async with driver.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()


async def fetch_one(
    session: AsyncSession, query: LiteralString | sql.SQL | sql.Composed, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    driver = await _driver_connection(session)
    async with driver.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchone()
