"""`medhub audit verify` and `seal`: verdicts and exit codes, against this test's database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from medhub.audit import service as audit
from medhub.audit.cli import BROKEN, INTACT, UNCHECKED, audit_app, run_seal, run_verify
from medhub.config import Settings, get_settings
from medhub.kit.db import Database
from tests.audit.conftest import Seal, Tamper
from tests.audit.test_audit_trail import register_login_logout
from tests.conftest import DatabaseUrls


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # run_verify exports the resolved database URLs, as `medhub serve` does; setting
    # first makes monkeypatch remember (and restore) a variable that was not there.
    for name in ("DATABASE_URL", "DATABASE_ADMIN_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


async def test_an_intact_chain_exits_0_with_the_row_count(
    client: httpx.AsyncClient,
    settings: Settings,
    admin_sql: Callable[..., list[tuple[Any, ...]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    await register_login_logout(client)
    [(count,)] = admin_sql("SELECT count(*) FROM activity_logs")
    assert count >= 3
    assert await asyncio.to_thread(run_seal, settings) == INTACT
    assert capsys.readouterr().out.strip() == f"audit rows sealed: {count}"
    assert await asyncio.to_thread(run_verify, settings) == INTACT
    assert capsys.readouterr().out.strip() == f"audit chain intact: {count} rows; 0 unsealed"


async def test_unsealed_rows_are_counted_with_the_oldest_ones_age(
    *,
    client: httpx.AsyncClient,
    settings: Settings,
    database: Database,
    seal: Seal,
    tamper: Tamper,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await register_login_logout(client)
    sealed = await seal()
    for n in range(2):
        async with database.unit_of_work() as session:
            audit.record(session, "waiting", metadata={"n": n})
    # Backdated (no hash covers an unsealed row yet), as if the sealer had been down.
    tamper(
        "UPDATE activity_logs SET created_at = now() - interval '90 minutes'"
        " WHERE chain_seq IS NULL AND metadata->>'n' = '0'"
    )
    assert await asyncio.to_thread(run_verify, settings) == INTACT
    assert capsys.readouterr().out.strip() == (
        f"audit chain intact: {sealed} rows; 2 unsealed (oldest 90 min old)"
    )


async def test_a_broken_chain_exits_1_naming_the_row(
    *,
    client: httpx.AsyncClient,
    settings: Settings,
    admin_sql: Callable[..., list[tuple[Any, ...]]],
    seal: Seal,
    tamper: Tamper,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await register_login_logout(client)
    await seal()
    [(row_id,)] = admin_sql("SELECT id FROM activity_logs WHERE chain_seq = 2")
    tamper("UPDATE activity_logs SET action = 'forged' WHERE chain_seq = 2")
    assert await asyncio.to_thread(run_verify, settings) == BROKEN
    assert capsys.readouterr().out.strip() == (
        f"audit chain BROKEN at chain_seq 2 (row {row_id}): content does not match its hash"
    )


async def test_a_truncated_tail_names_the_missing_row(
    *,
    client: httpx.AsyncClient,
    settings: Settings,
    admin_sql: Callable[..., list[tuple[Any, ...]]],
    seal: Seal,
    tamper: Tamper,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await register_login_logout(client)
    await seal()
    [(last,)] = admin_sql("SELECT max(chain_seq) FROM activity_logs")
    tamper("DELETE FROM activity_logs WHERE chain_seq = %s", params=[last])
    assert await asyncio.to_thread(run_verify, settings) == BROKEN
    assert capsys.readouterr().out.strip() == (
        f"audit chain BROKEN at chain_seq {last} (row missing):"
        f" chain tip is at chain_seq {last}: rows missing"
    )


def test_an_unreachable_database_exits_2(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", DATABASE_STARTUP_TIMEOUT=0.5
    )
    assert run_verify(settings) == UNCHECKED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot reach the database" in captured.err


async def test_the_verify_command_reads_the_environment(
    client: httpx.AsyncClient,
    database_urls: DatabaseUrls,
    admin_sql: Callable[..., list[tuple[Any, ...]]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    await register_login_logout(client)
    [(count,)] = admin_sql("SELECT count(*) FROM activity_logs")
    for name, value in {
        "ENV": "test",
        "DATA_DIR": str(tmp_path / "cli"),
        "DATABASE_URL": database_urls.app,
        "DATABASE_ADMIN_URL": database_urls.admin,
        "LOG_JSON": "true",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(CliRunner().invoke, audit_app, ["verify"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    # Nothing sealed yet (no worker runs in tests): every row waits, none is judged.
    assert f"audit chain intact: 0 rows; {count} unsealed (oldest " in result.output
