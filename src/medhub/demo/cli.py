"""`medhub seed demo`: fill a database with the MedPharm and clinical demos and print how
to log in.

Like `medhub users create`, the command takes its settings from `ctx.obj` when a
caller provides them (`CliRunner().invoke(seed_app, ["demo"], obj=settings)`), else
from the environment; without DATABASE_URL it starts the embedded server first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from medhub.config import ConfigurationError, Settings, get_settings
from medhub.demo.common import SeedReport
from medhub.demo.data import CARE_ORGANIZATIONS, CHARTS_PER_ORGANIZATION, STORY_CHARTS
from medhub.demo.service import seed_demo
from medhub.kit.db import Database
from medhub.kit.errors import AppError
from medhub.kit.logging import configure_logging
from medhub.kit.security import PasswordHasher
from medhub.ops.provision import prepare_database

seed_app = typer.Typer(help="Demo data", no_args_is_help=True)


@seed_app.callback()
def _seed() -> None:
    """Demo data."""


def _fail(message: str) -> NoReturn:
    typer.secho(f"medhub: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


def _settings(ctx: typer.Context) -> Settings:
    if isinstance(ctx.obj, Settings):
        return ctx.obj
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        _fail(str(exc))
    except ValueError as exc:  # pydantic validation of environment variables
        _fail(f"invalid configuration:\n{exc}")
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)
    return settings


# The charts the clinical demo's appointments and records are about, per organization:
# `--patients` can add made-up ones, not take these away.
MIN_CHARTS = max(
    sum(1 for chart in STORY_CHARTS if chart.organization == organization.key)
    for organization in CARE_ORGANIZATIONS
)


async def run_seed_demo(
    settings: Settings, console: Console, *, charts_per_organization: int = CHARTS_PER_ORGANIZATION
) -> SeedReport:
    target = await asyncio.to_thread(prepare_database, settings)
    database = Database(settings, target.app_url)
    hasher = PasswordHasher(
        memory_kib=settings.PASSWORD_HASH_MEMORY_KIB,
        iterations=settings.PASSWORD_HASH_ITERATIONS,
        parallelism=settings.PASSWORD_HASH_PARALLELISM,
        workers=settings.PASSWORD_HASH_WORKERS,
    )
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, console=console) as progress:
            tasks: dict[str, TaskID] = {}

            def advance(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done)

            return await seed_demo(
                database,
                settings,
                hasher,
                on_progress=advance,
                charts_per_organization=charts_per_organization,
            )
    finally:
        await database.dispose()
        hasher.executor.shutdown(wait=False)


def print_report(console: Console, report: SeedReport) -> None:
    console.print(f"Supplier: {report.supplier_name} ({report.supplier_slug})")
    logins = Table(title="Demo accounts (POST /api/v1/auth/login)")
    # The Where column wraps on a narrow terminal; an email or password never does.
    for column in ("Email", "Password", "Role"):
        logins.add_column(column, no_wrap=True)
    logins.add_column("Where")
    for credential in report.credentials:
        logins.add_row(credential.email, credential.password, credential.role, credential.where)
    console.print(logins)
    counts = Table(title="Demo data")
    counts.add_column("Rows", no_wrap=True)
    counts.add_column("Created", justify="right")
    counts.add_column("Already present", justify="right")
    for name, tally in report.tallies.items():
        counts.add_row(name, str(tally.created), str(tally.existing))
    console.print(counts)
    # Accounts are never overwritten: a password changed in the app stays changed.
    console.print("Existing accounts keep their passwords; emails go out through the worker.")


@seed_app.command("demo")
def demo(
    ctx: typer.Context,
    patients: int = typer.Option(
        CHARTS_PER_ORGANIZATION,
        "--patients",
        min=MIN_CHARTS,
        help="Patient charts per care organization (the demo's own, then made-up ones)",
    ),
) -> None:
    """Create the MedPharm demo: the supplier's staff, a distributor, a customer and a
    super admin, ~200 products with certifications, orders and inquiries; and the
    clinical demo: a hospital and a clinic with their admins and doctors (weekly hours
    in Europe/Berlin), an independent doctor awaiting approval, patient charts (some
    linked to patient accounts), appointments in every status, consultations and
    medical records. Prints the demo logins and their passwords. Safe to run again: it
    only adds what is missing."""
    settings = _settings(ctx)
    # Every order, inquiry and low-stock alert defers a job, each logged at INFO: some
    # hundreds of lines that would bury the progress bar and the credentials.
    logging.getLogger("procrastinate.jobs").setLevel(logging.WARNING)
    console = Console()
    try:
        report = asyncio.run(run_seed_demo(settings, console, charts_per_organization=patients))
    except AppError as exc:
        _fail(exc.message)
    except ConfigurationError as exc:
        _fail(str(exc))
    print_report(console, report)
