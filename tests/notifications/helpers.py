"""Creating notifications the way every domain does: `notify()` in a unit of work."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

from medhub.kit.db import Database
from medhub.models.notifications import Notification
from medhub.notifications.service import notify


async def send(  # noqa: PLR0917 - the same arguments as notify()
    target: FastAPI | Database,
    user_id: uuid.UUID,
    category: str = "system",
    title: str = "Hello",
    body: str = "Something happened",
    data: dict[str, Any] | None = None,
) -> Notification | None:
    """One committed notification, written in no tenant's context at all (like a job)."""
    database: Database = target.state.database if isinstance(target, FastAPI) else target
    async with database.unit_of_work() as session:
        return await notify(session, user_id, category, title, body, data)


async def send_many(target: FastAPI | Database, user_id: uuid.UUID, count: int) -> list[int]:
    """`count` notifications titled "n1".."n<count>"; their seqs, in order."""
    seqs: list[int] = []
    for n in range(1, count + 1):
        notification = await send(target, user_id, title=f"n{n}", body=f"body {n}")
        assert notification is not None
        seqs.append(notification.seq)
    return seqs
