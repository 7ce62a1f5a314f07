"""PostgreSQL restarted under load: an embedded cluster of the test's own is stopped and
started again while clients keep writing through a real app.

While the database is away every answer is the 503 envelope (never a 500) and readiness
is false; within 10 s of the database returning the app serves again with nothing
restarted by hand; and every write that got a 2xx is in the database afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from medhub.ops.embedded_pg import EmbeddedPostgres, start_embedded
from medhub.ops.provision import (
    DatabaseTarget,
    app_url_for,
    database_url_with,
    ensure_app_role,
    ensure_database,
    upgrade_schema,
)
from tests.auth.helpers import MakeSettings, serve
from tests.conftest import APP_ROLE
from tests.factories import Factory
from tests.waiting import eventually

ADDRESSES = "/api/v1/users/addresses"
WRITERS = 4
RECOVERY_SECONDS = 10


@dataclass
class Cluster:
    pgdata: Path
    embedded: EmbeddedPostgres
    admin_url: str

    def stop(self) -> None:
        self.embedded.stop()

    def start(self) -> None:
        self.embedded = start_embedded(self.pgdata)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    pgdata = tmp_path / "pgdata"
    embedded = start_embedded(pgdata)
    admin = database_url_with(embedded.admin_url("postgres"), "medhub")
    ensure_database(admin, "medhub")
    ensure_app_role(admin, APP_ROLE)
    upgrade_schema(DatabaseTarget(app_url=app_url_for(admin, APP_ROLE), admin_url=admin))
    running = Cluster(pgdata, embedded, admin)
    try:
        yield running
    finally:
        running.embedded.stop()


@dataclass
class Load:
    """Writers adding addresses until told to stop; what each answer was."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    statuses: Counter[int] = field(default_factory=Counter)
    written: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    last_success: float = 0.0

    async def writer(self) -> None:
        while not self.stopping.is_set():
            street = f"{uuid.uuid4().hex} Restart Street"
            body = {
                "address_type": "shipping",
                "street_address": street,
                "city": "Springfield",
                "postal_code": "97403",
                "country": "US",
            }
            try:
                response = await self.client.post(ADDRESSES, json=body, headers=self.headers)
            except Exception as exc:  # an unhandled error of the app: a 500
                self.statuses[500] += 1
                self.unexpected.append(repr(exc)[:300])
                await asyncio.sleep(0.05)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code == 201:
                self.written.add(response.json()["data"]["id"])
                self.last_success = time.monotonic()
            elif response.status_code == 503:
                envelope: dict[str, Any] = response.json()
                if envelope["error"]["code"] != "SERVICE_UNAVAILABLE" or not response.headers.get(
                    "retry-after"
                ):
                    self.unexpected.append(response.text[:300])
                await asyncio.sleep(0.05)  # what a client told Retry-After would do, briefly
            else:
                self.unexpected.append(f"{response.status_code} {response.text[:300]}")


async def test_a_restart_under_load_is_503_then_recovers_and_loses_no_acknowledged_write(
    make_settings: MakeSettings, cluster: Cluster, tmp_path: Path
) -> None:
    settings = make_settings(
        DATABASE_URL=app_url_for(cluster.admin_url, APP_ROLE),
        DATABASE_ADMIN_URL=cluster.admin_url,
        DATA_DIR=tmp_path / "data",
        # Requests must not queue for the pool while the database is away.
        DATABASE_POOL_TIMEOUT=2.0,
    )
    async with serve(settings) as served:
        http = served.client
        account = await Factory(served.app, http).user()
        load = Load(http, account.headers)
        writers = [asyncio.create_task(load.writer()) for _ in range(WRITERS)]
        try:
            await eventually(lambda: len(load.written) >= 20, seconds=20)

            await asyncio.to_thread(cluster.stop)
            stopped_at_count = sum(load.statuses.values())
            await eventually(
                lambda: load.statuses[503] >= 5 or load.unexpected,
                seconds=20,
                message="no 503 while down",
            )
            assert load.unexpected == [], load.unexpected[:5]
            ready = await http.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["error"]["code"] == "SERVICE_UNAVAILABLE"

            await asyncio.to_thread(cluster.start)
            back_at = time.monotonic()
            await eventually(
                lambda: load.last_success > back_at,
                seconds=RECOVERY_SECONDS,
                message="writes did not succeed again within 10 s of the database returning",
            )
            recovered = load.last_success - back_at
            written_before = len(load.written)
            await eventually(lambda: len(load.written) >= written_before + 20, seconds=20)
            assert (await http.get("/health/ready")).status_code == 200
        finally:
            load.stopping.set()
            await asyncio.gather(*writers)

    assert load.unexpected == [], load.unexpected[:5]
    assert set(load.statuses) <= {201, 503}, load.statuses
    assert sum(load.statuses.values()) > stopped_at_count
    assert recovered < RECOVERY_SECONDS
    with psycopg.connect(cluster.admin_url) as conn:
        rows = conn.execute(
            "SELECT id::text FROM addresses WHERE user_id = %s", (account.id,)
        ).fetchall()
    stored = {row[0] for row in rows}
    assert load.written <= stored, f"acknowledged but missing: {sorted(load.written - stored)[:5]}"
    logging.getLogger(__name__).info(
        "recovered %.2f s after the database returned; answers %s", recovered, dict(load.statuses)
    )
