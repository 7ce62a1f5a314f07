"""Appending takes no shared lock; the sealer chains rows of finished transactions."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from medhub.audit import service as audit
from medhub.audit.tasks import seal_activity_logs
from medhub.kit.db import Database
from medhub.kit.jobs import JobRuntime, defer, run_worker
from tests.audit.conftest import Seal, Tamper, Verify
from tests.conftest import DatabaseUrls
from tests.waiting import eventually

AdminSql = Callable[..., list[tuple[Any, ...]]]


async def append(conn: AsyncConnection, action: str) -> None:
    """The INSERT `record()` issues at COMMIT, here inside a transaction the test holds."""
    await conn.execute(
        text("INSERT INTO activity_logs (id, action) VALUES (:id, :action)"),
        {"id": uuid.uuid4(), "action": action},
    )


async def commit_row(database: Database, action: str) -> None:
    async with database.unit_of_work() as session:
        audit.record(session, action)


def chain(admin_sql: AdminSql) -> list[tuple[int, str]]:
    """(chain_seq, action) of the sealed rows, in chain order."""
    rows = admin_sql(
        "SELECT chain_seq, action FROM activity_logs WHERE chain_seq IS NOT NULL ORDER BY 1"
    )
    return [(int(position), str(action)) for position, action in rows]


def unsealed(admin_sql: AdminSql) -> list[str]:
    rows = admin_sql("SELECT action FROM activity_logs WHERE chain_seq IS NULL ORDER BY seq")
    return [str(action) for (action,) in rows]


async def test_an_open_audited_transaction_does_not_hold_up_another(database: Database) -> None:
    async with database.engine.connect() as first:
        await append(first, "kept_open")

        async def second() -> None:
            async with database.unit_of_work() as session:
                # Waiting for any lock at all fails this at once, rather than hanging.
                await session.execute(text("SET LOCAL lock_timeout = '2s'"))
                audit.record(session, "committed_beside_it")

        started = time.monotonic()
        await asyncio.wait_for(second(), timeout=10)
        assert time.monotonic() - started < 2
        await first.commit()


async def test_rows_of_an_open_transaction_wait_and_are_sealed_after_it_commits(
    database: Database, admin_sql: AdminSql, seal: Seal, verify: Verify
) -> None:
    await commit_row(database, "before")
    async with database.engine.connect() as open_transaction:
        await append(open_transaction, "late")
        await commit_row(database, "after")
        assert await seal() == 2
        assert chain(admin_sql) == [(1, "before"), (2, "after")]
        # Only its own transaction sees the row yet: still unsealed.
        await open_transaction.execute(text("SELECT set_config('app.system', 'on', true)"))
        late = await open_transaction.execute(
            text("SELECT chain_seq, row_hash FROM activity_logs WHERE action = 'late'")
        )
        assert late.all() == [(None, None)]
        report = await verify()
        assert (report.ok, report.rows_checked, report.unsealed) == (True, 2, 0), report
        await open_transaction.commit()
    # Numbered before "after", chained after it: chain order is sealing order.
    assert admin_sql("SELECT action FROM activity_logs ORDER BY seq") == [
        ("before",),
        ("late",),
        ("after",),
    ]
    assert await seal() == 1
    assert chain(admin_sql) == [(1, "before"), (2, "after"), (3, "late")]
    report = await verify()
    assert (report.ok, report.rows_checked, report.unsealed) == (True, 3, 0), report


async def test_the_sealer_leaves_its_own_transactions_rows_alone(
    database: Database, admin_sql: AdminSql
) -> None:
    async with database.engine.connect() as conn:
        await append(conn, "mine")
        assert (await conn.execute(text("SELECT seal_activity_logs(100)"))).scalar_one() == 0
        await conn.commit()
    assert unsealed(admin_sql) == ["mine"]


async def test_own_rows_stay_unsealed_after_a_younger_transaction_committed(
    database: Database, admin_sql: AdminSql
) -> None:
    # A younger transaction's commit moves the snapshot's xmax past this one's xid, and a
    # snapshot never lists its own transaction as running: "visible in the snapshot" alone
    # would then take the sealer's own, uncommitted row.
    async with database.engine.connect() as conn:
        await append(conn, "mine")
        await commit_row(database, "younger")
        assert (await conn.execute(text("SELECT seal_activity_logs(100)"))).scalar_one() == 1
        await conn.commit()
    assert chain(admin_sql) == [(1, "younger")]
    assert unsealed(admin_sql) == ["mine"]


async def test_a_row_of_an_aborted_transaction_never_appears(
    database: Database, admin_sql: AdminSql, seal: Seal, verify: Verify
) -> None:
    async with database.engine.connect() as conn:
        await append(conn, "aborted")
        await conn.rollback()
    await commit_row(database, "committed")
    assert await seal() == 1
    assert await seal() == 0
    # The aborted insert used up seq 1; the chain itself has no gap.
    assert admin_sql("SELECT seq, chain_seq, action FROM activity_logs") == [(2, 1, "committed")]
    report = await verify()
    assert (report.ok, report.rows_checked, report.unsealed) == (True, 1, 0), report


async def test_verify_counts_unsealed_rows_with_the_oldest_ones_age(
    database: Database, seal: Seal, verify: Verify
) -> None:
    await commit_row(database, "sealed")
    await seal()
    for action in ("waiting", "waiting_too"):
        await commit_row(database, action)
    report = await verify()
    assert (report.ok, report.rows_checked, report.unsealed) == (True, 1, 2), report
    assert report.oldest_unsealed_age is not None
    assert report.oldest_unsealed_age.total_seconds() >= 0


async def test_an_inserted_row_cannot_claim_a_place_in_the_chain(
    database: Database, admin_sql: AdminSql, seal: Seal, verify: Verify
) -> None:
    async with database.engine.connect() as conn:
        await conn.execute(
            text(
                "INSERT INTO activity_logs (id, seq, chain_seq, action, prev_hash, row_hash)"
                " VALUES (:id, 42, 1, 'forged', '', repeat('0', 64))"
            ),
            {"id": uuid.uuid4()},
        )
        await conn.commit()
    assert admin_sql("SELECT seq, chain_seq, prev_hash, row_hash FROM activity_logs") == [
        (1, None, None, None)
    ]
    assert await seal() == 1
    assert (await verify()).ok


async def test_a_sealed_rows_tampered_content_is_named(
    database: Database, admin_sql: AdminSql, seal: Seal, tamper: Tamper, verify: Verify
) -> None:
    for action in ("first", "second", "third"):
        await commit_row(database, action)
    await seal()
    [(row_id,)] = admin_sql("SELECT id FROM activity_logs WHERE action = 'second'")
    tamper("UPDATE activity_logs SET user_agent = 'forged' WHERE id = %s", params=[row_id])
    report = await verify()
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_id) == (2, row_id)
    assert report.problem == "content does not match its hash"


async def test_hashes_on_a_row_outside_the_chain_are_named(
    database: Database, admin_sql: AdminSql, tamper: Tamper, verify: Verify
) -> None:
    await commit_row(database, "waiting")
    [(row_id,)] = admin_sql("SELECT id FROM activity_logs")
    tamper("UPDATE activity_logs SET row_hash = repeat('0', 64) WHERE id = %s", params=[row_id])
    report = await verify()
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_id) == (None, row_id)
    assert report.problem == "hashes on a row outside the chain"


@pytest.mark.parametrize(
    "statement",
    [
        # Sealing by hand, with a hash that is not the row's.
        "UPDATE activity_logs SET chain_seq = 1, prev_hash = '', row_hash = repeat('0', 64)",
        # Sealing by hand while changing the content.
        "UPDATE activity_logs a SET action = 'forged', chain_seq = 1, prev_hash = '',"
        " row_hash = activity_log_digest(a)",
    ],
)
async def test_the_trigger_lets_through_only_a_true_seal(
    database: Database, database_urls: DatabaseUrls, admin_sql: AdminSql, statement: str
) -> None:
    await commit_row(database, "waiting")
    before = admin_sql("SELECT * FROM activity_logs")
    # As the schema owner, claiming to be the sealer: still only what sealing may do.
    with psycopg.connect(database_urls.admin, autocommit=True) as conn:
        conn.execute("SELECT set_config('medhub.sealing', 'on', false)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only: UPDATE"):
            conn.execute(statement)
    assert admin_sql("SELECT * FROM activity_logs") == before


async def test_a_sealed_row_cannot_be_sealed_again(
    database: Database, database_urls: DatabaseUrls, admin_sql: AdminSql, seal: Seal
) -> None:
    await commit_row(database, "sealed")
    await seal()
    with psycopg.connect(database_urls.admin, autocommit=True) as conn:
        conn.execute("SELECT set_config('medhub.sealing', 'on', false)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only: UPDATE"):
            conn.execute("UPDATE activity_logs SET chain_seq = 7")


async def test_two_sealers_at_once_make_one_chain(
    database: Database, admin_sql: AdminSql, seal: Seal, verify: Verify
) -> None:
    rows = 60
    for n in range(rows):
        await commit_row(database, f"row_{n}")
    async with database.unit_of_work() as first:
        assert await audit.seal_batch(first, batch=10) == 10
        # The first sealer holds the tip until it commits; the second waits for it.
        second = asyncio.create_task(audit.seal_pending(database, batch=7))
        await eventually(
            lambda: (
                admin_sql(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                == [(1,)]
            ),
            message="the second sealer is not waiting for the tip",
        )
    assert await second == rows - 10
    assert await seal() == 0
    assert [position for position, _ in chain(admin_sql)] == list(range(1, rows + 1))
    report = await verify()
    assert (report.ok, report.rows_checked, report.unsealed) == (True, rows, 0), report


async def test_concurrent_sealers_racing_in_small_batches_agree(
    database: Database, admin_sql: AdminSql, verify: Verify
) -> None:
    rows = 40
    for n in range(rows):
        await commit_row(database, f"row_{n}")
    counts = await asyncio.gather(*(audit.seal_pending(database, batch=3) for _ in range(3)))
    assert sum(counts) == rows
    assert [position for position, _ in chain(admin_sql)] == list(range(1, rows + 1))
    report = await verify()
    assert (report.ok, report.rows_checked) == (True, rows), report


async def test_the_periodic_job_seals_the_log(
    app: FastAPI, database: Database, admin_sql: AdminSql, verify: Verify
) -> None:
    for action in ("one", "two"):
        await commit_row(database, action)
    async with database.unit_of_work() as session:
        await defer(session, seal_activity_logs, timestamp=int(time.time()))
    runtime = JobRuntime(settings=app.state.settings, database=database)
    await run_worker(runtime, queues=["maintenance"], wait=False, install_signal_handlers=False)
    assert chain(admin_sql) == [(1, "one"), (2, "two")]
    # The worker's own periodic deferrer may queue the next period's run just as the
    # queue empties (left `todo`, never run): only runs that started count.
    assert admin_sql(
        "SELECT DISTINCT status FROM procrastinate_jobs WHERE task_name = %s AND status <> 'todo'",
        ["medhub.audit.seal_activity_logs"],
    ) == [("succeeded",)]
    assert (await verify()).ok
