"""Test fixtures: a real PostgreSQL, one fresh database per test, the app and an HTTP client.

Where the server comes from:
- `TEST_DATABASE_URL` (CI): a superuser URL on a real cluster; its database is
  used as the migrated template.
- otherwise an embedded server under `var/test-pgdata`, started once per session.

Isolation: the schema is migrated once into a template database; every test
that asks for the database gets its own `CREATE DATABASE ... TEMPLATE` copy
(about 0.1 s), so tests commit for real, run concurrent requests, and never
see each other's rows. The app always connects as the non-superuser
application role, exactly as in production.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy import make_url

from medhub.app import create_app
from medhub.config import Environment, Settings
from medhub.kit.db import Database, libpq_url
from medhub.kit.logging import configure_logging
from medhub.kit.provision import (
    DatabaseTarget,
    app_url_for,
    database_url_with,
    ensure_app_role,
    ensure_database,
    upgrade_schema,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-" + "x" * 40
APP_ROLE = "medhub_app"


@dataclass(frozen=True)
class DatabaseUrls:
    admin: str
    app: str
    name: str


def _admin_server_url() -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield libpq_url(configured)
        return
    from medhub.kit.embedded_pg import start_embedded  # noqa: PLC0415

    embedded = start_embedded(REPO_ROOT / "var" / "test-pgdata")
    try:
        yield embedded.admin_url("postgres")
    finally:
        embedded.stop()


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging("INFO", json=True)


@pytest.fixture(scope="session")
def admin_server_url() -> Iterator[str]:
    yield from _admin_server_url()


@pytest.fixture(scope="session")
def template_database(admin_server_url: str) -> Iterator[str]:
    """The migrated template every test database is copied from.

    Named per test session, so several sessions on one server (a developer's run
    beside CI's) never rebuild each other's template.
    """
    configured = make_url(admin_server_url).database
    reuse_configured = bool(os.environ.get("TEST_DATABASE_URL")) and configured not in (
        None,
        "postgres",
    )
    name = configured if reuse_configured and configured else f"medhub_tpl_{os.getpid()}"
    if not reuse_configured:
        _drop_database(admin_server_url, name)
    ensure_database(admin_server_url, name)
    admin = database_url_with(admin_server_url, name)
    ensure_app_role(admin, APP_ROLE)
    upgrade_schema(DatabaseTarget(app_url=app_url_for(admin, APP_ROLE), admin_url=admin))
    try:
        yield name
    finally:
        if not reuse_configured:
            _drop_database(admin_server_url, name)


def _drop_database(admin_server_url: str, name: str) -> None:
    with psycopg.connect(database_url_with(admin_server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def clone_database(admin_server_url: str, template: str) -> DatabaseUrls:
    name = f"medhub_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url_with(admin_server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    admin = database_url_with(admin_server_url, name)
    return DatabaseUrls(admin=admin, app=app_url_for(admin, APP_ROLE), name=name)


@pytest.fixture
def database_urls(admin_server_url: str, template_database: str) -> Iterator[DatabaseUrls]:
    """A fresh, migrated database of this test's own."""
    urls = clone_database(admin_server_url, template_database)
    try:
        yield urls
    finally:
        _drop_database(admin_server_url, urls.name)


def _settings_for(app_url: str, admin_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENV": Environment.test,
        "DATA_DIR": data_dir,
        "DATABASE_URL": app_url,
        "DATABASE_ADMIN_URL": admin_url,
        "DATABASE_POOL_SIZE": 5,
        "DATABASE_STARTUP_TIMEOUT": 5.0,
        "JWT_SECRET": TEST_SECRET,
        "LOG_JSON": True,
        # Limits are exercised by their own tests; elsewhere they would only add noise.
        "RATE_LIMIT_ENABLED": False,
        # Tests run queued jobs explicitly (tests.factories.run_jobs), deterministically.
        "RUN_WORKER": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def make_settings(database_urls: DatabaseUrls, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for this test's database; keyword arguments override any field."""

    def build(**overrides: Any) -> Settings:
        return _settings_for(database_urls.app, database_urls.admin, tmp_path / "data", **overrides)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, configure_logs=False)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def database(app: FastAPI) -> Database:
    db: Database = app.state.database
    return db


@pytest.fixture
def admin_sql(database_urls: DatabaseUrls) -> Callable[..., list[tuple[Any, ...]]]:
    """Run SQL as the schema owner (for setting up and inspecting state, never for the app)."""

    def run(statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_urls.admin, autocommit=True) as conn:
            cursor = conn.execute(statement, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    return run


@pytest.fixture
def factory(app: FastAPI, client: httpx.AsyncClient) -> Any:
    from tests.factories import Factory  # noqa: PLC0415

    return Factory(app, client)
