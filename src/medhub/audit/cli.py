"""`medhub audit`: prove the activity log intact, seal what waits to join the chain, and
anchor the chain's tip outside the database."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medhub.audit.anchors import (
    AnchorError,
    AnchorKeys,
    AnchorReport,
    AnchorResult,
    anchor,
    read_lines,
    verify_anchors,
)
from medhub.audit.service import ChainReport, seal_pending, verify_chain
from medhub.config import ConfigurationError, Settings, get_settings
from medhub.kit.db import Database
from medhub.kit.logging import configure_logging
from medhub.kit.signing_keys import key_id, private_key_text, public_key_text
from medhub.ops.provision import prepare_database

audit_app = typer.Typer(no_args_is_help=True)

INTACT = 0
BROKEN = 1
UNCHECKED = 2


async def _verify(
    settings: Settings,
    url: str,
    anchor_lines: Sequence[tuple[str, str]] = (),
    keys: AnchorKeys | None = None,
) -> tuple[ChainReport, AnchorReport | None]:
    database = Database(settings, url)
    try:
        async with database.session() as session:
            report = await verify_chain(session)
            if keys is None:
                return report, None
            # The same session, so the same snapshot as the chain just verified.
            return report, await verify_anchors(session, keys, anchor_lines)
    finally:
        await database.dispose()


def _age(age: timedelta) -> str:
    seconds = max(age.total_seconds(), 0.0)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _unsealed(report: ChainReport) -> str:
    if report.unsealed == 0 or report.oldest_unsealed_age is None:
        return f"{report.unsealed} unsealed"
    return f"{report.unsealed} unsealed (oldest {_age(report.oldest_unsealed_age)} old)"


def describe(report: ChainReport) -> str:
    if report.ok:
        return f"audit chain intact: {report.rows_checked} rows; {_unsealed(report)}"
    row = str(report.first_bad_id) if report.first_bad_id else "missing"
    where = f"chain_seq {report.first_bad_seq}" if report.first_bad_seq is not None else "a row"
    return f"audit chain BROKEN at {where} (row {row}): {report.problem}"


def describe_anchors(report: AnchorReport) -> str:
    if report.ok:
        last = report.last
        where = f"; the last at chain_seq {last.chain_seq} ({last.created_at})" if last else ""
        return f"audit anchors intact: {report.checked} checkpoints{where}"
    if report.bad_seq is None:
        return f"audit anchors BROKEN at checkpoint {report.bad_source}: {report.problem}"
    return (
        f"audit anchors BROKEN at checkpoint {report.bad_source} (chain_seq {report.bad_seq},"
        f" row {report.bad_row_id}): {report.problem}; rewritten after chain_seq"
        f" {report.matched_below or 0} (the last checkpoint below that still matches)"
    )


def _fail(message: str) -> int:
    typer.secho(f"medhub: {message}", fg=typer.colors.RED, err=True)
    return UNCHECKED


def _anchor_lines(location: Path) -> list[tuple[str, str]] | str:
    """The checkpoint lines at `location`, or why there are none to check against."""
    if not location.exists():
        return f"no anchors at {location}: nothing to check the chain against"
    lines = read_lines(location)
    if not lines:
        return (
            f"no checkpoints in {location} (anchors-*.jsonl): nothing to check the chain "
            "against; `medhub audit anchor` writes one"
        )
    return lines


def run_verify(settings: Settings, anchors: Path | None = None) -> int:
    """Check the chain of the configured database (and, given `anchors`, against the
    signed checkpoints there) and print the verdict; the exit code."""
    keys: AnchorKeys | None = None
    lines: list[tuple[str, str]] = []
    if anchors is not None:
        found = _anchor_lines(anchors)
        if isinstance(found, str):
            return _fail(found)
        lines = found
        try:
            keys = AnchorKeys.from_settings(settings)
        except ConfigurationError as exc:
            return _fail(str(exc))
    try:
        target = prepare_database(settings)
    except ConfigurationError as exc:
        return _fail(str(exc))
    report, anchored = asyncio.run(_verify(settings, target.app_url, lines, keys))
    if report.ok:
        typer.echo(describe(report))
    else:
        typer.secho(describe(report), fg=typer.colors.RED)
    if anchored is not None:
        if anchored.ok:
            typer.echo(describe_anchors(anchored))
        else:
            typer.secho(describe_anchors(anchored), fg=typer.colors.RED)
    intact = report.ok and (anchored is None or anchored.ok)
    return INTACT if intact else BROKEN


async def _seal(settings: Settings, url: str) -> int:
    database = Database(settings, url)
    try:
        return await seal_pending(database)
    finally:
        await database.dispose()


def run_seal(settings: Settings) -> int:
    """Seal every row of a finished transaction into the chain now; the exit code."""
    try:
        target = prepare_database(settings)
    except ConfigurationError as exc:
        typer.secho(f"medhub: {exc}", fg=typer.colors.RED, err=True)
        return UNCHECKED
    sealed = asyncio.run(_seal(settings, target.app_url))
    typer.echo(f"audit rows sealed: {sealed}")
    return INTACT


async def _anchor(settings: Settings, url: str, keys: AnchorKeys, stdout: bool) -> AnchorResult:
    database = Database(settings, url)
    try:
        await seal_pending(database)
        return await anchor(database, settings, keys=keys, stdout=stdout)
    finally:
        await database.dispose()


def run_anchor(settings: Settings, *, stdout: bool = False) -> int:
    """Seal, then sign the chain tip and append the checkpoint; the exit code.

    With `stdout` (or AUDIT_ANCHOR_DIR `-`) the line goes to stdout and the messages
    to stderr.
    """
    try:
        keys = AnchorKeys.from_settings(settings)
        target = prepare_database(settings)
    except ConfigurationError as exc:
        return _fail(str(exc))
    to_stdout = stdout or settings.audit_anchor_dir is None
    try:
        result = asyncio.run(_anchor(settings, target.app_url, keys, to_stdout))
    except AnchorError as exc:
        typer.secho(f"audit anchor REFUSED: {exc}", fg=typer.colors.RED, err=True)
        return BROKEN
    tip = result.tip
    if tip is None:
        typer.echo("audit chain empty: nothing sealed, no checkpoint written", err=to_stdout)
    elif not result.written:
        typer.echo(
            f"audit checkpoint unchanged: the tip is still chain_seq {tip.chain_seq}"
            f" ({result.destination})",
            err=to_stdout,
        )
    else:
        where = "stdout" if result.destination is None else str(result.destination)
        typer.echo(
            f"audit checkpoint written: chain_seq {tip.chain_seq} ({tip.tip_hash[:16]}…)"
            f" to {where}",
            err=to_stdout,
        )
    return INTACT


@audit_app.callback()
def audit() -> None:
    """The audit trail: verify its hash chain, seal appended rows into it, anchor its tip."""


@audit_app.command("verify")
def verify(
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="A directory of signed checkpoints (anchors-*.jsonl), or one such file: "
            "fail if the chain no longer reaches any checkpoint's hash at its position.",
        ),
    ] = None,
) -> None:
    """Recompute every sealed row's hash and link; exit 1 naming the first bad row.

    Rows not sealed yet are counted (with the oldest one's age), not judged. With
    --anchors, also exit 1 naming the first checkpoint that is forged or that the chain
    no longer matches (a rewrite re-chained by someone with database access).
    """
    raise typer.Exit(code=run_verify(_settings(), anchors))


@audit_app.command("anchor")
def anchor_command(
    stdout: Annotated[
        bool,
        typer.Option("--stdout", help="Print the checkpoint line instead of appending it."),
    ] = False,
) -> None:
    """Seal, then sign the chain tip with AUDIT_ANCHOR_SIGNING_KEY and append the
    checkpoint to AUDIT_ANCHOR_DIR; nothing is written when the tip has not moved."""
    raise typer.Exit(code=run_anchor(_settings(), stdout=stdout))


@audit_app.command("generate-anchor-key")
def generate_anchor_key() -> None:
    """Print a new AUDIT_ANCHOR_SIGNING_KEY (Ed25519); nothing is changed."""
    key = Ed25519PrivateKey.generate()
    public_key = key.public_key()
    typer.echo(private_key_text(key))
    typer.echo(
        f"Public key: {public_key_text(public_key)}\n"
        f"Key id (kid): {key_id(public_key)}\n"
        "Set AUDIT_ANCHOR_SIGNING_KEY to it, keep it out of the database's reach, and add "
        "the public key of the key it replaces to AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS so "
        "the checkpoints it signed still verify.",
        err=True,
    )


@audit_app.command("seal")
def seal() -> None:
    """Seal appended rows into the chain now, instead of at the worker's next minute."""
    raise typer.Exit(code=run_seal(_settings()))


def _settings() -> Settings:
    try:
        settings = get_settings()
    except (ConfigurationError, ValueError) as exc:
        typer.secho(f"medhub: invalid configuration:\n{exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=UNCHECKED) from exc
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)
    return settings
