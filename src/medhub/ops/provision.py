"""Where the database is, who owns the schema, and who the application runs as.

Two roles, always:
- the *admin* URL owns the schema and runs migrations (the embedded server's
  superuser, or `DATABASE_ADMIN_URL`);
- the *application* role runs every query of the service. It has no SUPERUSER
  and no BYPASSRLS, so PostgreSQL row-level security holds for it in every mode.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import psycopg
import structlog
from psycopg import sql
from sqlalchemy import make_url

from medhub.config import ConfigurationError, Settings
from medhub.kit.db import libpq_url
from medhub.ops import migrations
from medhub.ops.embedded_pg import EmbeddedPostgres, start_embedded

log = structlog.get_logger(__name__)

EMBEDDED_DATABASE = "medhub"


@dataclass
class DatabaseTarget:
    app_url: str
    admin_url: str
    embedded: EmbeddedPostgres | None = None


def app_url_for(admin_url: str, role: str) -> str:
    """The same server and database as `admin_url`, logged in as `role` (no password)."""
    url = make_url(admin_url).set(username=role, password=None)
    return libpq_url(url)


def database_url_with(url: str, database: str) -> str:
    return libpq_url(make_url(url).set(database=database))


def wait_for_database(url: str, timeout: float) -> None:
    """Retry until the server answers, then fail with a message a person can act on."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                where = make_url(url).render_as_string(hide_password=True)
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise ConfigurationError(
                    f"cannot reach the database at {where} after {attempt} attempt(s): {reason}"
                ) from exc
            log.warning("database.unreachable", attempt=attempt, error=str(exc).strip()[:200])
            time.sleep(min(2.0, 0.25 * attempt))


def ensure_database(admin_url: str, database: str) -> None:
    """CREATE DATABASE if it does not exist (needs CREATEDB on the admin role)."""
    maintenance = database_url_with(admin_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return
        # Another process may create it between our check and our create.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def ensure_app_role(admin_url: str, role: str) -> None:
    """Create the application's login role if missing, and insist it cannot bypass RLS."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role]
        ).fetchone()
        if row is None:
            # Another process may create it concurrently.
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                    ).format(sql.Identifier(role))
                )
        elif row[0] or row[1]:
            raise ConfigurationError(
                f"the application role {role!r} is a superuser or has BYPASSRLS; "
                "row-level security would not apply to it. Use a plain role."
            )


def grant_app_privileges(admin_url: str, role: str) -> None:
    """Data privileges on everything the migrations made; no DDL rights."""
    ident = sql.Identifier(role)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()
        if conn.execute("SELECT current_user = %s", [role]).fetchone() == (True,):
            return  # the schema owner is the app role itself; nothing to grant
        assert database is not None
        schemas = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                "AND nspname <> 'information_schema'"
            ).fetchall()
        ]
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(database[0]), ident
            )
        )
        for schema in schemas:
            s = sql.Identifier(schema)
            for statement in (
                "GRANT USAGE ON SCHEMA {s} TO {r}",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
                "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
                "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {r}",
            ):
                conn.execute(sql.SQL(statement).format(s=s, r=ident))
        chain_tip = conn.execute("SELECT to_regclass('public.activity_log_chain')").fetchone()
        if chain_tip and chain_tip[0]:
            # Only the audit trigger (SECURITY DEFINER) moves the chain tip.
            conn.execute(
                sql.SQL(
                    "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON activity_log_chain FROM {}"
                ).format(ident)
            )
        ledger = conn.execute("SELECT to_regclass('public.ledger_entries')").fetchone()
        if ledger and ledger[0]:
            # The ledger is append-only (its triggers refuse the rest, for every role):
            # the app may only read it and add to it.
            conn.execute(
                sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON ledger_entries FROM {}").format(ident)
            )


def check_app_role(app_url: str) -> None:
    """Refuse to serve as a role that row-level security does not apply to."""
    with psycopg.connect(app_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    if row is not None and (row[1] or row[2]):
        raise ConfigurationError(
            f"DATABASE_URL logs in as {row[0]!r}, which is a superuser or has BYPASSRLS, so "
            "row-level security would not protect tenants. Point DATABASE_URL at a plain role "
            "and put the privileged URL in DATABASE_ADMIN_URL (used for migrations only)."
        )


def upgrade_schema(target: DatabaseTarget) -> None:
    """Migrate to head as the admin, then give the application role its privileges."""
    migrations.upgrade(target.admin_url)
    app_role = make_url(target.app_url).username
    if app_role and make_url(target.admin_url).username != app_role:
        grant_app_privileges(target.admin_url, app_role)


def resolve_target(settings: Settings, *, start: bool = True) -> DatabaseTarget:
    """Work out (and in embedded mode, bring up) the database this process uses."""
    if settings.DATABASE_URL is not None:
        app_url = libpq_url(settings.DATABASE_URL)
        admin_url = libpq_url(settings.DATABASE_ADMIN_URL or settings.DATABASE_URL)
        return DatabaseTarget(app_url=app_url, admin_url=admin_url)
    if not start:
        raise ConfigurationError("no DATABASE_URL and the embedded database was not started")
    embedded = start_embedded(settings.pgdata_dir)
    admin_url = embedded.admin_url(EMBEDDED_DATABASE)
    ensure_database(embedded.admin_url(), EMBEDDED_DATABASE)
    ensure_app_role(admin_url, settings.DATABASE_APP_ROLE)
    return DatabaseTarget(
        app_url=app_url_for(admin_url, settings.DATABASE_APP_ROLE),
        admin_url=admin_url,
        embedded=embedded,
    )


def prepare_database(settings: Settings) -> DatabaseTarget:
    """Everything `medhub serve` needs before it accepts requests.

    Embedded mode starts the server, creates the database and role, and
    migrates. External mode waits for the server and checks the role; its
    schema is migrated by `medhub db upgrade`, which /health/ready reports on.
    The resolved URLs are exported so child processes (workers, reload) reuse
    this server instead of starting their own.
    """
    target = resolve_target(settings)
    wait_for_database(target.app_url, settings.DATABASE_STARTUP_TIMEOUT)
    if target.embedded is not None:
        upgrade_schema(target)
    check_app_role(target.app_url)
    os.environ["DATABASE_URL"] = target.app_url
    os.environ["DATABASE_ADMIN_URL"] = target.admin_url
    return target
