"""Queued emails follow the outermost transaction, savepoints included."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from medhub.kit.db import Database
from medhub.kit.email import queue_email
from tests.factories import outbox

CONTEXT = {"full_name": "Ann", "token": "t" * 40, "ttl_hours": 1}


async def test_email_goes_out_after_commit_only(app: FastAPI, database: Database) -> None:
    async with database.unit_of_work() as session:
        queue_email(session, "verify_email", "a@example.org", CONTEXT)
        assert outbox(app) == [], "nothing leaves before COMMIT"
    assert [m["To"] for m in outbox(app)] == ["a@example.org"]


async def test_rolled_back_work_sends_nothing(app: FastAPI, database: Database) -> None:
    async def fail() -> None:
        async with database.unit_of_work() as session:
            queue_email(session, "verify_email", "b@example.org", CONTEXT)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail()
    assert outbox(app) == []


async def test_savepoints_neither_send_early_nor_drop_earlier_mail(
    app: FastAPI, database: Database
) -> None:
    async with database.unit_of_work() as session:
        queue_email(session, "verify_email", "kept@example.org", CONTEXT)
        async with session.begin_nested():
            queue_email(session, "verify_email", "released@example.org", CONTEXT)
        assert outbox(app) == [], "releasing a savepoint is not the commit"
        savepoint = await session.begin_nested()
        queue_email(session, "verify_email", "dropped@example.org", CONTEXT)
        await savepoint.rollback()
    assert sorted(m["To"] for m in outbox(app)) == ["kept@example.org", "released@example.org"]
