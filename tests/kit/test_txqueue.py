"""Work queued on a session follows its outermost transaction, savepoints included."""

from __future__ import annotations

import pytest

from medhub.kit.db import Database
from medhub.kit.txqueue import TransactionQueue

PROBE: TransactionQueue[str] = TransactionQueue("test-probe")


async def test_items_are_taken_at_the_outer_commit_only(database: Database) -> None:
    async with database.unit_of_work() as session:
        PROBE.add(session, "kept")
        async with session.begin_nested():
            PROBE.add(session, "released")
            assert PROBE.take(session.sync_session) == [], "a savepoint commit is not the commit"
        savepoint = await session.begin_nested()
        PROBE.add(session, "dropped")
        await savepoint.rollback()
        assert PROBE.take(session.sync_session) == ["kept", "released"]


async def test_a_rollback_drops_everything(database: Database) -> None:
    async def fail() -> None:
        async with database.unit_of_work() as session:
            PROBE.add(session, "lost")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail()
    async with database.unit_of_work() as session:
        assert PROBE.take(session.sync_session) == []
