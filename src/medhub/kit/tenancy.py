"""The tenant context row-level security reads, set per transaction.

`set_config(name, value, true)` is transaction-local: it vanishes at COMMIT or
ROLLBACK, so a pooled connection never carries one request's context into the
next. Without any context every tenant table shows no rows: a route that never
resolves a caller sees nothing, not everything.

Where scoping starts, in one place: resolving the caller
(`authz.dependencies.resolve_principal`) sets the request's tenant
(`set_request_tenant`), and the request's database session is bound to it, whichever
of the two comes first (`bind_request_session`). From then on every transaction the
session runs starts with that context (the `after_begin` hook below sends it just
before the transaction's first statement); a request that resolves no caller binds
nothing. No connection is taken for it: a route that never touches the database
never sends it.

Background code and the few flows that must find a row before knowing its tenant
set a context for the current transaction only (`set_tenant_context`,
`set_system_context`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from medhub.kit.errors import AuthenticationFailed

_CONTEXT_COLUMNS = (
    "set_config('app.user_id', %(user_id)s, true), set_config('app.org_id', %(org_id)s, true),"
    " set_config('app.role', %(role)s, true), set_config('app.system', %(system)s, true)"
)
_RECHECK_COLUMN = (
    "session_still_valid(%(check_session)s, %(check_user)s, %(check_role)s, %(check_org)s,"
    " %(check_verified)s, %(check_approved)s) AS valid"
)
# Sent on the driver's cursor, not through SQLAlchemy's statement execution: this runs
# at the start of every transaction of every request, and compiling and processing it
# as a Core statement cost about as much CPU as the rest of a simple read.
_SET_CONTEXT_SQL = f"SELECT {_CONTEXT_COLUMNS}"
_SET_CONTEXT_AND_RECHECK_SQL = f"SELECT {_RECHECK_COLUMN}, {_CONTEXT_COLUMNS}"
# The same statement for callers that hold an AsyncSession (SQLAlchemy's bind syntax).
_SET_CONTEXT = text(
    "SELECT set_config('app.user_id', :user_id, true), set_config('app.org_id', :org_id, true),"
    " set_config('app.role', :role, true), set_config('app.system', :system, true)"
)
_BOUND_KEY = "medhub.tenant"
_BEGUN_KEY = "medhub.tenant_connection_begun"
_DRIVER_KEY = "medhub.transaction_driver_connection"
# Set while kit.rows begins a transaction itself: the hook leaves the context pending
# (`_PENDING_KEY`) for kit.rows to send in one pipeline with its first statement.
_DEFER_KEY = "medhub.tenant_deferred"
_PENDING_KEY = "medhub.tenant_pending"


@dataclass(frozen=True, slots=True)
class SessionRecheck:
    """What a caller's request was authorised with, when that came from a process's
    memory (the session-check cache): the database confirms it in the statement that
    sets the context (`session_still_valid()`, migration 0012), so a change another
    process made is never missed, however late its announcement arrives."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    organization_id: uuid.UUID | None
    is_verified: bool
    is_approved: bool
    refused: Callable[[], None]

    def parameters(self) -> dict[str, Any]:
        return {
            "check_session": self.session_id,
            "check_user": self.user_id,
            "check_role": self.role,
            "check_org": self.organization_id,
            "check_verified": self.is_verified,
            "check_approved": self.is_approved,
        }


@dataclass(frozen=True, slots=True)
class TenantContext:
    user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    role: str
    recheck: SessionRecheck | None = None

    def parameters(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "user_id": str(self.user_id) if self.user_id else "",
            "org_id": str(self.organization_id) if self.organization_id else "",
            "role": self.role,
            "system": "on" if self.role == "super_admin" else "",
        }
        if self.recheck is not None:
            values.update(self.recheck.parameters())
        return values

    @property
    def sql(self) -> str:
        return _SET_CONTEXT_SQL if self.recheck is None else _SET_CONTEXT_AND_RECHECK_SQL


def confirm_context(context: TenantContext, valid: object) -> None:
    """Refuse the request when the database did not confirm a cached session check
    (`valid` is the first column of the context statement's row)."""
    if context.recheck is not None and valid is not True:
        context.recheck.refused()
        raise AuthenticationFailed(
            "This session or its access changed since it was checked; retry the request"
            " (log in again if it is refused again)"
        )


async def bind_tenant(
    session: AsyncSession, context: TenantContext, *, already_set: bool = False
) -> None:
    """Scope every transaction of `session` to `context`, the current one included.

    `already_set`: the statement that authenticated the caller (`auth_context()`)
    has set it in the current transaction already; later ones get it from the hook.
    """
    info = session.sync_session.info
    info[_BOUND_KEY] = context
    if info.get(_BEGUN_KEY) and not already_set:
        connection = await session.connection()
        await connection.run_sync(_send_context, context)


async def set_request_tenant(request: Request, context: TenantContext) -> None:
    """The caller of this request is known: scope its database session (now or when
    it is created)."""
    request.state.tenant = context
    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is not None:
        await bind_tenant(session, context)
        await _run_session_tasks(request, session)


async def bind_request_session(request: Request, session: AsyncSession) -> None:
    """The request's database session, created: scope it if the caller is known, then
    run what was waiting for it (`with_request_session`)."""
    request.state.db_session = session
    context: TenantContext | None = getattr(request.state, "tenant", None)
    if context is not None:
        await bind_tenant(session, context)
        await _run_session_tasks(request, session)


SessionTask = Callable[[AsyncSession], Awaitable[None]]


def with_request_session(request: Request, task: SessionTask) -> None:
    """Run `task` in the request's unit of work, scoped to the caller (its writes commit
    or roll back with the route's), once both the session and the caller are known; a
    route that never opens a session never runs it."""
    request.state.session_tasks = [*getattr(request.state, "session_tasks", ()), task]


async def _run_session_tasks(request: Request, session: AsyncSession) -> None:
    tasks: list[SessionTask] = getattr(request.state, "session_tasks", [])
    request.state.session_tasks = []
    for task in tasks:
        await task(session)


def bound_tenant(session: AsyncSession) -> TenantContext | None:
    context: TenantContext | None = session.sync_session.info.get(_BOUND_KEY)
    return context


@event.listens_for(Session, "after_begin")
def _apply_bound_tenant(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    if transaction.nested:
        # A SAVEPOINT (`begin_nested()`) runs inside a transaction whose context is set
        # already; setting it again would undo what the transaction widened since
        # (`set_system_context` of a claim or a token lookup) and re-run the recheck.
        return
    session.info[_BEGUN_KEY] = True
    # kit.rows reads on this connection until the transaction ends, without asking the
    # session for it again.
    session.info[_DRIVER_KEY] = connection.connection.dbapi_connection.driver_connection  # type: ignore[union-attr]
    context: TenantContext | None = session.info.get(_BOUND_KEY)
    if context is None:
        return
    if session.info.pop(_DEFER_KEY, False):
        session.info[_PENDING_KEY] = context
    else:
        _send_context(connection, context)


def _send_context(connection: Connection, context: TenantContext) -> None:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(context.sql, context.parameters())
        row = cursor.fetchone()
    finally:
        cursor.close()
    confirm_context(context, row[0] if row is not None else None)


@event.listens_for(Session, "after_transaction_end")
def _note_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BEGUN_KEY, None)
        session.info.pop(_DRIVER_KEY, None)


def transaction_driver_connection(session: AsyncSession) -> Any | None:
    """The driver connection of the session's current transaction, if one has begun."""
    return session.sync_session.info.get(_DRIVER_KEY)


async def begin_for_first_statement(session: AsyncSession) -> tuple[Any, TenantContext | None]:
    """Begin the session's transaction for a statement the caller sends on the driver
    connection itself (kit.rows), without sending the tenant context yet.

    Returns the driver connection and the context the caller must send before its own
    statement, in one pipeline with it: the BEGIN, the context and the first statement
    then take one round trip instead of three. A context left unsent fails closed
    (row-level security shows no rows without one), it never widens access.
    """
    info = session.sync_session.info
    info[_DEFER_KEY] = True
    try:
        await session.connection()
    finally:
        info.pop(_DEFER_KEY, None)
    pending: TenantContext | None = info.pop(_PENDING_KEY, None)
    return info.get(_DRIVER_KEY), pending


async def set_tenant_context(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    role: str,
) -> None:
    """The context of one transaction (a login, a reset link: the caller is found by
    the flow itself, not by a credential)."""
    context = TenantContext(user_id=user_id, organization_id=organization_id, role=role)
    await session.execute(_SET_CONTEXT, context.parameters())


async def set_system_context(session: AsyncSession) -> None:
    """Cross-tenant access for the few flows that must find a row before knowing its
    tenant: login by email, refresh-token and reset-token lookups, provisioning."""
    await session.execute(text("SELECT set_config('app.system', 'on', true)"))
