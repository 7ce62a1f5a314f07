"""The audit trail: `record()` from any domain, listing for admins, and chain verification."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from medhub.audit.repository import ActivityLogRepository
from medhub.audit.schemas import ChartAccessEntry, ChartAccessFilters, LogFilters
from medhub.authz.principal import Principal
from medhub.kit.context import current_client
from medhub.kit.db import Database
from medhub.kit.errors import NotFound
from medhub.kit.pagination import PageParams
from medhub.kit.txqueue import TransactionQueue
from medhub.models.audit import ActivityLog
from medhub.models.base import new_id

# Written just before the outermost COMMIT (see kit.txqueue for savepoints).
_PENDING: TransactionQueue[dict[str, Any]] = TransactionQueue("audit")
_ACTIVITY_LOGS: Table = ActivityLog.__table__  # type: ignore[assignment]


def record(
    session: AsyncSession,
    action: str,
    *,
    actor: Principal | None = None,
    user_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Append an audit row to this unit of work; it is written just before COMMIT.

    The row shares the fate of the action: a rolled-back action leaves no audit row,
    a committed one always has it. The insert takes no shared lock; the row joins the
    hash chain when the sealer next runs (`seal_pending`).
    """
    ip, user_agent = current_client()
    details = dict(metadata or {})
    if actor is not None and actor.api_key_id is not None:
        details.setdefault("api_key_id", str(actor.api_key_id))
    row: dict[str, Any] = {
        "id": new_id(),
        "organization_id": organization_id or (actor.organization_id if actor else None),
        "user_id": user_id or (actor.user_id if actor else None),
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "ip_address": ip,
        "user_agent": user_agent,
        "metadata": details,
    }
    _PENDING.add(session, row)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending = _PENDING.take(session)
    if pending:
        # A plain INSERT, without the RETURNING an ORM flush adds to fetch seq and
        # hashes: RETURNING makes PostgreSQL hold the new row to the *read* policy
        # as well, which a row about no tenant, written in no tenant's context (a
        # background job, a maintenance command), does not pass.
        session.execute(insert(_ACTIVITY_LOGS), pending)


async def list_logs(
    session: AsyncSession, principal: Principal, filters: LogFilters, page: PageParams
) -> tuple[Sequence[ActivityLog], int]:
    """The log, newest first: an organization's own rows for its admins, all for super admins."""
    if (
        not principal.is_super_admin
        and filters.organization_id is not None
        and filters.organization_id != principal.organization_id
    ):
        # Another tenant is not there for an organization admin, like any other tenant row.
        raise NotFound("Organization not found")
    repository = ActivityLogRepository(session)
    statement = repository.readable_statement(principal, filters)
    return await repository.paginate(statement, page)


async def patient_access_log(
    session: AsyncSession, filters: ChartAccessFilters, page: PageParams
) -> tuple[list[ChartAccessEntry], int]:
    """Who read or changed the calling patient's charts and their clinical content,
    newest first: the rows about the live charts linked to the account of the
    session's tenant context (the patient's own actions included, marked `is_self`).
    Only through migration 0017's function, which returns no address, device or
    metadata; for any other caller it finds nothing."""
    rows, total = await ActivityLogRepository(session).patient_access_page(filters, page)
    entries = [
        ChartAccessEntry(
            occurred_at=row.occurred_at,
            action=row.action,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            actor_kind=row.actor_kind,
            actor_name=row.actor_name,
            actor_role=row.actor_role,
            organization_id=row.organization_id,
            organization_name=row.organization_name,
            is_self=row.is_self,
        )
        for row in rows
    ]
    return entries, total


@dataclass(frozen=True)
class ChainReport:
    """The verdict of `verify_chain`. `first_bad_seq` is a chain position (`chain_seq`)."""

    ok: bool
    rows_checked: int
    first_bad_seq: int | None = None
    first_bad_id: uuid.UUID | None = None
    problem: str | None = None
    # Rows appended but not yet in the chain, and how long the oldest has waited.
    unsealed: int = 0
    oldest_unsealed_age: timedelta | None = None


VERIFY_BATCH = 5000
# Rows sealed per transaction: the tip lock is held for one batch, a few milliseconds.
SEAL_BATCH = 1000


async def seal_batch(session: AsyncSession, batch: int = SEAL_BATCH) -> int:
    """Chain up to `batch` unsealed rows of finished transactions; how many were sealed.

    Call it in a transaction of its own, committed at once: it holds the chain tip's
    lock (which serialises sealers) until then.
    """
    result = await session.execute(text("SELECT seal_activity_logs(:batch)"), {"batch": batch})
    return int(result.scalar_one())


async def seal_pending(database: Database, *, batch: int = SEAL_BATCH) -> int:
    """Seal batch after batch, each its own short transaction, until none is left.

    Rows of transactions still running wait for a later run. Safe beside another
    sealer: the second waits for the tip, then finds the rows already sealed or
    continues after them.
    """
    total = 0
    while True:
        async with database.unit_of_work() as session:
            sealed = await seal_batch(session, batch)
        total += sealed
        if sealed < batch:
            return total


def _row_problem(
    chain_seq: int,
    prev_hash: str | None,
    row_hash: str | None,
    recomputed: str | None,
    *,
    tip_seq: int,
    expected_seq: int,
    expected_prev: str,
) -> str | None:
    if chain_seq > tip_seq:
        return f"row past the chain tip (chain_seq {tip_seq})"
    if chain_seq != expected_seq:
        return f"row(s) missing before chain_seq {chain_seq}"
    if prev_hash != expected_prev:
        return "link to previous row broken"
    if row_hash is None or row_hash != recomputed:
        return "content does not match its hash"
    return None


async def _unsealed(session: AsyncSession) -> tuple[int, timedelta | None]:
    count, age = (
        await session.execute(
            text(
                "SELECT count(*), now() - min(created_at) FROM activity_logs"
                " WHERE chain_seq IS NULL"
            )
        )
    ).one()
    return int(count), age


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the sealed rows in chain order recomputing every hash; name the first bad row.

    Detects an edited row (its hash no longer matches its content), a deleted or
    reordered row (a gap in `chain_seq` or a broken `prev_hash` link), a truncated
    tail (the chain tip names a row that is gone), a row slipped in past the tip, and
    hashes on a row outside the chain. Unsealed rows are counted, not judged: they
    are not in the chain yet. Started outside a transaction, it reads one snapshot,
    so rows appended or sealed while it runs are neither half-seen nor mistaken for
    tampering.
    """
    if not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    await session.execute(text("SELECT set_config('app.system', 'on', true)"))
    tip = (await session.execute(text("SELECT last_seq, last_hash FROM activity_log_chain"))).one()
    unsealed, oldest = await _unsealed(session)
    expected_prev = ""
    expected_seq = 1
    checked = 0
    last_seq = 0
    last_id: uuid.UUID | None = None
    while True:
        rows = (
            await session.execute(
                text(
                    "SELECT chain_seq, id, prev_hash, row_hash, activity_log_digest(a)"
                    " FROM activity_logs a WHERE chain_seq > :after ORDER BY chain_seq LIMIT :n"
                ),
                {"after": last_seq, "n": VERIFY_BATCH},
            )
        ).all()
        if not rows:
            break
        for chain_seq, row_id, prev_hash, row_hash, recomputed in rows:
            checked += 1
            problem = _row_problem(
                chain_seq,
                prev_hash,
                row_hash,
                recomputed,
                tip_seq=tip.last_seq,
                expected_seq=expected_seq,
                expected_prev=expected_prev,
            )
            if problem is not None:
                return ChainReport(False, checked, chain_seq, row_id, problem, unsealed, oldest)
            expected_prev = row_hash
            expected_seq += 1
            last_seq, last_id = chain_seq, row_id
    if tip.last_seq != last_seq:
        return ChainReport(
            False,
            checked,
            last_seq + 1,
            None,
            f"chain tip is at chain_seq {tip.last_seq}: rows missing",
            unsealed,
            oldest,
        )
    if tip.last_hash != expected_prev:
        return ChainReport(
            False,
            checked,
            last_seq,
            last_id,
            "last row does not match the chain tip",
            unsealed,
            oldest,
        )
    # Only the sealer fills the hashes, together with the position: hashes without one
    # were written around it.
    outside = (
        await session.execute(
            text(
                "SELECT id FROM activity_logs WHERE chain_seq IS NULL"
                " AND (prev_hash IS NOT NULL OR row_hash IS NOT NULL) ORDER BY seq LIMIT 1"
            )
        )
    ).scalar_one_or_none()
    if outside is not None:
        return ChainReport(
            False, checked, None, outside, "hashes on a row outside the chain", unsealed, oldest
        )
    return ChainReport(True, checked, unsealed=unsealed, oldest_unsealed_age=oldest)


async def count_for_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count()).select_from(ActivityLog).where(ActivityLog.user_id == user_id)
    )
    return int(result.scalar_one())
