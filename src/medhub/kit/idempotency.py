"""`Idempotency-Key` for creating requests (orders, payments, prescriptions).

Same key and same body: the first answer is replayed. Same key, other body: 409.
The record is written in the request's own transaction, first thing:

- the first request inserts the key and holds that row's lock until it commits;
- a concurrent duplicate's INSERT waits on the lock, then sees the committed record
  and replays it (or, if the first one rolled back, goes ahead itself).

So two racing duplicates never both do the work, and a failed request leaves no
record behind (the client may retry with the same key).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.kit.errors import Conflict, ErrorDetail, ValidationFailed

MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(Conflict):
    default_message = "This Idempotency-Key was used with a different request"


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class IdempotencySlot:
    owner: str
    endpoint: str
    key: str


def request_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            "Invalid Idempotency-Key",
            details=[
                ErrorDetail(
                    field="Idempotency-Key",
                    message=f"1 to {MAX_KEY_LENGTH} printable characters",
                )
            ],
        )
    return key


async def claim(
    session: AsyncSession, *, owner: str, endpoint: str, key: str, fingerprint: str
) -> IdempotencySlot | Replay:
    """Claim `key` for this request, or get the answer of the request that had it."""
    key = check_key(key)
    inserted = await session.execute(
        text(
            "INSERT INTO idempotency_records"
            " (owner, endpoint, key, request_hash, status_code, response)"
            " VALUES (:owner, :endpoint, :key, :hash, 0, '{}')"
            " ON CONFLICT DO NOTHING RETURNING 1"
        ),
        {"owner": owner, "endpoint": endpoint, "key": key, "hash": fingerprint},
    )
    if inserted.first() is not None:
        return IdempotencySlot(owner, endpoint, key)
    row = (
        await session.execute(
            text(
                "SELECT request_hash, status_code, response FROM idempotency_records"
                " WHERE owner = :owner AND endpoint = :endpoint AND key = :key"
            ),
            {"owner": owner, "endpoint": endpoint, "key": key},
        )
    ).one()
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            details=[ErrorDetail(field="Idempotency-Key", message="already used for another body")]
        )
    return Replay(status_code=int(row.status_code), body=dict(row.response))


async def complete(
    session: AsyncSession, slot: IdempotencySlot, status_code: int, body: dict[str, Any]
) -> None:
    """Store the answer to replay; part of the same transaction as the work."""
    await session.execute(
        text(
            "UPDATE idempotency_records SET status_code = :status, response = CAST(:body AS jsonb)"
            " WHERE owner = :owner AND endpoint = :endpoint AND key = :key"
        ),
        {
            "status": status_code,
            "body": json.dumps(body),
            "owner": slot.owner,
            "endpoint": slot.endpoint,
            "key": slot.key,
        },
    )


async def purge(session: AsyncSession, retention_hours: int) -> int:
    result = await session.execute(
        text(
            "DELETE FROM idempotency_records"
            " WHERE created_at < now() - make_interval(hours => :hours)"
        ),
        {"hours": retention_hours},
    )
    return int(getattr(result, "rowcount", 0) or 0)
