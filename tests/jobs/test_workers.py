"""Workers: several in one process, the one `medhub serve` runs, and `medhub worker`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from procrastinate.manager import JobManager

from medhub.config import Settings
from medhub.kit.db import Database
from medhub.kit.jobs import JobRuntime, run_worker
from tests.auth.helpers import serve
from tests.conftest import DatabaseUrls
from tests.mail.helpers import AdminSql, email_rows, queue_sample
from tests.mail.smtp import SmtpServer, smtp_overrides, smtp_server
from tests.waiting import eventually

__all__ = ["smtp_server"]

MakeSettings = Callable[..., Settings]


async def test_workers_in_one_process_outlive_each_other(
    app: FastAPI, database: Database, admin_sql: AdminSql
) -> None:
    """The first worker to stop must not close the pool the others still use."""
    for n in range(30):
        await queue_sample(database, f"many{n}@example.org")
    runtime = JobRuntime(settings=app.state.settings, database=database)
    quick = run_worker(
        runtime, queues=["nothing-here"], wait=False, install_signal_handlers=False, name="quick"
    )
    busy = run_worker(
        runtime, wait=False, install_signal_handlers=False, concurrency=2, name="busy"
    )
    results = await asyncio.wait_for(asyncio.gather(quick, busy, return_exceptions=True), 30)
    assert results == [None, None]
    assert {row.status for row in email_rows(admin_sql)} == {"sent"}
    assert len(email_rows(admin_sql)) == 30
    assert admin_sql("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'") == [(0,)]
    # And the pool is opened again for the next worker.
    await queue_sample(database, "after@example.org")
    await run_worker(runtime, wait=False, install_signal_handlers=False)
    assert {row.status for row in email_rows(admin_sql)} == {"sent"}


async def test_workers_in_one_process_share_one_database(
    app: FastAPI, database: Database, admin_sql: AdminSql
) -> None:
    settings: Settings = app.state.settings
    running = asyncio.create_task(
        run_worker(JobRuntime(settings=settings, database=database), install_signal_handlers=False)
    )
    try:
        await eventually(
            lambda: admin_sql("SELECT count(*) FROM procrastinate_workers") == [(1,)],
            seconds=10,
            message="the first worker did not start",
        )
        elsewhere = Database(settings, "postgresql://medhub_app@127.0.0.1:1/elsewhere")
        with pytest.raises(RuntimeError, match="must share one database"):
            await run_worker(
                JobRuntime(settings=settings, database=elsewhere),
                wait=False,
                install_signal_handlers=False,
            )
        await elsewhere.dispose()
        assert not running.done(), "the running worker is undisturbed"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert admin_sql("SELECT count(*) FROM procrastinate_workers") == [(0,)]


async def test_a_worker_cancelled_as_it_registers_still_unregisters(
    app: FastAPI, database: Database, admin_sql: AdminSql, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled once its registration is committed but before it has read its id back
    (a shutdown right at start-up, or a test that cancels as soon as it sees the row),
    the worker still stops gracefully and leaves the list of workers."""
    registered = asyncio.Event()
    resume = asyncio.Event()
    register = JobManager.register_worker

    async def register_then_pause(self: JobManager) -> int:
        worker_id = await register(self)
        registered.set()
        await resume.wait()
        return worker_id

    monkeypatch.setattr(JobManager, "register_worker", register_then_pause)
    running = asyncio.create_task(
        run_worker(
            JobRuntime(settings=app.state.settings, database=database),
            install_signal_handlers=False,
        )
    )
    await asyncio.wait_for(registered.wait(), 10)
    assert admin_sql("SELECT count(*) FROM procrastinate_workers") == [(1,)]
    running.cancel()
    resume.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 30)
    assert admin_sql("SELECT count(*) FROM procrastinate_workers") == [(0,)]


async def test_the_serve_worker_delivers_without_being_asked(
    make_settings: MakeSettings, smtp_server: SmtpServer, admin_sql: AdminSql
) -> None:
    settings = make_settings(**smtp_overrides(smtp_server), RUN_WORKER=True)
    async with serve(settings) as served:
        response = await served.client.post(
            "/api/v1/auth/register",
            json={
                "email": "quick@example.org",
                "password": "Correct-Horse-42!",
                "full_name": "Quick Reader",
                "role": "customer",
            },
        )
        assert response.status_code == 201, response.text
        await eventually(
            lambda: (
                smtp_server.to("quick@example.org", "verify_email")
                and smtp_server.to("quick@example.org", "welcome")
            ),
            seconds=10,
            message="the serve worker delivered nothing",
        )
        assert len(smtp_server.to("quick@example.org", "verify_email")) == 1
        assert len(smtp_server.to("quick@example.org", "welcome")) == 1
        assert admin_sql("SELECT count(*) FROM procrastinate_workers") == [(1,)]
    assert admin_sql("SELECT count(*) FROM procrastinate_workers") == [(0,)], "stopped cleanly"
    assert {row.status for row in email_rows(admin_sql)} == {"sent"}


def _worker_env(database_urls: DatabaseUrls, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "TEST_DATABASE", "JWT_", "ENV", "DATA_DIR", "EMAIL_"))
    }
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": database_urls.app,
            "DATABASE_ADMIN_URL": database_urls.admin,
            "EMAIL_BACKEND": "console",
            "LOG_LEVEL": "INFO",
            "LOG_JSON": "true",
        }
    )
    return env


async def test_medhub_worker_drains_the_queue_and_stops_on_sigterm(
    database: Database, database_urls: DatabaseUrls, admin_sql: AdminSql, tmp_path: Path
) -> None:
    email_id = await queue_sample(database, "cli@example.org")
    data_dir = tmp_path / "worker-data"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "medhub",
        "worker",
        "--concurrency",
        "2",
        env=_worker_env(database_urls, data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        outbox = data_dir / "outbox"

        def delivered() -> list[Path]:
            assert process.returncode is None, "the worker exited early"
            return list(outbox.glob("*.eml"))

        [eml] = await eventually(delivered, seconds=30, message="the worker wrote no email")
        assert b"To: cli@example.org" in eml.read_bytes()
        await eventually(
            lambda: [row.status for row in email_rows(admin_sql)] == ["sent"],
            message="the email was not marked sent",
        )
        assert [(row.id, row.status) for row in email_rows(admin_sql)] == [(email_id, "sent")]
        process.send_signal(signal.SIGTERM)
        stdout, _ = await asyncio.wait_for(process.communicate(), 30)
        output = stdout.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert admin_sql("SELECT count(*) FROM procrastinate_workers") == [(0,)]
