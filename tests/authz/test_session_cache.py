"""Session checks cached per process: fewer round trips, never a stale grant.

In-process tests count the statements a request sends; the two-process test runs two
real `medhub serve` processes on one database and shows that a logout, a password
change and a deactivation made through one are refused by the other on the very next
request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from medhub.authz.session_cache import SessionCache, SessionState
from medhub.config import Settings
from medhub.kit.db import Database
from tests.auth.helpers import API, AdminSql, login_ok, me
from tests.conftest import DatabaseUrls
from tests.factories import Factory
from tests.test_cli import Served, free_port
from tests.waiting import eventually


class Statements:
    """The SQL a block of code sends, as the driver sees it (SQLAlchemy's statements,
    kit.rows' queries and the tenant context alike), and whether each went out in a
    pipeline (queued with the next, one round trip for all)."""

    def __init__(self, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.sent: list[str] = []
        self.pipelined: list[bool] = []

    def __enter__(self) -> Statements:
        real = psycopg.AsyncCursor.execute
        statements = self

        async def recorded(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.sent.append(query if isinstance(query, str) else query.as_string(None))
            statements.pipelined.append(cursor.connection._pipeline is not None)
            return await real(cursor, query, *args, **kwargs)

        self.monkeypatch.setattr(psycopg.AsyncCursor, "execute", recorded)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.monkeypatch.undo()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_repeated_request_skips_the_session_check_and_sends_one_query_besides_scoping(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = await factory.user(login=False)
    tokens = await login_ok(client, account.email)
    with Statements(database, monkeypatch) as first:
        assert (await me(client, _bearer(tokens.access))).status_code == 200
    assert any("auth_context" in sql for sql in first.sent), first.sent
    with Statements(database, monkeypatch) as second:
        response = await me(client, _bearer(tokens.access))
    assert response.status_code == 200
    assert response.json()["data"]["email"] == account.email
    # The tenant context (with the session's recheck) and the profile: no auth_context(),
    # no other query; both in one pipeline with the BEGIN, so one round trip.
    assert len(second.sent) == 2, second.sent
    assert "set_config('app.user_id'" in second.sent[0]
    assert "session_still_valid" in second.sent[0]
    assert "FROM users" in second.sent[1]
    assert second.pipelined == [True, True]
    cache: SessionCache = app.state.session_cache
    assert cache.hits >= 1


class TestWithoutTheCache:
    @pytest.fixture
    def settings(self, make_settings: Callable[..., Settings]) -> Settings:
        return make_settings(SESSION_CACHE_SECONDS=0)

    async def test_every_request_checks_the_session(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        factory: Factory,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        account = await factory.user(login=False)
        tokens = await login_ok(client, account.email)
        for _ in range(2):
            with Statements(database, monkeypatch) as sent:
                assert (await me(client, _bearer(tokens.access))).status_code == 200
            assert sum("auth_context" in sql for sql in sent.sent) == 1, sent.sent
        assert len(app.state.session_cache) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("UPDATE users SET is_active = false WHERE id = %(user)s", "deactivated"),
        (
            "UPDATE organizations SET status = 'suspended'"
            " WHERE id = (SELECT organization_id FROM users WHERE id = %(user)s)",
            "suspended",
        ),
        (
            "UPDATE auth_sessions SET revoked_at = now() WHERE id = %(session)s",
            "session has ended",
        ),
    ],
    ids=["user-deactivated", "organization-suspended", "session-revoked"],
)
async def test_a_change_made_elsewhere_reaches_the_cache_through_the_database(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql, change: str, message: str
) -> None:
    # Made with plain SQL by another connection: only the triggers' NOTIFY tells us.
    org = await factory.organization(kind="hospital")
    account = await factory.user(role="admin", organization_id=org.id, login=False)
    tokens = await login_ok(client, account.email)
    assert (await me(client, _bearer(tokens.access))).status_code == 200
    admin_sql(change, {"user": str(account.id), "session": tokens.session_id})

    async def refused() -> bool:
        response = await me(client, _bearer(tokens.access))
        return response.status_code == 401 and message in response.json()["error"]["message"]

    await eventually(refused, seconds=5, message=f"the cached check ignored: {change}")


async def test_a_change_not_yet_announced_is_still_refused_by_the_database(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    database_urls: DatabaseUrls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The announcement is lost (as if it had not arrived yet): the cached check is
    # confirmed anyway, in the statement that sets the request's tenant context.
    cache: SessionCache = app.state.session_cache
    monkeypatch.setattr(cache, "invalidate", lambda *_: None)
    monkeypatch.setattr(cache, "clear", lambda: None)
    account = await factory.user(login=False)
    for change in (
        "UPDATE users SET is_verified = false WHERE id = %s",
        "UPDATE users SET role = 'distributor' WHERE id = %s",
        "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = %s",
    ):
        tokens = await login_ok(client, account.email)
        assert (await me(client, _bearer(tokens.access))).status_code == 200
        assert (await me(client, _bearer(tokens.access))).status_code == 200  # from the cache
        with psycopg.connect(database_urls.admin, autocommit=True) as conn:
            conn.execute(change, (str(account.id),))  # type: ignore[arg-type]
        refused = await me(client, _bearer(tokens.access))
        assert refused.status_code == 401, (change, refused.text)
        assert "retry" in refused.json()["error"]["message"]
        with psycopg.connect(database_urls.admin, autocommit=True) as conn:
            conn.execute(
                "UPDATE users SET is_verified = true, role = 'customer' WHERE id = %s",
                (str(account.id),),
            )


async def test_a_role_change_applies_to_the_next_request(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    org = await factory.organization(kind="hospital")
    account = await factory.user(role="admin", organization_id=org.id, login=False)
    tokens = await login_ok(client, account.email)
    members = f"{API}/admin/users"
    assert (await client.get(members, headers=_bearer(tokens.access))).status_code == 200
    admin_sql("UPDATE users SET role = 'customer' WHERE id = %s", (str(account.id),))

    async def demoted() -> bool:
        response = await client.get(members, headers=_bearer(tokens.access))
        return response.status_code == 403

    await eventually(demoted, seconds=5, message="the old role was still used")


async def test_logout_in_this_process_applies_before_its_response(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    for _ in range(20):
        tokens = await login_ok(client, account.email)
        assert (await me(client, _bearer(tokens.access))).status_code == 200
        logout = await client.post(f"{API}/auth/logout", headers=_bearer(tokens.access))
        assert logout.status_code == 200, logout.text
        # No waiting: the very next request is refused.
        assert (await me(client, _bearer(tokens.access))).status_code == 401


# -- the cache's own rules ----------------------------------------------------------


def _state(*, age: float = 0.0, expires_in: timedelta = timedelta(hours=1)) -> SessionState:
    return SessionState(
        session_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        role="customer",
        organization_id=uuid.uuid4(),
        is_verified=True,
        is_approved=True,
        expires_at=datetime.now(UTC) + expires_in,
        checked_at=time.monotonic() - age,
    )


def test_an_outcome_read_before_an_invalidation_is_not_stored() -> None:
    cache = SessionCache()
    cache.listening = True
    state = _state()
    generation = cache.generation
    cache.announced(f"user:{uuid.uuid4()}")  # any change, while the check was running
    cache.store(state, generation)
    assert cache.get(state.session_id, state.user_id, datetime.now(UTC)) is None
    cache.store(state, cache.generation)
    assert cache.get(state.session_id, state.user_id, datetime.now(UTC)) == state


def test_each_kind_of_announcement_drops_what_it_concerns() -> None:
    cache = SessionCache()
    cache.listening = True
    now = datetime.now(UTC)
    first, second, third = _state(), _state(), _state()
    for state in (first, second, third):
        cache.store(state, cache.generation)
    cache.announced(f"session:{first.session_id}")
    cache.announced(f"user:{second.user_id}")
    cache.announced(f"org:{third.organization_id}")
    assert len(cache) == 0
    cache.store(first, cache.generation)
    cache.announced("nonsense")  # unreadable: everything goes
    assert cache.get(first.session_id, first.user_id, now) is None


def test_entries_are_bounded_by_age_expiry_owner_and_the_listening_state() -> None:
    cache = SessionCache(max_age=60, unlistened_max_age=1)
    cache.listening_changed(True)
    fresh, old, expired = _state(age=5), _state(age=61), _state(expires_in=timedelta(0))
    now = datetime.now(UTC)
    for state in (fresh, old, expired):
        cache.store(state, cache.generation)
    assert cache.get(fresh.session_id, fresh.user_id, now) == fresh
    assert cache.get(fresh.session_id, uuid.uuid4(), now) is None  # another user's token
    assert cache.get(old.session_id, old.user_id, now) is None
    assert cache.get(expired.session_id, expired.user_id, now) is None
    # Not listening: nothing would announce a change, so 1 s is the most it trusts.
    cache.listening_changed(False)
    assert len(cache) == 0
    recent, five_seconds = _state(age=0.2), _state(age=5)
    cache.store(recent, cache.generation)
    cache.store(five_seconds, cache.generation)
    assert cache.get(recent.session_id, recent.user_id, now) == recent
    assert cache.get(five_seconds.session_id, five_seconds.user_id, now) is None


def test_the_cache_keeps_at_most_max_entries() -> None:
    cache = SessionCache(max_entries=3)
    cache.listening = True
    states = [_state() for _ in range(5)]
    for state in states:
        cache.store(state, cache.generation)
    assert len(cache) == 3
    assert cache.get(states[0].session_id, states[0].user_id, datetime.now(UTC)) is None
    assert cache.get(states[4].session_id, states[4].user_id, datetime.now(UTC)) == states[4]


# -- two server processes -------------------------------------------------------------


def _served(urls: DatabaseUrls, data_dir: Path, secret: str) -> Served:
    return Served(
        data_dir,
        free_port(),
        "--no-worker",
        DATABASE_URL=urls.app,
        DATABASE_ADMIN_URL=urls.admin,
        JWT_SECRET=secret,
        ENV="development",
        LOG_LEVEL="WARNING",
        RATE_LIMIT_ENABLED="false",
        EMAIL_BACKEND="console",
    )


@pytest.fixture
def two_servers(database_urls: DatabaseUrls, tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    secret = uuid.uuid4().hex * 2
    servers = [_served(database_urls, tmp_path / name, secret) for name in ("a", "b")]
    try:
        for server in servers:
            server.wait_ready(timeout=60)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.stop()


def _login(base: str, client: httpx.Client, email: str, password: str) -> str:
    response = client.post(f"{base}{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["access_token"]
    return token


def _me(base: str, client: httpx.Client, token: str) -> int:
    return client.get(f"{base}{API}/users/me", headers=_bearer(token)).status_code


def test_a_revocation_through_one_process_is_refused_by_the_other_at_once(
    two_servers: tuple[Served, Served], admin_sql: AdminSql
) -> None:
    first, second = two_servers
    email, password = "two-processes@example.com", "Correct-horse-battery-9"
    with httpx.Client(timeout=10) as client:
        registered = client.post(
            f"{first.base}{API}/auth/register",
            json={"email": email, "password": password, "full_name": "Two Processes"},
        )
        assert registered.status_code == 201, registered.text
        admin_sql("UPDATE users SET is_verified = true WHERE email = %s", (email,))

        # Logout through the first process; the second's cache held the session.
        for _ in range(5):
            token = _login(first.base, client, email, password)
            assert _me(second.base, client, token) == 200
            assert _me(second.base, client, token) == 200
            logout = client.post(f"{first.base}{API}/auth/logout", headers=_bearer(token))
            assert logout.status_code == 200, logout.text
            assert _me(second.base, client, token) == 401

        # A password change ends every other session of the account.
        other = _login(first.base, client, email, password)
        current = _login(first.base, client, email, password)
        assert _me(second.base, client, other) == 200
        changed = client.post(
            f"{first.base}{API}/auth/change-password",
            headers=_bearer(current),
            json={"current_password": password, "new_password": password + "x"},
        )
        assert changed.status_code == 200, changed.text
        assert _me(second.base, client, other) == 401
        password += "x"

        # Deactivation by plain SQL (an operator's console): the triggers announce it.
        token = _login(first.base, client, email, password)
        assert _me(second.base, client, token) == 200
        admin_sql("UPDATE users SET is_active = false WHERE email = %s", (email,))
        assert _me(second.base, client, token) == 401
