"""`medhub` command line: serve, db, crypto, backup, restore, version."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tarfile
import time
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
import uvicorn
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from medhub import __version__
from medhub.audit.cli import audit_app
from medhub.authz.routes import ROUTES, render_matrix
from medhub.config import ConfigurationError, Settings, get_settings
from medhub.demo.cli import seed_app
from medhub.field_crypto import MAX_KEY_VERSION, generate_key_spec
from medhub.kit.db import Database
from medhub.kit.email import TemplateRenderer, build_message, sample_context
from medhub.kit.jobs import JobRuntime, run_worker
from medhub.kit.logging import configure_logging
from medhub.kit.metrics import multiprocess_directory, multiprocess_directory_configured
from medhub.kit.signing_keys import key_id, private_key_text, public_key_text
from medhub.ops import migrations
from medhub.ops.backup import (
    BackupFailed,
    BackupRefused,
    create_backup,
    default_archive_name,
    verify_backup,
)
from medhub.ops.crypto_rotate import (
    DEFAULT_BATCH_SIZE,
    NO_VERSION,
    ColumnReport,
    EncryptedColumn,
    RotationReport,
    rotate,
)
from medhub.ops.provision import (
    DatabaseTarget,
    prepare_database,
    resolve_target,
    upgrade_schema,
    wait_for_database,
)
from medhub.ops.restore import restore_backup
from medhub.organizations.cli import tenants_app, users_app
from medhub.prescriptions.tokens import generate_signing_key

app = typer.Typer(help="MedHub healthcare-platform backend", no_args_is_help=True)
db_app = typer.Typer(help="Database schema: upgrade, current, revision", no_args_is_help=True)
email_app = typer.Typer(help="Email templates", no_args_is_help=True)
crypto_app = typer.Typer(
    help="Encrypted columns: generate a key, re-encrypt under the newest", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(email_app, name="email")
app.add_typer(crypto_app, name="crypto")
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


@app.command("routes")
def routes_command(
    matrix: Annotated[
        bool, typer.Option("--matrix", help="Print routes by roles as a Markdown table")
    ] = False,
) -> None:
    """Print who may call each route (the access table of authz/routes.py)."""
    if matrix:
        print(render_matrix())
        return
    for access in ROUTES:
        roles = "public" if access.roles is None else ",".join(sorted(access.roles))
        print(f"{access.method:<7} {access.path}  {roles}  ({access.scope})")


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


# `medhub crypto rotate` exit codes.
ROTATED = 0
NOT_ROTATED = 1  # values left under keys the keyring lacks, or that do not decrypt
UNCHECKED = 2  # no database, bad keys, or the run stopped on an error


def _ctx_settings(ctx: typer.Context) -> Settings:
    """The settings a caller passed (`CliRunner().invoke(..., obj=settings)`), else the
    environment's."""
    return ctx.obj if isinstance(ctx.obj, Settings) else _settings()


@crypto_app.command("generate-key")
def crypto_generate_key(
    ctx: typer.Context,
    version: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_KEY_VERSION,
            help="Key version (default: one above the highest in FIELD_ENCRYPTION_KEYS)",
        ),
    ] = None,
) -> None:
    """Print a new FIELD_ENCRYPTION_KEYS entry (`version:base64key`); nothing is changed."""
    if version is None:
        settings = _ctx_settings(ctx)
        try:
            current = settings.field_keyring().current_version
        except ConfigurationError as exc:
            _fail(f"{exc} (or give --version N)")
            return
        if current >= MAX_KEY_VERSION:
            _fail(f"key version {current} is the last one; give --version N of a retired version")
        version = current + 1
    typer.echo(generate_key_spec(version))
    typer.echo(
        f'Put it first in FIELD_ENCRYPTION_KEYS ("{version}:...,<the entries there now>"),'
        " restart every process, then run `medhub crypto rotate`.",
        err=True,
    )


@crypto_app.command("generate-prescription-key")
def crypto_generate_prescription_key() -> None:
    """Print a new PRESCRIPTION_SIGNING_KEY (Ed25519); nothing is changed."""
    key = generate_signing_key()
    public_key = key.public_key()
    typer.echo(private_key_text(key))
    typer.echo(
        f"Public key: {public_key_text(public_key)}\n"
        f"Key id (kid): {key_id(public_key)}\n"
        "Set PRESCRIPTION_SIGNING_KEY to it. Add the public key of the key it replaces (the "
        "`x` of the first key at /.well-known/prescription-keys) to "
        "PRESCRIPTION_PREVIOUS_PUBLIC_KEYS, so QR codes already issued still verify, and "
        "restart every process; remove that entry once those codes have expired.",
        err=True,
    )


class _RotationBars:
    """A progress bar per column that has values to re-encrypt: how many of them are done
    (re-encrypted, or left because they changed meanwhile or no key opens them)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def column_started(self, target: EncryptedColumn, pending: int) -> None:
        if pending:
            self.tasks[target.label] = self.progress.add_task(target.label, total=pending)

    def advanced(self, target: EncryptedColumn, rows: int) -> None:
        if target.label in self.tasks:
            self.progress.advance(self.tasks[target.label], rows)


async def _rotate(
    settings: Settings, url: str, *, batch_size: int, dry_run: bool
) -> RotationReport:
    database = Database(settings, url)  # installs the settings' keys
    try:
        if dry_run:
            return await rotate(database, batch_size=batch_size, dry_run=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(),
        ) as progress:
            return await rotate(database, batch_size=batch_size, progress=_RotationBars(progress))
    finally:
        await database.dispose()


def _values(count: int) -> str:
    return f"{count} value{'' if count == 1 else 's'}"


def _by_version(counts: dict[int, int]) -> str:
    return ", ".join(
        f"{_values(n)} {'empty' if v == NO_VERSION else f'under key version {v}'}"
        for v, n in sorted(counts.items())
    )


def _column_problems(report: RotationReport, column: ColumnReport) -> list[str]:
    label = column.target.label
    problems = [
        f"{label}: {_values(n)} "
        + (
            f"{'is' if n == 1 else 'are'} empty (sealed under no key)"
            if v == NO_VERSION
            else f"sealed under key version {v}, which FIELD_ENCRYPTION_KEYS does not hold"
            " (add that key back, then rotate again)"
        )
        for v, n in sorted(column.unknown_versions.items())
    ]
    if column.undecryptable:
        problems.append(
            f"{label}: {_values(column.undecryptable)}"
            f" {'does' if column.undecryptable == 1 else 'do'} not decrypt under their key version"
        )
    if column.after is not None:
        # Known versions left after the pass: written meanwhile by a process that still
        # encrypts under an older key (not restarted with the new one).
        left = {v: n for v, n in column.after.items() if v in report.known_versions}
        left_unexplained = sum(left.values()) - column.undecryptable
        if left_unexplained > 0:
            problems.append(
                f"{label}: {_values(left_unexplained)} still under older keys (written meanwhile"
                " by a process without the new key?): restart every process, then run again"
            )
    return problems


def describe_rotation(report: RotationReport) -> tuple[list[str], list[str]]:
    """What `medhub crypto rotate` prints: summary lines, and problems (for stderr)."""
    lines: list[str] = []
    problems: list[str] = []
    for column in report.columns:
        problems += _column_problems(report, column)
    version = report.current_version
    if report.dry_run:
        pending = [c for c in report.columns if c.pending]
        lines += [f"{c.target.label}: {_by_version(c.before)}" for c in pending]
        rotatable = report.pending - report.unreadable
        lines.append(
            f"dry run: {_values(rotatable)} in {len(pending)} of {len(report.columns)} columns"
            f" would be re-encrypted under key version {version}; nothing was changed"
        )
        return lines, problems
    changed = sum(1 for c in report.columns if c.rotated)
    summary = (
        f"re-encrypted {_values(report.rotated)} in {changed} of {len(report.columns)} columns"
        f" under key version {version}"
    )
    if report.changed_concurrently:
        summary += (
            f"; {_values(report.changed_concurrently)} changed by the application meanwhile"
            " (left as written)"
        )
    lines.append(summary)
    if report.complete:
        retirable = report.retirable_versions()
        done = f"every encrypted value is under key version {version}"
        if retirable:
            names = ", ".join(str(v) for v in retirable)
            noun = "key version" if len(retirable) == 1 else "key versions"
            done += f"; {noun} {names} can be removed from FIELD_ENCRYPTION_KEYS"
        lines.append(done)
    return lines, problems


def run_rotate(settings: Settings, *, batch_size: int, dry_run: bool) -> int:
    """`medhub crypto rotate` against the configured database; its exit code."""
    try:
        target = prepare_database(settings)
        report = asyncio.run(
            _rotate(settings, target.app_url, batch_size=batch_size, dry_run=dry_run)
        )
    except ConfigurationError as exc:
        typer.secho(f"medhub: {exc}", fg=typer.colors.RED, err=True)
        return UNCHECKED
    except SQLAlchemyError as exc:
        typer.secho(
            f"medhub: the rotation stopped: {exc}\nThe batches committed so far stay"
            " re-encrypted; run the command again to go on from there.",
            fg=typer.colors.RED,
            err=True,
        )
        return UNCHECKED
    lines, problems = describe_rotation(report)
    for line in lines:
        typer.echo(line)
    for problem in problems:
        typer.secho(problem, fg=typer.colors.RED, err=True)
    if report.dry_run:
        return NOT_ROTATED if report.unreadable else ROTATED
    return ROTATED if report.complete else NOT_ROTATED


@crypto_app.command("rotate")
def crypto_rotate(
    ctx: typer.Context,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Values re-encrypted per transaction")
    ] = DEFAULT_BATCH_SIZE,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only count the values not under the newest key, by version (decrypts nothing)",
        ),
    ] = False,
) -> None:
    """Re-encrypt every encrypted column's values under the newest FIELD_ENCRYPTION_KEYS key.

    Runs beside the application in short batches; stop it and run it again at any time.

    Exits 1 if values are left that it could not re-encrypt (named per column).
    """
    raise typer.Exit(code=run_rotate(_ctx_settings(ctx), batch_size=batch_size, dry_run=dry_run))


# `medhub backup` and `medhub restore` exit codes.
BACKUP_DONE = 0
BACKUP_FAILED = 1  # an archive damaged or unreadable, a dump or restore that failed
BACKUP_REFUSED = 2  # nothing done: a missing archive, a non-empty target, no pg_dump


class _BackupCommands(TyperGroup):
    """`medhub backup [PATH]` writes an archive (the `create` command); `medhub backup
    verify PATH` checks one: a first argument that names no command is the PATH."""

    # Typed loosely: typer's Context and Command classes are not part of its public API.
    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        if args and args[0] not in self.commands:
            args = ["create", *args]
        return super().resolve_command(ctx, args)


backup_app = typer.Typer(
    cls=_BackupCommands,
    invoke_without_command=True,
)
app.add_typer(backup_app, name="backup")


class _StageBars:
    """A progress bar per stage of a backup or restore: bytes where the size is known, a
    pulsing bar for the database work pg_dump and pg_restore do out of sight."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def started(self, stage: str, total: int | None) -> None:
        for task in self.tasks.values():
            # A stage is over when the next starts; a pulsing one stops pulsing.
            self.progress.stop_task(task)
            if self.progress.tasks[task].total is not None:
                self.progress.update(task, completed=self.progress.tasks[task].total)
        self.tasks[stage] = self.progress.add_task(stage, total=total)

    def advanced(self, stage: str, amount: int) -> None:
        self.progress.advance(self.tasks[stage], amount)


class _BytesColumn(DownloadColumn):
    """Bytes done of the total, for the stages whose size is known."""

    def render(self, task: Task) -> Text:
        return super().render(task) if task.total is not None else Text("")


def _stage_progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        _BytesColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def run_backup(settings: Settings, destination: Path) -> int:
    """`medhub backup`: the archive of the configured database and storage; the exit code."""
    started = time.monotonic()
    try:
        target = _admin_target(settings)
        with _stage_progress() as progress:
            manifest = create_backup(settings, target, destination, _StageBars(progress))
    except (BackupRefused, ConfigurationError) as exc:
        typer.secho(f"medhub: {exc}", fg=typer.colors.RED, err=True)
        return BACKUP_REFUSED
    except (BackupFailed, OSError, psycopg.Error) as exc:
        typer.secho(f"medhub: the backup failed: {exc}", fg=typer.colors.RED, err=True)
        return BACKUP_FAILED
    rows = sum(manifest.tables.values())
    files = len(manifest.files) - 1
    typer.echo(
        f"wrote {destination} ({_size(destination.stat().st_size)}): {len(manifest.tables)}"
        f" tables, {rows} rows, {files} stored files; schema revision {manifest.alembic_revision};"
        f" {time.monotonic() - started:.1f} s"
    )
    return BACKUP_DONE


def _destination(path: Path | None) -> Path:
    if path is None:
        return Path.cwd() / default_archive_name()
    if path.is_dir():
        return path / default_archive_name()
    return path


@backup_app.callback()
def backup(ctx: typer.Context) -> None:
    """Back up the database and the stored files into one archive; verify an archive.

    `medhub backup [PATH]` writes the archive (default: ./medhub-backup-<time>.tar, or
    that name inside PATH when PATH is a directory); `medhub backup verify PATH` checks
    one. Exit code 2 when nothing was done (the path exists, no pg_dump of the server's
    version, storage on S3), 1 when the backup failed.
    """
    if ctx.invoked_subcommand is None:
        raise typer.Exit(code=run_backup(_ctx_settings(ctx), _destination(None)))


@backup_app.command("create")
def backup_create(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="Archive to write, or its directory")] = None,
) -> None:
    """Write an archive of the database and the stored files (`medhub backup [PATH]`)."""
    raise typer.Exit(code=run_backup(_ctx_settings(ctx), _destination(path)))


def run_verify_backup(path: Path) -> int:
    """`medhub backup verify`: every checksum and the dump's readability; the exit code."""
    try:
        with _stage_progress() as progress:
            problems = verify_backup(path, _StageBars(progress))
    except BackupRefused as exc:
        typer.secho(f"medhub: {exc}", fg=typer.colors.RED, err=True)
        return BACKUP_REFUSED
    except (BackupFailed, OSError, tarfile.TarError) as exc:
        typer.secho(f"medhub: {path}: {exc}", fg=typer.colors.RED, err=True)
        return BACKUP_FAILED
    if problems:
        for problem in problems:
            typer.secho(f"{path}: {problem}", fg=typer.colors.RED, err=True)
        return BACKUP_FAILED
    typer.echo(f"{path}: every checksum matches and pg_restore reads the dump")
    return BACKUP_DONE


@backup_app.command("verify")
def backup_verify(
    path: Annotated[Path, typer.Argument(help="The archive to check")],
) -> None:
    """Check every member's sha256 and size against the manifest, and that pg_restore reads
    the dump; exit 1 naming each mismatch."""
    raise typer.Exit(code=run_verify_backup(path))


def run_restore(settings: Settings, path: Path, *, force: bool) -> int:
    """`medhub restore`: the archive into the configured database and DATA_DIR; the exit
    code."""
    started = time.monotonic()
    try:
        # Not prepare_database: in embedded mode it would migrate the empty database.
        target = _admin_target(settings)
        with _stage_progress() as progress:
            report = restore_backup(
                settings, target, path, force=force, progress=_StageBars(progress)
            )
    except (BackupRefused, ConfigurationError) as exc:
        typer.secho(f"medhub: {exc}", fg=typer.colors.RED, err=True)
        return BACKUP_REFUSED
    except (BackupFailed, OSError, tarfile.TarError, psycopg.Error) as exc:
        typer.secho(f"medhub: the restore failed: {exc}", fg=typer.colors.RED, err=True)
        return BACKUP_FAILED
    manifest = report.manifest
    typer.echo(
        f"restored {path} (taken {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC):"
        f" {len(manifest.tables)} tables, {sum(manifest.tables.values())} rows,"
        f" {report.files} stored files; {time.monotonic() - started:.1f} s"
    )
    if report.replaced:
        typer.echo("replaced: " + "; ".join(report.replaced))
    head = migrations.head_revision()
    if manifest.alembic_revision != head:
        typer.echo(
            f"the schema is at revision {manifest.alembic_revision}, this code's head is {head}:"
            " run `medhub db upgrade` before serving"
        )
    return BACKUP_DONE


@app.command("restore")
def restore(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An archive written by `medhub backup`")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace a database or file storage that is not empty (stop the app)"
        ),
    ] = False,
) -> None:
    """Restore an archive into an empty database and DATA_DIR (see `medhub backup`).

    The archive is checked before anything changes. Exit code 2 when nothing was done (no
    archive, a target that is not empty without --force), 1 when the restore failed.
    """
    raise typer.Exit(code=run_restore(_ctx_settings(ctx), path, force=force))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside the server loop
        sys.exit(130)
