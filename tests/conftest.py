"""Test fixtures: a real PostgreSQL, one fresh database per test, the app and an HTTP client.

Where the server comes from:
- `TEST_DATABASE_URL` (CI): a superuser URL on a real cluster; its database is
  used as the migrated template (under xdist each worker migrates a template of
  its own, named after it and the worker, and drops it at the end).
- otherwise an embedded server under `var/test-pgdata`, started once and shared
  by the session's worker processes (the last one to finish stops it).

Isolation: the schema is migrated once per process into a template database;
every test that asks for the database gets its own `CREATE DATABASE ... TEMPLATE`
copy (about 0.1 s), so tests commit for real, run concurrent requests, and never
see each other's rows. The app always connects as the non-superuser
application role, exactly as in production.

The copies are made on a background thread while the previous test runs, under two
names per process taking turns; used copies are renamed away and dropped in batches, as
each DROP DATABASE costs a checkpoint of the whole cluster (DatabaseSupply). Fixtures
made with `world_fixture` (organizations, doctors, patients...) are built once per
process into a template of their own, which the tests using them get a copy of.

Building an app costs more CPU than most tests, so `app` hands a test the app an
earlier test of the same process built with equal settings (same database name and
DATA_DIR, both fresh again), after resetting what it keeps in memory; its lifespan
still starts and stops with every test.

The suite runs in parallel (pytest-xdist, `addopts` in pyproject.toml): whatever
outlives a test is per worker process (template database, test database names,
DATA_DIR, Redis database, files under the worker's own `tmp_path`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import fcntl
import itertools
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.dependencies import models as fastapi_dependency_models
from psycopg import sql
from sqlalchemy import make_url

from medhub.app import create_app
from medhub.authz.session_cache import AUTH_CHANGED_CHANNEL, SessionCache
from medhub.config import Environment, Settings
from medhub.kit.db import Database, libpq_url
from medhub.kit.logging import configure_logging
from medhub.ops.provision import (
    DatabaseTarget,
    app_url_for,
    database_url_with,
    ensure_app_role,
    ensure_database,
    upgrade_schema,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-" + "x" * 40
# Fixed, so that a worker's databases and apps agree; a rotation test adds its own.
TEST_FIELD_KEYS = "1:" + base64.urlsafe_b64encode(b"k" * 32).decode()
TEST_FIELD_INDEX_KEY = base64.urlsafe_b64encode(b"i" * 32).decode()
# The test apps' prescription QR signing key (Ed25519 seed, base64url).
TEST_PRESCRIPTION_KEY = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
APP_ROLE = "medhub_app"
# The xdist worker this process is ("gw0", "gw1", ...), or None when pytest runs alone.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _lowest_allowed(name: str) -> int:
    """The smallest value `Settings` accepts for `name` (its `ge` bound)."""
    for constraint in Settings.model_fields[name].metadata:
        bound = getattr(constraint, "ge", None)
        if bound is not None:
            return int(bound)
    raise LookupError(f"Settings.{name} has no lower bound")


# Every test account's password is hashed (and every login verified) at the cheapest
# Argon2 cost the settings accept: at production cost hashing alone took a large part
# of the suite. Tests about hashing itself are marked `production_hashing`, and every
# Settings they make (make_settings) hash as production does.
CHEAP_HASHING: dict[str, Any] = {
    "PASSWORD_HASH_MEMORY_KIB": _lowest_allowed("PASSWORD_HASH_MEMORY_KIB"),
    "PASSWORD_HASH_ITERATIONS": _lowest_allowed("PASSWORD_HASH_ITERATIONS"),
}
PRODUCTION_HASHING: dict[str, Any] = {
    name: Settings.model_fields[name].default for name in CHEAP_HASHING
}


# Each worker holds a dozen or two database connections at its busiest (the app's pool,
# the LISTEN connection, job workers, live servers); a server allows about a hundred.
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """How many workers `-n auto` (in addopts) starts: one more than there are cores.

    Much of a test is waiting on PostgreSQL (copying its database, queries), which an
    extra worker fills: on the 2-core CI machine 3 workers beat 2 by about a fifth,
    and 4 were no faster than 3.
    PYTEST_XDIST_AUTO_NUM_WORKERS, when set, decides instead (xdist reads it).
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min((cores or 1) + 1, MAX_WORKERS)


def pytest_configure(config: pytest.Config) -> None:
    redis_url = os.environ.get("REDIS_URL")
    if WORKER is not None and redis_url:
        # Tests that use Redis reset its rate-limit counters; one worker's reset must not
        # wipe another's counters mid-test, so each worker gets a database of its own.
        os.environ["REDIS_URL"] = _redis_database_for(redis_url, int(WORKER.removeprefix("gw")))


def _redis_database_for(url: str, worker_index: int) -> str:
    parsed = make_url(url)
    base = int(parsed.database or 0)
    # Redis has 16 databases unless configured otherwise; beyond them it answers
    # "DB index is out of range", which names the problem well enough.
    return parsed.set(database=str(base + worker_index)).render_as_string(hide_password=False)


@contextlib.contextmanager
def _exclusively(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (between processes) for the block."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    from medhub.ops.embedded_pg import start_embedded  # noqa: PLC0415

    # The session's workers share one server: the wheel counts the processes using it
    # and the last to leave stops it. Starting it the first time initialises, tunes and
    # restarts it, so one process at a time starts (or joins) and leaves it.
    pgdata = REPO_ROOT / "var" / "test-pgdata"
    lock_file = pgdata.with_name("test-pgdata.lock")
    with _exclusively(lock_file):
        embedded = start_embedded(pgdata)
    try:
        yield embedded.admin_url("postgres")
    finally:
        with _exclusively(lock_file):
            embedded.stop()


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging("INFO", json=True)


@pytest.fixture(scope="session")
def admin_server_url() -> Iterator[str]:
    yield from _admin_server_url()


@pytest.fixture(scope="session")
def template_database(admin_server_url: str) -> Iterator[str]:
    """The migrated template every test database of this process is copied from.

    Named per process, so several sessions on one server (a developer's run beside
    CI's) never rebuild each other's template, and xdist workers never migrate one
    database at the same time. A database named in TEST_DATABASE_URL is used as is
    by a lone process; each worker derives its own from it (`<name>_gw0_<pid>`...).
    """
    configured = make_url(admin_server_url).database
    if not (os.environ.get("TEST_DATABASE_URL") and configured and configured != "postgres"):
        name, owned = f"medhub_tpl_{os.getpid()}", True
    elif WORKER is None:
        name, owned = configured, False
    else:
        # With the pid as well: two sessions given one TEST_DATABASE_URL (two runs on a
        # developer's machine) must not drop each other's templates.
        name, owned = f"{configured}_{WORKER}_{os.getpid()}", True
    if owned:
        _drop_database(admin_server_url, name)
    ensure_database(admin_server_url, name)
    admin = database_url_with(admin_server_url, name)
    ensure_app_role(admin, APP_ROLE)
    upgrade_schema(DatabaseTarget(app_url=app_url_for(admin, APP_ROLE), admin_url=admin))
    try:
        yield name
    finally:
        if owned:
            _drop_database(admin_server_url, name)


def _drop_database(admin_server_url: str, name: str) -> None:
    with psycopg.connect(database_url_with(admin_server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def clone_database(admin_server_url: str, template: str, name: str | None = None) -> DatabaseUrls:
    name = name or f"medhub_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url_with(admin_server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    admin = database_url_with(admin_server_url, name)
    return DatabaseUrls(admin=admin, app=app_url_for(admin, APP_ROLE), name=name)


class Unknown:
    """The type of `UNKNOWN`."""


# What `DatabaseSupply.take` makes ahead when the next test's template does not exist yet.
UNKNOWN = Unknown()


class DatabaseSupply:
    """Fresh copies of the template, made ahead of need on a thread of their own.

    Copying the template (~0.15 s) is a wait on the server; done while the previous test
    runs, a test does not wait for it. The copies take turns between two names per
    process, so the settings of a test (and the app built for them, see `app`) come back
    every other test.

    A used copy is not dropped at once: every DROP DATABASE makes the server run a
    checkpoint of the whole cluster and wait for it (0.1-0.6 s under load, and each one
    makes the next writes of every database log full pages again). So a used copy is
    renamed out of the way (instant) and the renamed ones are dropped a batch at a
    time, all at once from a connection each: drops that wait together share one or
    two checkpoints (10 drops: ~0.35 s together instead of ~5 s one after the other).
    """

    NAMES = 2
    # Used copies (~11 MB each) waiting to be dropped together.
    DROP_BATCH = 8

    def __init__(self, admin_server_url: str, template: str) -> None:
        self.admin_server_url = admin_server_url
        self.template = template
        self.names = [f"medhub_t_{os.getpid()}_{n}" for n in range(self.NAMES)]
        self._turn = itertools.cycle(self.names)
        self._retired = itertools.count()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
        self._dropper = ThreadPoolExecutor(
            max_workers=self.DROP_BATCH, thread_name_prefix="test-database-drops"
        )
        self._drops: list[Future[None]] = []
        # Copies retired by a process that died with this pid: in the way of new names.
        self._used: list[str] = [
            row[0]
            for row in _admin_query(
                admin_server_url,
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                [f"medhub\\_x\\_{os.getpid()}\\_%"],
            )
        ]
        self._drop_all()
        for drop in self._drops:
            drop.result()
        self._next: Future[DatabaseUrls] | None = self._prepare()

    def _prepare(self, template: str | None = None) -> Future[DatabaseUrls]:
        name = next(self._turn)
        source = template or self.template
        self._next_template = source

        def fresh_copy() -> DatabaseUrls:
            # The copy this name had two tests ago (or that a process which died with
            # this pid left behind) makes way.
            self._retire(name)
            return clone_database(self.admin_server_url, source, name)

        return self._executor.submit(fresh_copy)

    def _retire(self, name: str) -> None:
        """Rename `name` (if it exists) out of the way, to be dropped with a batch."""
        retired = f"medhub_x_{os.getpid()}_{next(self._retired)}"
        if _rename_database(self.admin_server_url, name, retired):
            self._used.append(retired)
        if len(self._used) >= self.DROP_BATCH:
            self._drop_all()

    def _drop_all(self) -> None:
        """Drop the retired copies together, without waiting for them."""
        batch, self._used = self._used, []
        self._drops.extend(
            self._dropper.submit(_drop_database, self.admin_server_url, name) for name in batch
        )
        self._drops = [drop for drop in self._drops if not drop.done() or drop.exception()]

    def take(
        self, template: str | None = None, *, then: str | Unknown | EllipsisType | None = ...
    ) -> DatabaseUrls:
        """A fresh copy of `template` (by default the migrated one).

        The next copy is made ahead from `then`: the template the next test needs (None:
        the migrated one), or nothing when that is not known yet (`UNKNOWN`, a world
        not built yet: the next test makes its copy when it asks). Left out, it is
        `template` again: a module's tests tend to follow each other."""
        source = template or self.template
        following = source if then is ... else then
        if self._next is not None and self._next_template != source:
            # Made from another template: it makes way (retired in turn) for one of this.
            self._next.result()
            self._next = None
        if self._next is None:
            self._next = self._prepare(source)
        urls = self._next.result()
        self._next = None if following is UNKNOWN else self._prepare(following or self.template)
        return urls

    def retire_template(self, name: str) -> None:
        """Drop `name` (a template no copy is made of any more, or a database a test
        made itself and no longer uses) with the next batch."""
        self._executor.submit(self._used.append, name).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._used.extend(self.names)
        self._drop_all()
        self._dropper.shutdown(wait=True)
        for drop in self._drops:
            drop.result()


def _admin_query(admin_server_url: str, statement: str, params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url_with(admin_server_url, "postgres"), autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


def _rename_database(admin_server_url: str, name: str, new_name: str) -> bool:
    """ALTER DATABASE name RENAME TO new_name, after ending its sessions; False when
    there is no such database."""
    with psycopg.connect(database_url_with(admin_server_url, "postgres"), autocommit=True) as conn:
        deadline = time.monotonic() + 10
        while True:
            # Ended and waited for (up to 5 s each), as DROP DATABASE ... WITH (FORCE) does.
            conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            try:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(name), sql.Identifier(new_name)
                    )
                )
            except psycopg.errors.InvalidCatalogName:
                return False
            except psycopg.errors.ObjectInUse:
                # A session opened between the two statements: end it too.
                if time.monotonic() > deadline:
                    raise
                continue
            return True


@pytest.fixture(scope="session")
def database_supply(admin_server_url: str, template_database: str) -> Iterator[DatabaseSupply]:
    supply = DatabaseSupply(admin_server_url, template_database)
    try:
        yield supply
    finally:
        supply.close()


@pytest.fixture
def database_urls(
    database_supply: DatabaseSupply, worlds: Worlds, request: pytest.FixtureRequest
) -> DatabaseUrls:
    """A fresh, migrated database of this test's own (see DatabaseSupply): a copy of the
    world its world fixtures make (see `world_fixture`), if it uses any. The copy made
    ahead is of what the test run next on this process needs (see `Worlds.ahead`)."""
    world = worlds.for_test(request)
    following = worlds.ahead(request.node.stash.get(_NEXT_ITEM_KEY, None))
    return database_supply.take(world.template if world else None, then=following)


_NEXT_ITEM_KEY = pytest.StashKey["pytest.Item | None"]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Note on each test which test this process runs after it (None: none known), so
    that the database copy made ahead is of the right template."""
    item.stash[_NEXT_ITEM_KEY] = nextitem


# ---------------------------------------------------------------------------- worlds

T = TypeVar("T")
WorldBuilder = Callable[[httpx.AsyncClient, Any], Awaitable[Any]]
# A world's access tokens must outlive every test run on it (ACCESS_TOKEN_TTL_MINUTES
# is 15): an older world is built again.
WORLD_MAX_AGE_SECONDS = 5 * 60


def world_fixture(builder: Callable[[httpx.AsyncClient, Any], Awaitable[T]]) -> Any:
    """Turn `async def name(client, factory) -> T` into the fixture `name`, built once
    per process instead of once per test.

    The first test that uses a given set of world fixtures has them built, through the
    API and the factories as before, on a database of their own, which then becomes
    a template: that test and every later one using the same set get a fresh copy of
    it (a copy costs what a copy of the empty template costs), so rows written by one
    test are never seen by another. What the fixture returns is copied for each test
    (accounts, dataclasses; ORM rows are shared and must be only read).

    Only for builders that write nothing but database rows (no files under DATA_DIR,
    no queued mail the test then reads as its own) and depend on no per-test setting.
    """

    def fixture(_world_values: dict[Callable[..., Any], Any]) -> T:
        value: T = _fresh(_world_values[builder])
        return value

    fixture.__name__ = builder.__name__
    fixture.__doc__ = builder.__doc__
    fixture.world_builder = builder  # type: ignore[attr-defined]
    return pytest.fixture(name=builder.__name__)(fixture)


def _fresh(value: Any) -> Any:
    """A copy of a world value a test may change freely (ORM rows are shared)."""
    if hasattr(value, "_sa_instance_state") or isinstance(value, str | bytes | int | uuid.UUID):
        return value
    if isinstance(value, list | tuple):
        return type(value)(_fresh(item) for item in value)
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _fresh(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    if hasattr(value, "__dict__"):
        twin = copy.copy(value)
        twin.__dict__.update({key: _fresh(item) for key, item in vars(value).items()})
        return twin
    return copy.deepcopy(value)


@dataclass
class World:
    template: str
    values: dict[Callable[..., Any], Any]
    built_at: float


class Worlds:
    """The worlds this process built, by the builders they hold (see `world_fixture`)."""

    def __init__(self, supply: DatabaseSupply, base: Path) -> None:
        self.supply = supply
        self.base = base
        self._built: dict[tuple[Callable[..., Any], ...], World] = {}
        self._count = itertools.count()

    def for_test(self, request: pytest.FixtureRequest) -> World | None:
        builders = _world_builders(request)
        if not builders:
            return None
        world = self._built.get(builders)
        if world is None or time.monotonic() - world.built_at > WORLD_MAX_AGE_SECONDS:
            if world is not None:
                self.supply.retire_template(world.template)
            world = self._build(builders)
            self._built[builders] = world
        request.node.stash[_WORLD_KEY] = world
        return world

    def ahead(self, item: pytest.Item | None) -> str | Unknown | None:
        """The template the test `item` will take a copy of: None for the migrated one
        (also when there is no next test, or it uses no database), `UNKNOWN` when its
        world is not built yet (or will be built again by then)."""
        if item is None:
            return None
        builders = _world_builders_of(item)
        if not builders:
            return None
        world = self._built.get(builders)
        # A world about to expire is rebuilt by the time the test runs: a copy of it
        # made now would be wasted.
        if world is None or time.monotonic() - world.built_at > WORLD_MAX_AGE_SECONDS - 30:
            return UNKNOWN
        return world.template

    def _build(self, builders: tuple[Callable[..., Any], ...]) -> World:
        name = f"medhub_w_{os.getpid()}_{next(self._count)}"
        _drop_database(self.supply.admin_server_url, name)
        urls = clone_database(self.supply.admin_server_url, self.supply.template, name)
        data_dir = self.base / name
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        settings = _settings_for(urls.app, urls.admin, data_dir)
        # Its own loop: this runs in a synchronous fixture, outside the test's loop.
        loop = asyncio.new_event_loop()
        try:
            values = loop.run_until_complete(_build_world(settings, builders))
        finally:
            loop.close()
        left = [path for path in data_dir.rglob("*") if path.is_file()]
        assert not left, f"a world fixture wrote files, which copies would not hold: {left}"
        shutil.rmtree(data_dir, ignore_errors=True)
        # A template is copied only with nobody connected to it.
        _admin_query(
            self.supply.admin_server_url,
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = %s",
            [name],
        )
        return World(name, values, time.monotonic())

    def close(self) -> None:
        for world in self._built.values():
            self.supply.retire_template(world.template)
        self._built.clear()


_WORLD_KEY = pytest.StashKey[World]()


# asgi-lifespan gives an app 5 s to start and to stop; under the parallel suite on the
# 2-core CI machine an app's start (its pool, its LISTEN connection, the session-cache
# warm-up) has taken longer, and a test then failed with a bare TimeoutError.
LIFESPAN_SECONDS = 60.0


def running(application: FastAPI) -> LifespanManager:
    """The app's lifespan (startup on enter, shutdown on exit), with time to spare."""
    return LifespanManager(
        application, startup_timeout=LIFESPAN_SECONDS, shutdown_timeout=LIFESPAN_SECONDS
    )


def _world_builders(request: pytest.FixtureRequest) -> tuple[Callable[..., Any], ...]:
    """The builders of the world fixtures the test uses, in the order it sets them up."""
    return _builders_among(request.node, request.fixturenames)


def _world_builders_of(item: pytest.Item) -> tuple[Callable[..., Any], ...]:
    """What `_world_builders` will find for the test `item`, before it starts."""
    if not hasattr(item, "_fixtureinfo"):
        return ()
    return _builders_among(item, item._fixtureinfo.names_closure)


def _builders_among(node: Any, fixturenames: Any) -> tuple[Callable[..., Any], ...]:
    found: list[Callable[..., Any]] = []
    for name in fixturenames:
        definitions = node._fixtureinfo.name2fixturedefs.get(name)
        if definitions:
            builder = getattr(definitions[-1].func, "world_builder", None)
            if builder is not None:
                found.append(builder)
    return tuple(found)


async def _build_world(
    settings: Settings, builders: tuple[Callable[..., Any], ...]
) -> dict[Callable[..., Any], Any]:
    from tests.factories import Factory  # noqa: PLC0415

    application = create_app(settings, configure_logs=False)
    async with running(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            factory = Factory(application, http)
            return {builder: await builder(http, factory) for builder in builders}


@pytest.fixture(scope="session")
def worlds(
    database_supply: DatabaseSupply, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worlds]:
    built = Worlds(database_supply, tmp_path_factory.getbasetemp() / "worlds")
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def _world_values(
    database_urls: DatabaseUrls, request: pytest.FixtureRequest
) -> dict[Callable[..., Any], Any]:
    """What the world fixtures of this test returned when its world was built."""
    return request.node.stash[_WORLD_KEY].values


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA_DIR, empty for every test: one path per process, so that the settings of
    two tests differ only where a test asks (see `app`)."""
    path = tmp_path_factory.getbasetemp() / "data"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def _settings_for(app_url: str, admin_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENV": Environment.test,
        "DATA_DIR": data_dir,
        "DATABASE_URL": app_url,
        "DATABASE_ADMIN_URL": admin_url,
        "DATABASE_POOL_SIZE": 5,
        "DATABASE_STARTUP_TIMEOUT": 5.0,
        "JWT_SECRET": TEST_SECRET,
        "FIELD_ENCRYPTION_KEYS": TEST_FIELD_KEYS,
        "FIELD_INDEX_KEY": TEST_FIELD_INDEX_KEY,
        "PRESCRIPTION_SIGNING_KEY": TEST_PRESCRIPTION_KEY,
        "LOG_JSON": True,
        **CHEAP_HASHING,
        # Tests that use Redis say so (Settings would otherwise read REDIS_URL from the
        # environment, and every app would open a Redis client it never uses).
        "REDIS_URL": None,
        # Limits are exercised by their own tests; elsewhere they would only add noise.
        "RATE_LIMIT_ENABLED": False,
        # Tests run queued jobs explicitly (tests.factories.run_jobs), deterministically.
        "RUN_WORKER": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def make_settings(
    database_urls: DatabaseUrls, data_dir: Path, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """Settings for this test's database; keyword arguments override any field."""
    hashing = PRODUCTION_HASHING if request.node.get_closest_marker("production_hashing") else {}

    def build(**overrides: Any) -> Settings:
        values = {**hashing, **overrides}
        return _settings_for(database_urls.app, database_urls.admin, data_dir, **values)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(autouse=True)
def _release_apps() -> Iterator[None]:
    """Let the apps a test built be freed once it is over.

    FastAPI memoises what kind of callable each endpoint and dependency is in
    module-level LRU caches keyed by the callable itself (thousands of entries). The
    closures every `create_app` makes (its index route, the docs pages) land there and
    keep their app alive, with its routes, engines and hashing threads: a few MB per
    test, for hundreds of tests. One app per process never notices; one per test does.
    """
    yield
    for value in vars(fastapi_dependency_models).values():
        cache_clear = getattr(value, "cache_clear", None)
        if callable(cache_clear):
            cache_clear()


# Apps built for earlier tests of this process, most recently used first. Building
# one (FastAPI analyses every route's signature and models) costs about 0.3 s of CPU,
# more than most tests; a few settings variants (times the two database names) cover
# almost every test.
_built_apps: list[FastAPI] = []
KEPT_APPS = 6


async def _app_for(settings: Settings) -> FastAPI:
    """An app for `settings`: one built for an earlier test with equal settings (so the
    same database name and DATA_DIR, both fresh again), or a new one.

    What an app accumulates in memory is reset here, so a test sees what a freshly built
    app would show: request metrics and in-process rate-limit counters. Its lifespan
    (the database engine, the LISTEN connection) starts and stops with every test.
    """
    for application in list(_built_apps):
        if application.state.settings == settings:
            _built_apps.remove(application)
            if len(application.router.routes) != application.state.routes_when_built:
                # A test added routes to it (probes of kit tests): another test would see
                # them (the access matrix counts every route). Build a clean one.
                continue
            application.state.metrics.reset()
            await application.state.rate_limiter.reset()
            break
    else:
        application = create_app(settings, configure_logs=False)
        application.state.routes_when_built = len(application.router.routes)
    _built_apps.insert(0, application)
    del _built_apps[KEPT_APPS:]
    return application


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = await _app_for(settings)
    async with running(application):
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
def admin_sql(
    database_urls: DatabaseUrls, request: pytest.FixtureRequest
) -> Callable[..., list[tuple[Any, ...]]]:
    """Run SQL as the schema owner (for setting up and inspecting state, never for the app).

    A change made this way reaches the running app's session-check cache through
    NOTIFY, a few milliseconds later; a test's next request must not race it. So each
    statement is followed by a barrier: a marker announced after it, and waited for
    (the app's listener receives announcements in commit order).
    """
    running: FastAPI | None = (
        request.getfixturevalue("app") if "app" in request.fixturenames else None
    )

    def run(statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_urls.admin, autocommit=True) as conn:
            cursor = conn.execute(statement, params)  # type: ignore[arg-type]
            rows = cursor.fetchall() if cursor.description else []
            if running is not None:
                _await_announcements(conn, running)
            return rows

    return run


def _await_announcements(conn: psycopg.Connection[Any], running: FastAPI) -> None:
    cache: SessionCache = running.state.session_cache
    hub = getattr(running.state, "notify_hub", None)
    if hub is None or not hub.listening:
        return
    token = uuid.uuid4().hex
    conn.execute("SELECT pg_notify(%s, %s)", (AUTH_CHANGED_CHANNEL, f"barrier:{token}"))
    # Synchronous on purpose: the test's event loop is blocked while this runs, so the
    # hub's socket is read here directly (what every cache hit does anyway). The marker
    # takes well under a millisecond: poll tightly rather than with the usual interval.
    deadline = time.monotonic() + 5
    while True:
        hub.poll()
        if token in cache.barriers_seen:
            return
        if time.monotonic() > deadline:
            pytest.fail("the app did not receive the database's announcements")
        time.sleep(0.0002)


@pytest.fixture
def factory(app: FastAPI, client: httpx.AsyncClient) -> Any:
    from tests.factories import Factory  # noqa: PLC0415

    return Factory(app, client)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """The rate limiter's backend of a test run once per backend: Redis only where a
    server is configured (CI sets REDIS_URL, so there neither variant is skipped)."""
    name: str = request.param
    if name == "redis" and not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is not set: the Redis-backed variant needs a Redis server")
    return name
