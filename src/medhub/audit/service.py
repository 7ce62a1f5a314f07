"""The audit trail: `record()` from any domain, listing for admins, and chain verification."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from medhub.audit.repository import ActivityLogRepository, LogFilters
from medhub.authz.principal import Principal
from medhub.kit.context import current_client
from medhub.kit.pagination import PageParams
from medhub.models.audit import ActivityLog

_PENDING_KEY = "medhub.pending_audit"


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

    Writing last keeps the audit chain's lock (taken by the insert trigger) held
    only for the commit itself, and the row shares the fate of the action: a
    rolled-back action leaves no audit row, a committed one always has it.
    """
    ip, user_agent = current_client()
    details = dict(metadata or {})
    if actor is not None and actor.api_key_id is not None:
        details.setdefault("api_key_id", str(actor.api_key_id))
    entry = ActivityLog(
        organization_id=organization_id or (actor.organization_id if actor else None),
        user_id=user_id or (actor.user_id if actor else None),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        ip_address=ip,
        user_agent=user_agent,
        details=details,
    )
    session.info.setdefault(_PENDING_KEY, []).append(entry)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[ActivityLog] = session.info.pop(_PENDING_KEY, [])
    if pending:
        session.add_all(pending)
        session.flush()


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


async def list_logs(
    session: AsyncSession, principal: Principal, filters: LogFilters, page: PageParams
) -> tuple[Sequence[ActivityLog], int]:
    repository = ActivityLogRepository(session)
    statement = repository.readable_statement(principal, filters)
    return await repository.paginate(statement, page)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows_checked: int
    first_bad_seq: int | None = None
    first_bad_id: uuid.UUID | None = None
    problem: str | None = None


VERIFY_BATCH = 5000


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the log in chain order recomputing every hash; name the first bad row.

    Detects an edited row (its hash no longer matches its content), a deleted or
    reordered row (a gap in `seq` or a broken `prev_hash` link) and a truncated
    tail (the chain tip names a row that is gone).
    """
    await session.execute(text("SELECT set_config('app.system', 'on', true)"))
    expected_prev = ""
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        rows = (
            await session.execute(
                text(
                    "SELECT seq, id, prev_hash, row_hash, activity_log_digest(a) AS recomputed "
                    "FROM activity_logs a WHERE seq > :after ORDER BY seq LIMIT :n"
                ),
                {"after": last_seq, "n": VERIFY_BATCH},
            )
        ).all()
        if not rows:
            break
        for seq, row_id, prev_hash, row_hash, recomputed in rows:
            checked += 1
            if seq != expected_seq:
                return ChainReport(False, checked, seq, row_id, f"row(s) missing before seq {seq}")
            if prev_hash != expected_prev:
                return ChainReport(False, checked, seq, row_id, "link to previous row broken")
            if row_hash != recomputed:
                return ChainReport(False, checked, seq, row_id, "content does not match its hash")
            expected_prev = row_hash
            expected_seq += 1
            last_seq = seq
    tip = (await session.execute(text("SELECT last_seq, last_hash FROM activity_log_chain"))).one()
    if tip.last_seq != last_seq or tip.last_hash != expected_prev:
        return ChainReport(
            False, checked, last_seq + 1, None, f"chain tip is at seq {tip.last_seq}: rows missing"
        )
    return ChainReport(True, checked)


async def count_for_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count()).select_from(ActivityLog).where(ActivityLog.user_id == user_id)
    )
    return int(result.scalar_one())
