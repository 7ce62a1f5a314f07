"""Engines, the unit of work, and the request-scoped session dependency.

One `Database` per process. Requests get a session through `DbSession`; it
commits once when the route returns and rolls back on any error, before the
response is sent (so a failed commit is reported, never hidden). Background
code uses `Database.unit_of_work()`, the same rules in a context manager.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from medhub.config import Settings
from medhub.field_crypto import install_keyring
from medhub.kit.email import MAILER_KEY, Mailer
from medhub.kit.errors import AppError
from medhub.kit.tenancy import bind_request_session
from medhub.kit.txqueue import TransactionQueue

DRIVER = "postgresql+psycopg"


def sqlalchemy_url(url: str | URL) -> URL:
    """Any `postgresql://` spelling → the psycopg 3 async driver URL."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername=DRIVER)


def libpq_url(url: str | URL) -> str:
    """A URL psycopg (and psql) accept directly, without the SQLAlchemy driver suffix."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def make_engine(
    url: str | URL, settings: Settings, *, pool_size: int | None = None, read_only: bool = False
) -> AsyncEngine:
    size = pool_size or settings.DATABASE_POOL_SIZE
    options = f"-c statement_timeout={settings.DATABASE_STATEMENT_TIMEOUT_MS}"
    if read_only:
        # A replica refuses writes anyway; this makes a write routed to it by mistake
        # fail the same way against any server, a primary included.
        options += " -c default_transaction_read_only=on"
    return create_async_engine(
        sqlalchemy_url(url),
        # A fixed-size pool sized to the process: overflow connections are opened
        # and closed under load, which costs more than waiting for a free one.
        pool_size=size,
        max_overflow=0,
        pool_timeout=settings.DATABASE_POOL_TIMEOUT,
        pool_recycle=1800,
        # Statement parameters (password hashes, token digests, personal data) stay out
        # of exception messages and therefore out of the logs.
        hide_parameters=True,
        connect_args={"application_name": "medhub", "options": options, "connect_timeout": 5},
    )


class Database:
    """The engines of one process: the primary, and a read replica when configured."""

    def __init__(
        self,
        settings: Settings,
        url: str | URL,
        read_url: str | URL | None = None,
        *,
        mailer: Mailer | None = None,
    ):
        self.settings = settings
        # Sensitive columns decrypt with the keys of the process that opens the database.
        install_keyring(settings.field_keyring())
        self.url = libpq_url(url)
        self.engine = make_engine(url, settings)
        self.read_engine = (
            make_engine(read_url, settings, read_only=True) if read_url else self.engine
        )
        self.mailer = mailer or Mailer(settings)
        # Copied into every session's `info`: what post-commit hooks need (the mailer
        # for queued email; the app adds its session-check cache).
        self.session_info: dict[str, Any] = {MAILER_KEY: self.mailer}
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.read_sessionmaker = async_sessionmaker(
            self.read_engine, expire_on_commit=False, autoflush=False
        )

    def session(self, *, read_only: bool = False) -> AsyncSession:
        """A new session; it carries the mailer so queued email goes out after its commit.

        (Set per session: a sessionmaker's `info` dict would be shared by all of them.)
        """
        session = (self.read_sessionmaker if read_only else self.sessionmaker)()
        session.info.update(self.session_info)
        return session

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session that commits once at the end, or rolls back if the block raises.

        A block that never used the session (a route that needs no data) costs no
        connection, and no commit or close either.
        """
        session = self.session()
        try:
            yield session
            if _has_work(session):
                await session.commit()
        except AppError as exc:
            if exc.persist_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        finally:
            if _has_work(session) or session.sync_session.identity_map:
                await session.close()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def pool_status(self) -> dict[str, int]:
        pool: Any = self.engine.pool
        return {
            "size": int(pool.size()),
            "checked_out": int(pool.checkedout()),
            "checked_in": int(pool.checkedin()),
            "overflow": max(int(pool.overflow()), 0),
        }

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _has_work(session: AsyncSession) -> bool:
    # Objects added but not flushed yet, or audit rows and emails queued for COMMIT,
    # have not begun a transaction.
    return (
        session.in_transaction()
        or bool(session.new or session.dirty or session.deleted)
        or TransactionQueue.any_pending(session)
    )


async def release_connection(session: AsyncSession) -> None:
    """End the session's read-only transaction now, returning its connection to the pool.

    For a slow step that needs no database (a password hash runs for tens of
    milliseconds): holding a pooled connection in an open transaction meanwhile
    would let a burst of logins drain the pool for every other request. Only call
    it before the unit of work has written anything; the next transaction starts
    with the tenant context bound to the session (`kit.tenancy.bind_tenant`) again.
    """
    await session.rollback()


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def request_database(request: Request) -> Database:
    """`get_database` as a dependency (FastAPI runs a plain `def` dependency in a thread)."""
    return get_database(request)


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).unit_of_work() as session:
        await bind_request_session(request, session)
        yield session


async def _read_session(request: Request, primary: DbSession) -> AsyncIterator[AsyncSession]:
    """The replica's session for read-only routes, or the request's own when there is none.

    Without a replica the route shares the request's session (one connection, the
    same transaction as the authentication that preceded it). With one, its queries
    go to `DATABASE_READ_URL` on connections that refuse writes. Only routes whose
    tables have no row-level security read from it: the tenant context is set on the
    primary's transaction, not here.
    """
    database = get_database(request)
    if database.read_engine is database.engine:
        yield primary
        return
    async with database.session(read_only=True) as session:
        yield session


# scope="function": the commit happens when the route returns, before the response
# is sent, so a failing commit becomes an error response instead of a lost write.
DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
