"""`medhub tenants create` and `medhub users create`: provisioning from the command line.

The commands run the same services as the API, in one unit of work as the system
(there is no logged-in user). `run_create_tenant` / `run_create_user` take the
settings, so tests and other tools call them directly; the typer commands take
theirs from `ctx.obj` when a caller provides one (`CliRunner().invoke(..., obj=settings)`),
else from the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, NoReturn

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.auth.runtime import build_runtime
from medhub.config import ConfigurationError, Settings, get_settings
from medhub.kit.db import Database
from medhub.kit.errors import AppError
from medhub.kit.logging import configure_logging
from medhub.kit.security import PasswordHasher
from medhub.kit.tenancy import set_system_context
from medhub.models.identity import Organization, User
from medhub.ops.provision import prepare_database
from medhub.organizations import members, tenants

tenants_app = typer.Typer(help="Organizations (tenants)", no_args_is_help=True)
users_app = typer.Typer(help="User accounts", no_args_is_help=True)


@tenants_app.callback()
def _tenants() -> None:
    """Organizations (tenants): hospitals, clinics, pharmacies, suppliers."""


@users_app.callback()
def _users() -> None:
    """User accounts."""


@asynccontextmanager
async def _system_unit_of_work(settings: Settings) -> AsyncIterator[AsyncSession]:
    # Starts the embedded server when there is no DATABASE_URL, like `medhub serve`.
    target = await asyncio.to_thread(prepare_database, settings)
    database = Database(settings, target.app_url)
    try:
        async with database.unit_of_work() as session:
            await set_system_context(session)
            yield session
    finally:
        await database.dispose()


async def run_create_tenant(
    settings: Settings, *, name: str, kind: str, slug: str | None = None
) -> Organization:
    async with _system_unit_of_work(settings) as session:
        return await tenants.create_organization(session, name=name, kind=kind, slug=slug)


async def run_create_user(
    settings: Settings,
    *,
    email: str,
    password: str,
    role: str,
    organization_slug: str | None = None,
    full_name: str | None = None,
) -> User:
    hasher: PasswordHasher = build_runtime(settings).hasher
    try:
        async with _system_unit_of_work(settings) as session:
            return await members.create_account(
                session,
                hasher,
                email=email,
                password=password,
                full_name=full_name or email.split("@", 1)[0],
                role=role,
                organization_slug=organization_slug,
            )
    finally:
        hasher.executor.shutdown(wait=False)


def _fail(message: str) -> NoReturn:
    typer.secho(f"medhub: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


def _describe(error: AppError) -> str:
    lines = [error.message]
    lines += [f"  {d.field}: {d.message}" if d.field else f"  {d.message}" for d in error.details]
    return "\n".join(lines)


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


@tenants_app.command("create")
def create_tenant(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name")],
    kind: Annotated[str, typer.Option(help="hospital, clinic, pharmacy or supplier")],
    slug: Annotated[
        str | None, typer.Option(help="URL name (default: generated from the name)")
    ] = None,
) -> None:
    """Create an organization; prints its id and slug. Add its admin with `users create`."""
    settings = _settings(ctx)
    try:
        organization = asyncio.run(run_create_tenant(settings, name=name, kind=kind, slug=slug))
    except AppError as exc:
        _fail(_describe(exc))
    except ConfigurationError as exc:
        _fail(str(exc))
    typer.echo(f"id: {organization.id}")
    typer.echo(f"slug: {organization.slug}")


@users_app.command("create")
def create_user(
    ctx: typer.Context,
    *,
    email: Annotated[str, typer.Option(help="Login email address")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password")
    ],
    role: Annotated[str, typer.Option(help="Any role, super_admin included")],
    org: Annotated[
        str | None, typer.Option(help="Slug of the organization (staff roles need one)")
    ] = None,
    full_name: Annotated[str | None, typer.Option(help="Default: the email's local part")] = None,
) -> None:
    """Create a verified, approved account of any role; prints its id."""
    settings = _settings(ctx)
    try:
        user = asyncio.run(
            run_create_user(
                settings,
                email=email,
                password=password,
                role=role,
                organization_slug=org,
                full_name=full_name,
            )
        )
    except AppError as exc:
        _fail(_describe(exc))
    except ConfigurationError as exc:
        _fail(str(exc))
    typer.echo(f"id: {user.id}")
    typer.echo(f"email: {user.email}")
    typer.echo(f"role: {user.role}")
