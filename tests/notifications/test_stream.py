"""GET /api/v1/notifications/stream, on real servers: two API processes over one database,
the hub's LISTEN/NOTIFY fan-out between them, replay, revocation, and many idle streams."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from medhub.auth.runtime import AuthRuntime
from medhub.config import Settings
from medhub.notifications.notify_hub import NotifyHub
from medhub.notifications.service import notify
from tests.factories import DEFAULT_PASSWORD, Account, Factory
from tests.notifications.conftest import (
    URL,
    AdminSql,
    LiveApp,
    Stream,
    live_app,
    open_stream,
    with_heartbeat,
)
from tests.notifications.helpers import send, send_many
from tests.waiting import eventually


@pytest.fixture
async def servers(settings: Settings) -> AsyncIterator[tuple[LiveApp, LiveApp]]:
    """Two API processes' worth of app (A and B) over the same database."""
    async with live_app(settings) as a, live_app(settings) as b:
        yield a, b


@pytest.fixture
async def ann(factory: Factory) -> Account:
    return await factory.user("patient", full_name="Ann Lee")


@pytest.fixture
async def bob(factory: Factory) -> Account:
    return await factory.user("customer", full_name="Bob Roe")


# --- live delivery ------------------------------------------------------------------------


async def test_a_notification_committed_on_a_reaches_a_stream_on_b(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient, ann: Account, bob: Account
) -> None:
    a, b = servers
    async with open_stream(http, b.base_url, ann.headers) as stream:
        assert stream.events[0].retry == "3000"
        await send(a.database, bob.id, title="for bob")
        sent = await send(
            a.database, ann.id, "prescription", "New prescription", "RX-20261121-0001", {"rx": 1}
        )
        assert sent is not None

        await stream.wait_until(lambda s: len(s.notifications) == 1, seconds=5)

        [event] = [e for e in stream.events if e.event == "notification"]
        assert event.id == str(sent.seq)
        payload = event.json()
        assert payload["id"] == str(sent.id)
        assert payload["seq"] == sent.seq
        assert payload["category"] == "prescription"
        assert payload["title"] == "New prescription"
        assert payload["body"] == "RX-20261121-0001"
        assert payload["data"] == {"rx": 1}
        assert payload["is_read"] is False


async def test_an_open_stream_holds_no_database_connection(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient, ann: Account
) -> None:
    _, b = servers
    async with contextlib.AsyncExitStack() as streams:
        for _ in range(8):
            await streams.enter_async_context(open_stream(http, b.base_url, ann.headers))
        assert b.hub.subscriber_count == 8
        assert b.database.pool_status()["checked_out"] == 0


# --- resuming -------------------------------------------------------------------------------


async def test_last_event_id_replays_exactly_the_missed_ones_in_order(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient, ann: Account, bob: Account
) -> None:
    a, b = servers
    seqs = await send_many(a.database, ann.id, 4)
    await send(a.database, bob.id)  # someone else's, in between

    headers = {**ann.headers, "Last-Event-ID": str(seqs[1])}
    async with open_stream(http, b.base_url, headers) as stream:
        assert stream.ids == seqs[2:]
        assert [n["title"] for n in stream.notifications] == ["n3", "n4"]
        live = await send(a.database, ann.id, title="live")
        fence = await send(a.database, ann.id, title="fence")
        assert live is not None
        assert fence is not None
        # A stream delivers in order: once the later notification is there, a duplicate
        # (or a gap) before it would be there too.
        await stream.wait_until(lambda s: fence.seq in s.ids)
        assert stream.ids == [*seqs[2:], live.seq, fence.seq], "no gap, no duplicate"


async def test_the_query_parameter_resumes_too_and_zero_means_everything(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient, ann: Account
) -> None:
    a, b = servers
    seqs = await send_many(a.database, ann.id, 3)

    async with open_stream(http, b.base_url, ann.headers, params={"last_event_id": "0"}) as s:
        assert s.ids == seqs
    async with open_stream(
        http, b.base_url, ann.headers, params={"last_event_id": str(seqs[2])}
    ) as s:
        assert s.ids == []


async def test_a_replay_longer_than_one_batch_arrives_whole(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient, admin_sql: AdminSql, ann: Account
) -> None:
    _, b = servers
    admin_sql(
        "INSERT INTO notifications (id, user_id, category, title, body)"
        " SELECT gen_random_uuid(), %s, 'system', 'bulk ' || n, '' FROM generate_series(1, 250) n",
        [ann.id],
    )
    expected = [row[0] for row in admin_sql("SELECT seq FROM notifications ORDER BY seq")]

    async with open_stream(http, b.base_url, {**ann.headers, "Last-Event-ID": "0"}) as stream:
        assert stream.ids == expected


async def test_without_last_event_id_only_new_ones_are_sent(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient, ann: Account
) -> None:
    a, b = servers
    await send_many(a.database, ann.id, 2)
    async with open_stream(http, b.base_url, ann.headers) as stream:
        new = await send(a.database, ann.id, title="new")
        assert new is not None
        await stream.wait_until(lambda s: len(s.ids) == 1)
        assert stream.ids == [new.seq]


async def test_a_bad_last_event_id_is_400(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient, ann: Account
) -> None:
    _, b = servers
    header = await http.get(
        f"{b.base_url}{URL}/stream", headers={**ann.headers, "Last-Event-ID": "yesterday"}
    )
    query = await http.get(
        f"{b.base_url}{URL}/stream", headers=ann.headers, params={"last_event_id": "-1"}
    )

    for response, field in ((header, "Last-Event-ID"), (query, "last_event_id")):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
        assert [d["field"] for d in response.json()["error"]["details"]] == [field]


# --- authentication and its end ---------------------------------------------------------------


async def test_the_stream_needs_a_login(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient
) -> None:
    _, b = servers
    anonymous = await http.get(f"{b.base_url}{URL}/stream")
    forged = await http.get(
        f"{b.base_url}{URL}/stream", headers={"Authorization": "Bearer not.a.jwt"}
    )

    for response in (anonymous, forged):
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    assert b.hub.subscriber_count == 0


async def test_a_browser_stream_authenticates_with_its_cookie(
    servers: tuple[LiveApp, LiveApp], http: httpx.AsyncClient, ann: Account
) -> None:
    a, b = servers
    login = await http.post(
        f"{a.base_url}/api/v1/auth/login",
        json={"email": ann.email, "password": DEFAULT_PASSWORD, "use_cookies": True},
    )
    assert login.status_code == 200, login.text
    cookie = {"Cookie": f"medhub_access={login.cookies['medhub_access']}"}

    async with open_stream(http, b.base_url, cookie) as stream:
        sent = await send(a.database, ann.id)
        assert sent is not None
        await stream.wait_until(lambda s: s.ids == [sent.seq])


async def test_logout_ends_the_stream_even_without_the_revocation_notice(
    settings: Settings, http: httpx.AsyncClient, ann: Account
) -> None:
    """The heartbeat re-checks the login session, whatever else happens."""
    async with live_app(with_heartbeat(settings, 0.3)) as b:
        async with open_stream(http, b.base_url, ann.headers) as stream:
            logout = await http.post(f"{b.base_url}/api/v1/auth/logout", headers=ann.headers)
            assert logout.status_code == 200, logout.text

            await stream.wait_ended(seconds=5)

            assert stream.events[-1].event == "closed"
            assert stream.events[-1].json() == {"reason": "session_ended"}
        assert b.hub.subscriber_count == 0
        again = await http.get(f"{b.base_url}{URL}/stream", headers=ann.headers)
        assert again.status_code == 401


async def test_the_revocation_notice_ends_only_that_sessions_streams_at_once(
    servers: tuple[LiveApp, LiveApp],
    http: httpx.AsyncClient,
    admin_sql: AdminSql,
    factory: Factory,
    ann: Account,
) -> None:
    _, b = servers
    other_device = Account(
        id=ann.id,
        email=ann.email,
        password=ann.password,
        role=ann.role,
        organization_id=None,
    )
    await factory.login(other_device)
    [(session_id,)] = admin_sql(
        "SELECT id FROM auth_sessions WHERE user_id = %s ORDER BY created_at LIMIT 1", [ann.id]
    )
    async with (
        open_stream(http, b.base_url, ann.headers) as first,
        open_stream(http, b.base_url, other_device.headers) as second,
    ):
        admin_sql("UPDATE auth_sessions SET revoked_at = now() WHERE id = %s", [session_id])
        admin_sql("SELECT pg_notify('medhub_session_revoked', %s)", [str(session_id)])

        # Far sooner than the (15 s) heartbeat would notice.
        await first.wait_ended(seconds=3)
        assert first.events[-1].json() == {"reason": "session_ended"}
        assert not second.ended
        assert b.hub.subscriber_count == 1


# --- many streams, one process -----------------------------------------------------------------


async def _accounts(factory: Factory, admin_sql: AdminSql, count: int) -> list[Account]:
    """`count` logged-in patients, made in bulk (hashing 200 passwords would take long)."""
    template = await factory.user("patient", login=False)
    admin_sql(
        "INSERT INTO users (id, email, password_hash, full_name, role, is_verified, is_active,"
        " is_approved)"
        " SELECT gen_random_uuid(), 'bulk' || n || '@example.org', password_hash, 'Bulk ' || n,"
        " 'patient', true, true, true FROM users, generate_series(1, %s) n WHERE id = %s",
        [count, template.id],
    )
    rows = admin_sql(
        "INSERT INTO auth_sessions (id, user_id, expires_at, uses_cookies)"
        " SELECT gen_random_uuid(), id, now() + interval '1 hour', false FROM users"
        " WHERE email LIKE 'bulk%@example.org' RETURNING user_id, id"
    )
    runtime: AuthRuntime = factory.runtime
    accounts: list[Account] = []
    for user_id, session_id in rows:
        token, _ = runtime.codec.issue(
            user_id=user_id,
            role="patient",
            org_id=None,
            session_id=session_id,
            ttl=timedelta(minutes=15),
        )
        accounts.append(
            Account(
                id=user_id,
                email="",
                password="",
                role="patient",
                organization_id=None,
                access_token=token,
            )
        )
    return accounts


async def test_two_hundred_idle_streams_only_the_addressee_hears(
    settings: Settings,
    http: httpx.AsyncClient,
    admin_sql: AdminSql,
    factory: Factory,
) -> None:
    accounts = await _accounts(factory, admin_sql, 200)
    async with live_app(settings) as server, contextlib.AsyncExitStack() as exits:
        streams: list[Stream] = list(
            await asyncio.gather(
                *(
                    exits.enter_async_context(open_stream(http, server.base_url, a.headers))
                    for a in accounts
                )
            )
        )
        assert server.hub.subscriber_count == 200
        assert server.database.pool_status()["checked_out"] == 0

        target = 137
        sent = await send(server.database, accounts[target].id, title="only you")
        assert sent is not None
        await streams[target].wait_until(lambda s: s.ids == [sent.seq])
        # Then one for each of the others, committed after it. A stream delivers in
        # order, so once every other stream has its own, whatever it had heard of the
        # first would be there too.
        others = [i for i in range(len(accounts)) if i != target]
        async with server.database.unit_of_work() as session:
            for i in others:
                assert await notify(session, accounts[i].id, "system", "later", "") is not None
        await asyncio.gather(
            *(streams[i].wait_until(lambda s: bool(s.notifications), seconds=15) for i in others)
        )

        heard = {i: [n["title"] for n in s.notifications] for i, s in enumerate(streams)}
        assert [i for i, titles in heard.items() if "only you" in titles] == [target]
        assert all(heard[i] == ["later"] for i in others)


# --- the hub ------------------------------------------------------------------------------


async def test_after_the_listen_connection_drops_the_stream_catches_up(
    settings: Settings, http: httpx.AsyncClient, admin_sql: AdminSql, ann: Account
) -> None:
    async with live_app(settings) as server:
        hub = server.hub
        # A slower first retry, so the next notification lands while nobody listens.
        hub.reconnect_min_seconds = 0.8
        async with open_stream(http, server.base_url, ann.headers) as stream:
            made = hub.connections_made
            admin_sql("SELECT pg_terminate_backend(%s)", [hub.backend_pid])
            await eventually(lambda: not hub.listening, message="the hub noticed nothing")
            missed = await send(server.database, ann.id, title="while disconnected")
            assert missed is not None

            await stream.wait_until(lambda s: s.ids == [missed.seq], seconds=8)

            assert hub.connections_made == made + 1
            after = await send(server.database, ann.id, title="after")
            assert after is not None
            await stream.wait_until(lambda s: s.ids == [missed.seq, after.seq])


async def test_a_subscriber_that_does_not_keep_up_is_dropped_alone() -> None:
    hub = NotifyHub("postgresql://unused", queue_size=2)
    user = uuid.uuid4()
    slow = hub.subscribe(user, None)
    other = hub.subscribe(uuid.uuid4(), None)
    payload = '{"user_id": "%s", "seq": %d}'

    for seq in (1, 2, 3):
        hub.dispatch("medhub_notifications", payload % (user, seq))
    hub.dispatch("medhub_notifications", payload % (other.user_id, 4))

    assert [type(e).__name__ for e in slow.drain()] == ["Closed"]
    assert slow.closed
    assert [getattr(e, "seq", None) for e in other.drain()] == [4]
    assert hub.subscriber_count == 1
    # A malformed payload is ignored.
    hub.dispatch("medhub_notifications", "not json")
    hub.dispatch("medhub_session_revoked", "not a uuid")
    assert hub.subscriber_count == 1


async def test_one_revocation_notice_may_name_several_sessions() -> None:
    hub = NotifyHub("postgresql://unused")
    user = uuid.uuid4()
    first, second, third = (uuid.uuid4() for _ in range(3))
    subscriptions = [hub.subscribe(user, first), hub.subscribe(user, second)]
    kept = hub.subscribe(user, third)

    hub.dispatch("medhub_session_revoked", f"{first},{second}")

    for subscription in subscriptions:
        assert subscription.closed
        assert [getattr(e, "reason", None) for e in subscription.drain()] == ["session_revoked"]
    assert not kept.closed
    assert hub.subscriber_count == 1
