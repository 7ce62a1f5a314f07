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

from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.kit.tenancy import (
    begin_for_first_statement,
    confirm_context,
    transaction_driver_connection,
)

# Literal SQL, or a psycopg composition of literal fragments.
Query = LiteralString | sql.SQL | sql.Composed


async def _execute(
    session: AsyncSession, query: Query, params: Mapping[str, Any]
) -> AsyncCursor[dict[str, Any]]:
    """`query` run on the session's connection, in its transaction; the cursor holding
    its rows.

    When this is the transaction's first statement, the BEGIN, the tenant context (with
    its session recheck) and the statement go in one pipeline: one round trip, where
    sending them one by one took three.
    """
    begun: AsyncConnection[Any] | None = transaction_driver_connection(session)
    if begun is not None:
        cursor = begun.cursor(row_factory=dict_row)
        await cursor.execute(query, params)
        return cursor
    driver, context = await begin_for_first_statement(session)
    connection: AsyncConnection[Any] = driver
    context_cursor = connection.cursor() if context is not None else None
    cursor = connection.cursor(row_factory=dict_row)
    async with connection.pipeline():
        if context is not None and context_cursor is not None:
            await context_cursor.execute(context.sql, context.parameters())
        await cursor.execute(query, params)
    if context is not None and context_cursor is not None:
        row = await context_cursor.fetchone()
        await context_cursor.close()
        confirm_context(context, row[0] if row is not None else None)
    return cursor


async def fetch_all(
    session: AsyncSession, query: Query, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    cursor = await _execute(session, query, params)
    async with cursor:
        return await cursor.fetchall()


async def fetch_one(
    session: AsyncSession, query: Query, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    cursor = await _execute(session, query, params)
    async with cursor:
        return await cursor.fetchone()
