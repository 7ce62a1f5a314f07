"""No free database connection within DATABASE_POOL_TIMEOUT: 503 with Retry-After."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from medhub.config import Settings
from medhub.kit.db import Database
from tests.factories import Factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(DATABASE_POOL_SIZE=1, DATABASE_POOL_TIMEOUT=0.2)


async def test_a_request_that_finds_no_connection_is_told_to_retry(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = await factory.user()
    async with database.engine.connect() as held:
        await held.execute(text("SELECT 1"))  # the pool's only connection, taken
        capsys.readouterr()
        busy = await client.get("/api/v1/users/me", headers=account.headers)
        logged = capsys.readouterr().err
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "db.pool_exhausted" in logged
    assert "Traceback" not in logged
    # Once the connection is back, the same request is served.
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200
