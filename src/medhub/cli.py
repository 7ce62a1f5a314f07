"""`medhub` command line: serve, db, version."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from medhub import __version__
from medhub.audit.cli import audit_app
from medhub.config import ConfigurationError, Settings, get_settings
from medhub.demo.cli import seed_app
from medhub.kit.db import Database
from medhub.kit.email import TemplateRenderer, build_message, sample_context
from medhub.kit.jobs import JobRuntime, run_worker
from medhub.kit.logging import configure_logging
from medhub.kit.metrics import multiprocess_directory, multiprocess_directory_configured
from medhub.ops import migrations
from medhub.ops.provision import (
    DatabaseTarget,
    prepare_database,
    resolve_target,
    upgrade_schema,
    wait_for_database,
)
from medhub.organizations.cli import tenants_app, users_app

app = typer.Typer(help="MedHub healthcare-platform backend", no_args_is_help=True)
db_app = typer.Typer(help="Database schema: upgrade, current, revision", no_args_is_help=True)
email_app = typer.Typer(help="Email templates", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(email_app, name="email")
app.add_typer(tenants_app, name="tenants")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(seed_app, name="seed")


def _fail(message: str, *, code: int = 1) -> None:
    typer.secho(f"medhub: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=code)


def parse_workers(value: str | int) -> int:
    """`--workers`: a number of API processes (at least 1), or `auto`: one per CPU."""
    text = str(value).strip()
    if text.lower() == "auto":
        return os.cpu_count() or 1
    try:
        count = int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither a number nor 'auto'") from None
    if count < 1:
        raise typer.BadParameter(f"{count} is not a number of processes (at least 1)")
    return count


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        _fail(str(exc))
        raise  # unreachable; _fail exits
    except ValueError as exc:  # pydantic validation of environment variables
        _fail(f"invalid configuration:\n{exc}")
        raise
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)
    return settings


def _admin_target(settings: Settings) -> DatabaseTarget:
    target = resolve_target(settings)
    wait_for_database(target.admin_url, settings.DATABASE_STARTUP_TIMEOUT)
    return target


def _stop_requested(signum: int, _frame: object) -> None:
    """Called after uvicorn has finished its graceful shutdown; nothing left to do."""


@app.command()
def version() -> None:
    """Print the MedHub version."""
    print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default: PORT)")] = None,
    workers: Annotated[
        int,
        typer.Option(
            parser=parse_workers,
            metavar="N|auto",
            help="API processes: a number, or auto for one per CPU core",
        ),
    ] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
    worker: Annotated[
        bool, typer.Option(help="Run a job worker in the API process (off when scaled out)")
    ] = True,
) -> None:
    """Serve the API. Without DATABASE_URL, starts (or joins) the embedded PostgreSQL first."""
    settings = _settings()
    if not worker:
        # Read by every API process uvicorn starts (workers, reload children).
        os.environ["RUN_WORKER"] = "false"
    if reload and workers > 1:
        _fail("--reload and --workers cannot be combined")
    if workers > 1 and not settings.REDIS_URL:
        # Each process would count requests on its own: N times every limit.
        _fail(
            f"--workers {workers} needs REDIS_URL: rate limits must be counted in one place "
            "for all the API processes (for example REDIS_URL=redis://127.0.0.1:6379/0), "
            "or serve with --workers 1",
            code=2,
        )
    try:
        prepare_database(settings)
    except ConfigurationError as exc:
        _fail(str(exc))
    # The resolved database URLs are in the environment now; reread them.
    get_settings.cache_clear()
    # uvicorn drains in-flight requests on SIGINT/SIGTERM and then re-raises the
    # signal to the handler it found. With these no-op handlers that re-raise is a
    # no-op too: the process falls through to a normal exit (code 0), which also
    # stops the embedded server through its exit hook.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stop_requested)
    # Several processes count into files of one directory, which every scrape reads
    # (kit/metrics.py); they inherit it through the environment. A directory set by
    # the operator is used (emptied) even for one process: prometheus_client already
    # chose its multiprocess mode from it.
    shared_metrics = workers > 1 or multiprocess_directory_configured() is not None
    # uvicorn runs the single process itself, or supervises reload/worker processes,
    # which inherit DATABASE_URL; it exits with code 3 if the application cannot start.
    with multiprocess_directory() if shared_metrics else contextlib.nullcontext():
        uvicorn.run(
            "medhub.app:create_app",
            factory=True,
            host=host or settings.HOST,
            port=port or settings.PORT,
            workers=workers,
            reload=reload,
            access_log=False,
            log_config=None,
            # MedHub resolves the client address itself (TRUSTED_PROXIES), per request.
            proxy_headers=False,
            timeout_graceful_shutdown=30,
            lifespan="on",
        )


@app.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=100, help="Jobs run at once (default: setting)")
    ] = None,
    queues: Annotated[
        str | None,
        typer.Option(help="Comma-separated queues to work (default: all): email,events,..."),
    ] = None,
) -> None:
    """Run a job worker until SIGINT/SIGTERM (running jobs finish first)."""
    settings = _settings()
    try:
        prepare_database(settings)
    except ConfigurationError as exc:
        _fail(str(exc))
    get_settings.cache_clear()
    settings = get_settings()
    selected = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    asyncio.run(_work(settings, concurrency or settings.WORKER_CONCURRENCY, selected))


async def _work(settings: Settings, concurrency: int, queues: list[str] | None) -> None:
    assert settings.DATABASE_URL is not None
    database = Database(settings, settings.DATABASE_URL)
    try:
        await run_worker(
            JobRuntime(settings=settings, database=database),
            queues=queues,
            concurrency=concurrency,
            install_signal_handlers=True,
        )
    finally:
        await database.dispose()


@email_app.command("preview")
def email_preview(
    template: Annotated[str, typer.Argument(help="Template name, e.g. welcome")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write an .eml file instead of printing")
    ] = None,
) -> None:
    """Render a template with its sample context (see templates/email/samples.json)."""
    settings = _settings()
    renderer = TemplateRenderer(settings)
    if template not in renderer.templates():
        _fail(f"unknown template {template!r}; known: {', '.join(renderer.templates())}")
    rendered = renderer.render(template, sample_context(template))
    message = build_message(sender=settings.FROM_EMAIL, to="preview@example.org", rendered=rendered)
    if output is not None:
        output.write_bytes(bytes(message))
        typer.echo(f"wrote {output}")
        return
    typer.echo(f"Subject: {rendered.subject}\n\n{rendered.text}")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Migrate the schema (idempotent) and grant the application role its privileges."""
    settings = _settings()
    try:
        target = _admin_target(settings)
        if revision == "head":
            upgrade_schema(target)
        else:
            migrations.upgrade(target.admin_url, revision)
        current = migrations.current_revision(target.admin_url)
    except ConfigurationError as exc:
        _fail(str(exc))
        return
    typer.echo(f"database at revision {current}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the code's head."""
    settings = _settings()
    try:
        target = _admin_target(settings)
        current = migrations.current_revision(target.admin_url)
    except ConfigurationError as exc:
        _fail(str(exc))
        return
    head = migrations.head_revision()
    state = "at head" if current == head else "behind head"
    typer.echo(f"current: {current or 'none'}  head: {head}  ({state})")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does")],
    autogenerate: Annotated[
        bool, typer.Option(help="Compare the models with the database to draft the migration")
    ] = False,
) -> None:
    """Create a new migration file under src/medhub/migrations/versions."""
    settings = _settings()
    url = None
    if autogenerate:
        try:
            url = _admin_target(settings).admin_url
        except ConfigurationError as exc:
            _fail(str(exc))
    migrations.new_revision(message, url=url, autogenerate=autogenerate)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside the server loop
        sys.exit(130)
