"""Checkpoints of the audit chain signed outside the database: `medhub audit anchor`, the
periodic anchorer, and `medhub audit verify --anchors` against a superuser's rewrite."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from typer.testing import CliRunner

from medhub.audit import service as audit
from medhub.audit.anchors import AnchorKeys
from medhub.audit.cli import BROKEN, INTACT, UNCHECKED, audit_app, run_anchor, run_verify
from medhub.audit.tasks import anchor_activity_logs
from medhub.config import Settings, get_settings
from medhub.kit.db import Database
from medhub.kit.jobs import JobRuntime, defer, run_worker
from medhub.kit.signing_keys import key_id, private_key_text, public_key_text
from tests.audit.conftest import Tamper
from tests.audit.test_sealing import append
from tests.conftest import DatabaseUrls

AdminSql = Callable[..., list[tuple[Any, ...]]]

ANCHOR_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # run_verify and run_anchor export the resolved database URLs, as `medhub serve`
    # does; setting first makes monkeypatch remember (and restore) them.
    for name in ("DATABASE_URL", "DATABASE_ADMIN_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture
def anchors_dir(tmp_path: Path) -> Path:
    return tmp_path / "anchors"


@pytest.fixture
def anchor_settings(make_settings: Callable[..., Settings], anchors_dir: Path) -> Settings:
    return make_settings(
        AUDIT_ANCHOR_SIGNING_KEY=private_key_text(ANCHOR_KEY), AUDIT_ANCHOR_DIR=str(anchors_dir)
    )


async def commit_rows(database: Database, *actions: str) -> None:
    for action in actions:
        async with database.unit_of_work() as session:
            audit.record(session, action, metadata={"note": action})


def checkpoint_lines(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(directory.glob("anchors-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def anchor_file(directory: Path) -> Path:
    [path] = sorted(directory.glob("anchors-*.jsonl"))
    return path


def rewrite_and_rechain(tamper: Tamper, chain_seq: int) -> None:
    """What a superuser can do: change a sealed row, then recompute every hash and link
    after it and the tip, so that the chain is consistent again."""
    tamper(
        f"""
        DO $$
        DECLARE
            r activity_logs%ROWTYPE;
            previous text := '';
        BEGIN
            UPDATE activity_logs SET metadata = '{{"note": "rewritten"}}'
             WHERE chain_seq = {int(chain_seq)};
            FOR r IN SELECT * FROM activity_logs WHERE chain_seq IS NOT NULL ORDER BY chain_seq
            LOOP
                r.prev_hash := previous;
                r.row_hash := activity_log_digest(r);
                UPDATE activity_logs SET prev_hash = r.prev_hash, row_hash = r.row_hash
                 WHERE id = r.id;
                previous := r.row_hash;
            END LOOP;
            UPDATE activity_log_chain SET last_hash = previous WHERE id;
        END $$
        """
    )


async def anchored(settings: Settings, capsys: pytest.CaptureFixture[str]) -> str:
    assert await asyncio.to_thread(run_anchor, settings) == INTACT
    return capsys.readouterr().out.strip()


async def verified(
    settings: Settings, anchors: Path | None, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    code = await asyncio.to_thread(run_verify, settings, anchors)
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip()


async def test_an_anchored_chain_verifies_against_its_checkpoint(
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await commit_rows(database, "one", "two", "three")
    assert (await anchored(anchor_settings, capsys)).startswith(
        "audit checkpoint written: chain_seq 3 ("
    )
    [line] = checkpoint_lines(anchors_dir)
    assert line["chain_seq"] == 3
    assert line["kid"] == key_id(ANCHOR_KEY.public_key())
    assert anchor_file(anchors_dir).name.startswith("anchors-20")
    code, output = await verified(anchor_settings, anchors_dir, capsys)
    assert code == INTACT, output
    assert output.splitlines() == [
        "audit chain intact: 3 rows; 0 unsealed",
        f"audit anchors intact: 1 checkpoints; the last at chain_seq 3 ({line['created_at']})",
    ]


async def test_a_rewrite_re_chained_by_a_superuser_fails_at_the_checkpoint_after_it(
    *,
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    admin_sql: AdminSql,
    tamper: Tamper,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await commit_rows(database, "one", "two", "three")
    await anchored(anchor_settings, capsys)
    await commit_rows(database, "four", "five")
    await anchored(anchor_settings, capsys)
    assert [line["chain_seq"] for line in checkpoint_lines(anchors_dir)] == [3, 5]
    [(last_row,)] = admin_sql("SELECT id FROM activity_logs WHERE chain_seq = 5")

    rewrite_and_rechain(tamper, 4)

    assert admin_sql("SELECT metadata->>'note' FROM activity_logs WHERE chain_seq = 4") == [
        ("rewritten",)
    ]
    # The chain alone cannot tell: every hash and link was recomputed.
    code, output = await verified(anchor_settings, None, capsys)
    assert (code, output) == (INTACT, "audit chain intact: 5 rows; 0 unsealed")
    code, output = await verified(anchor_settings, anchors_dir, capsys)
    assert code == BROKEN
    chain_verdict, anchor_verdict = output.splitlines()
    assert chain_verdict == "audit chain intact: 5 rows; 0 unsealed"
    assert anchor_verdict.startswith(
        f"audit anchors BROKEN at checkpoint {anchor_file(anchors_dir).name}:2"
        f" (chain_seq 5, row {last_row}): the chain reaches hash "
    )
    assert anchor_verdict.endswith(
        "a row at or before it was rewritten; rewritten after chain_seq 3"
        " (the last checkpoint below that still matches)"
    )
    # Nor is the rewritten chain signed: anchoring refuses while it differs.
    assert await asyncio.to_thread(run_anchor, anchor_settings) == BROKEN
    assert "audit anchor REFUSED: the chain no longer has the last checkpoint's hash" in (
        capsys.readouterr().err
    )
    assert len(checkpoint_lines(anchors_dir)) == 2


async def test_a_rewrite_older_than_the_first_checkpoint_names_it(
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    tamper: Tamper,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await commit_rows(database, "one", "two", "three")
    await anchored(anchor_settings, capsys)
    rewrite_and_rechain(tamper, 1)
    code, output = await verified(anchor_settings, anchors_dir, capsys)
    assert code == BROKEN
    assert f"BROKEN at checkpoint {anchor_file(anchors_dir).name}:1 (chain_seq 3," in output
    assert output.endswith(
        "rewritten after chain_seq 0 (the last checkpoint below that still matches)"
    )


def forged(line: dict[str, Any], *, key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    fields = {name: line[name] for name in ("chain_seq", "row_id", "tip_hash", "created_at")}
    token = jwt.encode(
        {"typ": "medhub-audit-anchor", **fields},
        key,
        algorithm="EdDSA",
        headers={"kid": kid, "typ": None},
    )
    return {**fields, "kid": kid, "jws": token}


@pytest.mark.parametrize(
    ("forge", "problem"),
    [
        pytest.param(
            lambda line: forged(line, key=OTHER_KEY, kid=key_id(ANCHOR_KEY.public_key())),
            "signature does not verify",
            id="another-key-claiming-the-kid",
        ),
        pytest.param(
            lambda line: forged(line, key=OTHER_KEY, kid=key_id(OTHER_KEY.public_key())),
            "signed by a key that is not configured",
            id="unknown-key",
        ),
        pytest.param(
            lambda line: {**line, "tip_hash": "0" * 64},
            "the line differs from what its signature covers",
            id="edited-fields",
        ),
        pytest.param(
            lambda line: {**line, "jws": line["jws"][:-4] + "AAAA"},
            "signature does not verify",
            id="damaged-signature",
        ),
    ],
)
async def test_a_forged_checkpoint_fails_verification(
    *,
    forge: Callable[[dict[str, Any]], dict[str, Any]],
    problem: str,
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await commit_rows(database, "one", "two")
    await anchored(anchor_settings, capsys)
    path = anchor_file(anchors_dir)
    [line] = checkpoint_lines(anchors_dir)
    with path.open("a") as handle:
        handle.write(json.dumps(forge(line)) + "\n")
    code, output = await verified(anchor_settings, anchors_dir, capsys)
    assert code == BROKEN
    assert output.splitlines()[-1] == (
        f"audit anchors BROKEN at checkpoint {path.name}:2: {problem}"
        + (" (kid " + key_id(OTHER_KEY.public_key()) + ")" if "configured" in problem else "")
    )


async def test_a_checkpoint_of_a_previous_key_still_verifies(
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await commit_rows(database, "one")
    await anchored(anchor_settings, capsys)
    rotated = anchor_settings.model_copy(
        update={"AUDIT_ANCHOR_SIGNING_KEY": SecretStr(private_key_text(OTHER_KEY))}
    )
    code, output = await verified(rotated, anchors_dir, capsys)
    assert code == BROKEN
    assert "signed by a key that is not configured" in output
    rotated = rotated.model_copy(
        update={"AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS": [public_key_text(ANCHOR_KEY.public_key())]}
    )
    code, output = await verified(rotated, anchors_dir, capsys)
    assert code == INTACT, output


async def test_anchoring_an_unmoved_tip_writes_no_new_line(
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await commit_rows(database, "one", "two")
    await anchored(anchor_settings, capsys)
    assert await anchored(anchor_settings, capsys) == (
        f"audit checkpoint unchanged: the tip is still chain_seq 2 ({anchors_dir})"
    )
    assert [line["chain_seq"] for line in checkpoint_lines(anchors_dir)] == [2]
    # Rows of a transaction still open are not sealed, so not anchored either.
    async with database.engine.connect() as open_transaction:
        await append(open_transaction, "pending")
        assert "unchanged" in await anchored(anchor_settings, capsys)
        await open_transaction.commit()
    assert (await anchored(anchor_settings, capsys)).startswith(
        "audit checkpoint written: chain_seq 3 ("
    )
    assert [line["chain_seq"] for line in checkpoint_lines(anchors_dir)] == [2, 3]


async def test_an_empty_chain_writes_no_checkpoint(
    anchor_settings: Settings, anchors_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await anchored(anchor_settings, capsys) == (
        "audit chain empty: nothing sealed, no checkpoint written"
    )
    assert checkpoint_lines(anchors_dir) == []


async def test_the_checkpoint_can_go_to_stdout_and_verify_from_a_file(
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await commit_rows(database, "one", "two")
    assert await asyncio.to_thread(run_anchor, anchor_settings, stdout=True) == INTACT
    captured = capsys.readouterr()
    assert captured.err.startswith("audit checkpoint written: chain_seq 2 (")
    assert captured.err.strip().endswith("to stdout")
    assert not anchors_dir.exists(), "nothing is written to the directory"
    [line] = captured.out.splitlines()
    shipped = tmp_path / "shipped.jsonl"
    shipped.write_text(line + "\n")
    code, output = await verified(anchor_settings, shipped, capsys)
    assert code == INTACT, output
    assert "audit anchors intact: 1 checkpoints; the last at chain_seq 2" in output


async def test_missing_or_empty_anchors_are_a_clear_message(
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await commit_rows(database, "one")
    code, output = await verified(anchor_settings, anchors_dir, capsys)
    assert (code, output) == (
        UNCHECKED,
        f"medhub: no anchors at {anchors_dir}: nothing to check the chain against",
    )
    anchors_dir.mkdir()
    code, output = await verified(anchor_settings, anchors_dir, capsys)
    assert code == UNCHECKED
    assert output.startswith(f"medhub: no checkpoints in {anchors_dir} (anchors-*.jsonl)")


async def test_the_periodic_job_seals_then_anchors_on_its_minutes(
    database: Database,
    anchor_settings: Settings,
    anchors_dir: Path,
    admin_sql: AdminSql,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The worker also defers the periodic jobs of the current minute: an interval that
    # divides neither this minute nor the next keeps that run from anchoring.
    minute = int(time.time()) // 60
    interval = next(n for n in range(7, 60) if minute % n and (minute + 1) % n)
    settings = anchor_settings.model_copy(update={"AUDIT_ANCHOR_INTERVAL_MINUTES": interval})
    await commit_rows(database, "one", "two")
    due = minute // interval * interval * 60
    async with database.unit_of_work() as session:
        # A minute the interval does not divide: nothing to do.
        await defer(session, anchor_activity_logs, timestamp=due + 60)
    runtime = JobRuntime(settings=settings, database=database)
    await run_worker(runtime, queues=["maintenance"], wait=False, install_signal_handlers=False)
    assert not anchors_dir.exists()

    async with database.unit_of_work() as session:
        await defer(session, anchor_activity_logs, timestamp=due)
    await run_worker(runtime, queues=["maintenance"], wait=False, install_signal_handlers=False)
    [line] = checkpoint_lines(anchors_dir)
    assert line["chain_seq"] == 2
    assert admin_sql(
        "SELECT DISTINCT status FROM procrastinate_jobs WHERE task_name = %s",
        ["medhub.audit.anchor_activity_logs"],
    ) == [("succeeded",)]
    code, output = await verified(settings, anchors_dir, capsys)
    assert code == INTACT, output


def test_generate_anchor_key_prints_a_working_key() -> None:
    result = CliRunner().invoke(audit_app, ["generate-anchor-key"])
    assert result.exit_code == 0, result.output
    [key_text] = result.stdout.splitlines()
    settings = Settings(_env_file=None, AUDIT_ANCHOR_SIGNING_KEY=key_text)  # type: ignore[call-arg]
    keys = AnchorKeys.from_settings(settings)
    assert f"Key id (kid): {keys.key_id}" in result.stderr


async def test_the_commands_read_the_environment(
    database: Database,
    database_urls: DatabaseUrls,
    anchors_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    await commit_rows(database, "one", "two")
    for name, value in {
        "ENV": "test",
        "DATA_DIR": str(tmp_path / "cli"),
        "DATABASE_URL": database_urls.app,
        "DATABASE_ADMIN_URL": database_urls.admin,
        "AUDIT_ANCHOR_SIGNING_KEY": private_key_text(ANCHOR_KEY),
        "LOG_JSON": "true",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        anchoring = await asyncio.to_thread(CliRunner().invoke, audit_app, ["anchor"])
        verifying = await asyncio.to_thread(
            CliRunner().invoke, audit_app, ["verify", "--anchors", str(tmp_path / "cli")]
        )
    finally:
        get_settings.cache_clear()
    written = tmp_path / "cli" / "audit-anchors"
    assert anchoring.exit_code == INTACT, anchoring.output
    assert "audit checkpoint written: chain_seq 2 (" in anchoring.stdout
    assert verifying.exit_code == UNCHECKED, "the anchors are one level down"
    assert "no checkpoints in" in verifying.stderr
    verifying = await asyncio.to_thread(
        CliRunner().invoke, audit_app, ["verify", "--anchors", str(written)]
    )
    get_settings.cache_clear()
    assert verifying.exit_code == INTACT, verifying.output
    assert "audit anchors intact: 1 checkpoints; the last at chain_seq 2" in verifying.stdout
