"""`medhub audit`: prove the activity log intact, and seal what waits to join the chain."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import typer

from medhub.audit.service import ChainReport, seal_pending, verify_chain
from medhub.config import ConfigurationError, Settings, get_settings
from medhub.kit.db import Database
from medhub.kit.logging import configure_logging
from medhub.ops.provision import prepare_database

audit_app = typer.Typer(no_args_is_help=True)

INTACT = 0
BROKEN = 1
UNCHECKED = 2


async def _verify(settings: Settings, url: str) -> ChainReport:
    database = Database(settings, url)
    try:
        async with database.session() as session:
            return await verify_chain(session)
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


def run_verify(settings: Settings) -> int:
    """Check the chain of the configured database and print the verdict; the exit code."""
    try:
        target = prepare_database(settings)
    except ConfigurationError as exc:
        typer.secho(f"medhub: {exc}", fg=typer.colors.RED, err=True)
        return UNCHECKED
    report = asyncio.run(_verify(settings, target.app_url))
    if report.ok:
        typer.echo(describe(report))
        return INTACT
    typer.secho(describe(report), fg=typer.colors.RED)
    return BROKEN


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


@audit_app.callback()
def audit() -> None:
    """The audit trail: verify its hash chain, seal appended rows into it."""


@audit_app.command("verify")
def verify() -> None:
    """Recompute every sealed row's hash and link; exit 1 naming the first bad row.

    Rows not sealed yet are counted (with the oldest one's age), not judged.
    """
    raise typer.Exit(code=run_verify(_settings()))


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
