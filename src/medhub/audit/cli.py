"""`medhub audit`: prove the activity log intact."""

from __future__ import annotations

import asyncio

import typer

from medhub.audit.service import ChainReport, verify_chain
from medhub.config import ConfigurationError, Settings, get_settings
from medhub.kit.db import Database
from medhub.kit.logging import configure_logging
from medhub.kit.provision import prepare_database

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


def describe(report: ChainReport) -> str:
    if report.ok:
        return f"audit chain intact: {report.rows_checked} rows"
    row = str(report.first_bad_id) if report.first_bad_id else "missing"
    return f"audit chain BROKEN at seq {report.first_bad_seq} (row {row}): {report.problem}"


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


@audit_app.callback()
def audit() -> None:
    """The audit trail: verify its hash chain."""


@audit_app.command("verify")
def verify() -> None:
    """Recompute every row's hash and link; exit 1 naming the first bad row."""
    try:
        settings = get_settings()
    except (ConfigurationError, ValueError) as exc:
        typer.secho(f"medhub: invalid configuration:\n{exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=UNCHECKED) from exc
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)
    raise typer.Exit(code=run_verify(settings))
