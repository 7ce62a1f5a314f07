"""Helpers for the audit tests: tampering as the database superuser, sealing, chain reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from medhub.audit.service import ChainReport, seal_pending, verify_chain
from medhub.kit.db import Database
from tests.conftest import DatabaseUrls

Tamper = Callable[..., None]
Verify = Callable[[], Awaitable[ChainReport]]
Seal = Callable[[], Awaitable[int]]


@pytest.fixture
def tamper(database_urls: DatabaseUrls) -> Tamper:
    """Run SQL as the superuser with triggers off: what an intruder with the keys could do."""

    def run(*statements: str, params: Any = None) -> None:
        with psycopg.connect(database_urls.admin, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            for statement in statements:
                conn.execute(statement, params)  # type: ignore[arg-type]

    return run


@pytest.fixture
def verify(database: Database) -> Verify:
    async def run() -> ChainReport:
        async with database.session() as session:
            return await verify_chain(session)

    return run


@pytest.fixture
def seal(database: Database) -> Seal:
    """What the periodic sealer does: chain every row of a finished transaction."""

    async def run() -> int:
        return await seal_pending(database)

    return run
