"""notify(): preferences decide the channels; everything shares the caller's transaction;
row-level security keeps every user to their own notifications."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, text, update

from medhub.kit.db import Database
from medhub.kit.errors import NotFound
from medhub.kit.jobs import defer
from medhub.kit.tenancy import set_tenant_context
from medhub.models.notifications import Notification, NotificationPreference, SmsMessage
from medhub.notifications.service import notify
from medhub.notifications.tasks import send_sms
from tests.conftest import DatabaseUrls
from tests.factories import Account, Factory, mail_to, run_jobs, text_body
from tests.notifications.conftest import URL, AdminSql
from tests.notifications.helpers import send
from tests.waiting import eventually


@pytest.fixture
async def ann(factory: Factory) -> Account:
    return await factory.user("patient", full_name="Ann Lee")


@pytest.fixture
async def bob(factory: Factory) -> Account:
    return await factory.user("customer", full_name="Bob Roe")


async def set_preferences(
    client: httpx.AsyncClient, account: Account, *changes: dict[str, Any]
) -> None:
    response = await client.put(
        f"{URL}/preferences", headers=account.headers, json={"preferences": list(changes)}
    )
    assert response.status_code == 200, response.text


def sms_outbox(app: FastAPI) -> list[dict[str, Any]]:
    directory: Path = app.state.settings.data_dir / "sms-outbox"
    return [
        json.loads(line)
        for path in sorted(directory.glob("*.log"))
        for line in path.read_text().splitlines()
    ]


# --- channels ------------------------------------------------------------------------------


async def test_defaults_store_it_in_app_and_email_an_order_update(
    app: FastAPI, admin_sql: AdminSql, ann: Account
) -> None:
    notification = await send(
        app, ann.id, "order", "Order ORD-2026-000042 shipped", "It arrives Tuesday.", {"n": 42}
    )

    assert notification is not None
    assert notification.seq > 0
    assert admin_sql("SELECT user_id, category, title, body, data, read_at FROM notifications") == [
        (ann.id, "order", "Order ORD-2026-000042 shipped", "It arrives Tuesday.", {"n": 42}, None)
    ]
    assert admin_sql(
        "SELECT to_address, template, subject, user_id, status FROM email_messages"
    ) == [(ann.email, "notification", "Order ORD-2026-000042 shipped", ann.id, "queued")]
    [message] = await mail_to(app, ann.email, "notification")
    body = text_body(message)
    assert "Hello Ann Lee," in body
    assert "It arrives Tuesday." in body
    assert "/notifications" in body
    assert admin_sql("SELECT count(*) FROM sms_messages") == [(0,)]


async def test_an_account_notice_is_not_emailed_by_default(
    app: FastAPI, admin_sql: AdminSql, ann: Account
) -> None:
    assert await send(app, ann.id, "account", "Profile updated") is not None
    assert admin_sql("SELECT count(*) FROM notifications") == [(1,)]
    assert admin_sql("SELECT count(*) FROM email_messages") == [(0,)]


async def test_in_app_off_stores_nothing_but_the_email_still_goes(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account
) -> None:
    await set_preferences(client, ann, {"category": "order", "in_app": False})

    assert await send(app, ann.id, "order", "Shipped") is None

    assert admin_sql("SELECT count(*) FROM notifications") == [(0,)]
    assert admin_sql("SELECT to_address FROM email_messages") == [(ann.email,)]


async def test_email_off_sends_no_email(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account
) -> None:
    await set_preferences(client, ann, {"category": "security", "email": False})

    assert await send(app, ann.id, "security", "New login") is not None

    assert admin_sql("SELECT count(*) FROM email_messages") == [(0,)]


async def test_sms_goes_through_the_job_once(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account
) -> None:
    admin_sql("UPDATE users SET phone = '+44 20 7946 0001' WHERE id = %s", [ann.id])
    await set_preferences(client, ann, {"category": "reminder", "sms": True, "email": False})

    await send(app, ann.id, "reminder", "Take Amoxicillin", "500 mg\nwith food")

    [(sms_id, to_number, body, status)] = admin_sql(
        "SELECT id, to_number, body, status FROM sms_messages"
    )
    assert (to_number, body, status) == (
        "+44 20 7946 0001",
        "Take Amoxicillin: 500 mg\nwith food",
        "queued",
    )
    assert admin_sql(
        "SELECT task_name, queue_name, args FROM procrastinate_jobs WHERE task_name LIKE '%sms'"
    ) == [("medhub.send_sms", "sms", {"sms_id": str(sms_id)})]

    await run_jobs(app)

    assert sms_outbox(app) == [
        {
            "at": sms_outbox(app)[0]["at"],
            "to": "+44 20 7946 0001",
            "body": "Take Amoxicillin: 500 mg\nwith food",
        }
    ]
    [(status, attempts, sent_at)] = admin_sql("SELECT status, attempts, sent_at FROM sms_messages")
    assert (status, attempts) == ("sent", 1)
    assert sent_at is not None

    # The same job again (a retry after a lost acknowledgement): nothing is sent twice.
    async with app.state.database.unit_of_work() as session:
        await defer(session, send_sms, sms_id=str(sms_id))
    await run_jobs(app)
    assert len(sms_outbox(app)) == 1
    assert admin_sql("SELECT attempts FROM sms_messages") == [(1,)]


async def test_sms_on_without_a_phone_sends_nothing(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account
) -> None:
    await set_preferences(client, ann, {"category": "reminder", "sms": True})

    await send(app, ann.id, "reminder", "Take your pills")

    assert admin_sql("SELECT count(*) FROM sms_messages") == [(0,)]
    assert admin_sql("SELECT count(*) FROM notifications") == [(1,)]


async def test_a_deactivated_account_gets_no_email(
    app: FastAPI, admin_sql: AdminSql, ann: Account
) -> None:
    admin_sql("UPDATE users SET is_active = false WHERE id = %s", [ann.id])

    await send(app, ann.id, "security", "Account locked")

    assert admin_sql("SELECT count(*) FROM email_messages") == [(0,)]


async def test_long_titles_are_cut_to_fit(app: FastAPI, admin_sql: AdminSql, ann: Account) -> None:
    await send(app, ann.id, "system", "x" * 300)
    [(title,)] = admin_sql("SELECT title FROM notifications")
    assert len(title) == 255
    assert title.endswith("…")


async def test_unknown_user_or_category_is_refused(app: FastAPI, ann: Account) -> None:
    with pytest.raises(NotFound):
        await send(app, uuid.uuid4(), "system", "Hello")
    with pytest.raises(ValueError, match="gossip"):
        await send(app, ann.id, "gossip", "Hello")


# --- the caller's transaction and context ---------------------------------------------------


async def _listen(url: str) -> psycopg.AsyncConnection[Any]:
    connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await connection.execute("LISTEN medhub_notifications")
    return connection


async def _received(connection: psycopg.AsyncConnection[Any], wait: float) -> list[Any]:
    return [json.loads(n.payload) async for n in connection.notifies(timeout=wait)]


async def test_a_rolled_back_notification_is_never_pushed(
    app: FastAPI, database_urls: DatabaseUrls, admin_sql: AdminSql, ann: Account
) -> None:
    database: Database = app.state.database

    async def notify_then_fail() -> None:
        async with database.unit_of_work() as session:
            rolled_back = await notify(session, ann.id, "order", "Never", "rolled back")
            assert rolled_back is not None
            raise RuntimeError("the request failed after notifying")

    listener = await _listen(database_urls.app)
    try:
        with pytest.raises(RuntimeError, match="after notifying"):
            await notify_then_fail()
        assert await _received(listener, 0.3) == []

        committed = await send(app, ann.id, "order", "Kept")
        assert committed is not None
        assert await _received(listener, 0.5) == [{"user_id": str(ann.id), "seq": committed.seq}]
    finally:
        await listener.close()
    assert admin_sql("SELECT title FROM notifications") == [("Kept",)]
    # Its email went with it.
    assert admin_sql("SELECT subject FROM email_messages") == [("Kept",)]


async def test_notify_works_in_another_tenants_context_without_widening_it(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, factory: Factory, ann: Account
) -> None:
    pharmacy = await factory.organization("pharmacy")
    pharmacist = await factory.user("pharmacist", organization_id=pharmacy.id)
    admin_sql("UPDATE users SET phone = '+1 555 0100' WHERE id = %s", [ann.id])
    await set_preferences(client, ann, {"category": "prescription", "sms": True})

    async with app.state.database.unit_of_work() as session:
        await set_tenant_context(
            session, user_id=pharmacist.id, organization_id=pharmacy.id, role="pharmacist"
        )
        notification = await notify(session, ann.id, "prescription", "Dispensed", "RX-1")
        assert notification is not None
        assert notification.user_id == ann.id
        context = (
            await session.execute(
                text(
                    "SELECT current_setting('app.system', true), current_setting('app.user_id',"
                    " true), current_setting('app.org_id', true)"
                )
            )
        ).one()
        assert tuple(context) == ("", str(pharmacist.id), str(pharmacy.id))
        # The pharmacist wrote it, and still cannot read it back.
        assert (await session.execute(select(Notification))).scalars().all() == []

    listed = (await client.get(URL, headers=ann.headers)).json()["data"]["notifications"]
    assert [n["title"] for n in listed] == ["Dispensed"]
    assert admin_sql("SELECT to_address FROM email_messages") == [(ann.email,)]
    assert admin_sql("SELECT user_id, to_number FROM sms_messages") == [(ann.id, "+1 555 0100")]


async def test_one_users_notifications_commit_in_seq_order(
    app: FastAPI, admin_sql: AdminSql, ann: Account
) -> None:
    """A later seq waits for the earlier one's transaction: a stream that sent seq N
    never finds an earlier one committed afterwards."""
    database: Database = app.state.database
    async with database.unit_of_work() as first:
        earlier = await notify(first, ann.id, "system", "first", "")
        assert earlier is not None
        second = asyncio.create_task(send(database, ann.id, title="second"))
        # Until the second transaction is seen queued on a lock (or finished), "not done
        # yet" could just mean "not scheduled yet".
        await eventually(
            lambda: second.done() or _sessions_waiting_on_a_lock(admin_sql) > 0,
            message="the second notification neither finished nor waited on a lock",
        )
        assert not second.done(), "the second notification must wait for the first commit"
    later = await asyncio.wait_for(second, 5)
    assert later is not None
    assert later.seq > earlier.seq
    assert admin_sql("SELECT title FROM notifications ORDER BY seq") == [("first",), ("second",)]


def _sessions_waiting_on_a_lock(admin_sql: AdminSql) -> int:
    [(waiting,)] = admin_sql(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return int(waiting)


# --- row-level security -----------------------------------------------------------------------


async def test_a_user_context_cannot_touch_another_users_rows(
    app: FastAPI, client: httpx.AsyncClient, admin_sql: AdminSql, ann: Account, bob: Account
) -> None:
    anns = await send(app, ann.id, title="for ann")
    bobs = await send(app, bob.id, title="for bob")
    assert anns is not None
    assert bobs is not None
    await set_preferences(client, bob, {"category": "order", "sms": True})
    admin_sql(
        "INSERT INTO sms_messages (id, user_id, to_number, body, status, attempts)"
        " VALUES (gen_random_uuid(), %s, '+1 555 0199', 'bob only', 'queued', 0)",
        [bob.id],
    )

    async with app.state.database.unit_of_work() as session:
        await set_tenant_context(session, user_id=ann.id, organization_id=None, role="patient")
        visible = (await session.execute(select(Notification))).scalars().all()
        assert [n.title for n in visible] == ["for ann"]
        assert (await session.execute(select(NotificationPreference))).scalars().all() == []
        assert (await session.execute(select(SmsMessage))).scalars().all() == []
        changed = await session.execute(
            update(Notification)
            .where(Notification.id == bobs.id)
            .values(title="hijacked")
            .returning(Notification.id)
        )
        assert changed.all() == []
        removed = await session.execute(
            delete(Notification).where(Notification.id == bobs.id).returning(Notification.id)
        )
        assert removed.all() == []

    async with app.state.database.unit_of_work() as session:
        # No context at all: nothing.
        assert (await session.execute(select(Notification))).scalars().all() == []

    assert admin_sql("SELECT title FROM notifications ORDER BY seq") == [
        ("for ann",),
        ("for bob",),
    ]
