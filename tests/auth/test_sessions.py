"""Refresh rotation and reuse detection, logout, and the sessions list."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.auth.helpers import (
    API,
    AdminSql,
    assert_error,
    login_ok,
    me,
    refresh,
    scalar,
)
from tests.factories import Factory


def revoked_reason(admin_sql: AdminSql, session_id: str) -> str | None:
    reason: str | None = scalar(
        admin_sql, "SELECT revoked_reason FROM auth_sessions WHERE id = %s", (session_id,)
    )
    return reason


async def test_refresh_rotates_the_pair_in_the_same_session(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    first = await login_ok(client, account.email)
    response = await refresh(client, first.refresh)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 900
    assert data["user"]["id"] == str(account.id)
    assert data["access_token"] != first.access
    assert data["refresh_token"] != first.refresh
    assert (
        await me(client, {"Authorization": f"Bearer {data['access_token']}"})
    ).status_code == 200
    tokens = admin_sql(
        "SELECT count(*), count(used_at) FROM refresh_tokens WHERE session_id = %s",
        (first.session_id,),
    )
    assert tokens == [(2, 1)]
    assert revoked_reason(admin_sql, first.session_id) is None
    # The new refresh token rotates again.
    assert (await refresh(client, data["refresh_token"])).status_code == 200


async def test_reusing_a_spent_refresh_token_revokes_the_whole_session(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    original = await login_ok(client, account.email)
    second = (await refresh(client, original.refresh)).json()["data"]
    third = (await refresh(client, second["refresh_token"])).json()["data"]
    current_access = {"Authorization": f"Bearer {third['access_token']}"}
    assert (await me(client, current_access)).status_code == 200

    # The thief (or a confused client) replays the first token.
    replay = await refresh(client, original.refresh)
    error = assert_error(replay, 401, "AUTHENTICATION_ERROR")
    assert "already used" in error["message"]
    assert revoked_reason(admin_sql, original.session_id) == "refresh_token_reuse"

    # Everything descended from that login is dead: the newest refresh and the live access.
    assert_error(await refresh(client, third["refresh_token"]), 401, "AUTHENTICATION_ERROR")
    assert_error(await me(client, current_access), 401, "AUTHENTICATION_ERROR")
    audited = admin_sql(
        "SELECT entity_id, user_id FROM activity_logs WHERE action = 'refresh_token_reuse'"
    )
    assert audited == [(uuid.UUID(original.session_id), account.id)]


async def test_reuse_does_not_touch_the_users_other_sessions(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    laptop = await login_ok(client, account.email)
    phone = await login_ok(client, account.email)
    await refresh(client, laptop.refresh)
    assert (await refresh(client, laptop.refresh)).status_code == 401
    assert (await me(client, phone.headers)).status_code == 200
    assert (await refresh(client, phone.refresh)).status_code == 200


async def test_concurrent_refreshes_with_one_token_let_exactly_one_win(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    tokens = await login_ok(client, account.email)
    responses = await asyncio.gather(*(refresh(client, tokens.refresh) for _ in range(2)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 401], [r.text for r in responses]
    assert revoked_reason(admin_sql, tokens.session_id) == "refresh_token_reuse"
    winner = next(r for r in responses if r.status_code == 200).json()["data"]
    assert_error(await refresh(client, winner["refresh_token"]), 401, "AUTHENTICATION_ERROR")
    winner_access = {"Authorization": f"Bearer {winner['access_token']}"}
    assert_error(await me(client, winner_access), 401, "AUTHENTICATION_ERROR")
    used = admin_sql(
        "SELECT count(*) FROM refresh_tokens WHERE session_id = %s AND used_at IS NULL",
        (tokens.session_id,),
    )
    assert used == [(1,)]  # the winner's new token exists, but its session is revoked


async def test_bad_refresh_bodies_are_400(client: httpx.AsyncClient) -> None:
    for body in (
        {"refresh_token": "short"},
        {"refresh_token": 12345},
        {"refresh_token": "x" * 201},
        {"token": "x" * 40},
        {"refresh_token": "x" * 40, "extra": 1},
        [],
        "x" * 40,
    ):
        response = await client.post(f"{API}/auth/refresh", json=body)
        assert_error(response, 400, "VALIDATION_ERROR")


async def test_unknown_or_missing_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await refresh(client, "x" * 43), 401, "AUTHENTICATION_ERROR")
    assert_error(await client.post(f"{API}/auth/refresh"), 401, "AUTHENTICATION_ERROR")
    assert_error(await client.post(f"{API}/auth/refresh", json={}), 401, "AUTHENTICATION_ERROR")


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    tokens = await login_ok(client, account.email)
    admin_sql(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE session_id = %s",
        (tokens.session_id,),
    )
    assert_error(await refresh(client, tokens.refresh), 401, "AUTHENTICATION_ERROR")


async def test_expired_session_cannot_refresh_or_authenticate(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    tokens = await login_ok(client, account.email)
    admin_sql(
        "UPDATE auth_sessions SET expires_at = now() - interval '1 second' WHERE id = %s",
        (tokens.session_id,),
    )
    assert_error(await refresh(client, tokens.refresh), 401, "AUTHENTICATION_ERROR")
    assert_error(await me(client, tokens.headers), 401, "AUTHENTICATION_ERROR")


async def test_deactivated_user_cannot_refresh(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    tokens = await login_ok(client, account.email)
    admin_sql("UPDATE users SET is_active = false WHERE id = %s", (account.id,))
    error = assert_error(await refresh(client, tokens.refresh), 403, "AUTHORIZATION_ERROR")
    assert error["message"] == "This account has been deactivated"


async def test_logout_kills_the_access_and_refresh_tokens_at_once(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    tokens = await login_ok(client, account.email)
    other = await login_ok(client, account.email)
    out = await client.post(f"{API}/auth/logout", headers=tokens.headers)
    assert out.status_code == 200, out.text
    assert out.json() == {"success": True, "data": None, "message": "Logged out"}
    assert_error(await me(client, tokens.headers), 401, "AUTHENTICATION_ERROR")
    assert_error(await refresh(client, tokens.refresh), 401, "AUTHENTICATION_ERROR")
    assert revoked_reason(admin_sql, tokens.session_id) == "logout"
    # Only that session ended.
    assert (await me(client, other.headers)).status_code == 200
    assert_error(
        await client.post(f"{API}/auth/logout", headers=tokens.headers),
        401,
        "AUTHENTICATION_ERROR",
    )
    assert_error(await client.post(f"{API}/auth/logout"), 401, "AUTHENTICATION_ERROR")


async def test_sessions_list_marks_the_current_one(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    first = await login_ok(client, account.email)
    second = await login_ok(client, account.email)
    listed = await client.get(
        f"{API}/auth/sessions", headers={**second.headers, "User-Agent": "probe/1.0"}
    )
    assert listed.status_code == 200, listed.text
    sessions = listed.json()["data"]["sessions"]
    assert {s["id"] for s in sessions} == {first.session_id, second.session_id}
    current = {s["id"]: s["current"] for s in sessions}
    assert current == {first.session_id: False, second.session_id: True}
    for entry in sessions:
        assert entry["ip_address"] == "127.0.0.1"
        assert entry["user_agent"].startswith("python-httpx/")
        assert entry["expires_at"] > entry["created_at"]
    assert_error(await client.get(f"{API}/auth/sessions"), 401, "AUTHENTICATION_ERROR")


async def test_revoking_one_of_your_sessions(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    keep = await login_ok(client, account.email)
    drop = await login_ok(client, account.email)
    response = await client.delete(f"{API}/auth/sessions/{drop.session_id}", headers=keep.headers)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Session revoked"
    assert_error(await me(client, drop.headers), 401, "AUTHENTICATION_ERROR")
    assert_error(await refresh(client, drop.refresh), 401, "AUTHENTICATION_ERROR")
    assert (await me(client, keep.headers)).status_code == 200
    assert revoked_reason(admin_sql, drop.session_id) == "revoked_by_user"
    listed = (await client.get(f"{API}/auth/sessions", headers=keep.headers)).json()["data"]
    assert [s["id"] for s in listed["sessions"]] == [keep.session_id]
    # Revoking it again: it is gone.
    again = await client.delete(f"{API}/auth/sessions/{drop.session_id}", headers=keep.headers)
    assert_error(again, 404, "NOT_FOUND")


async def test_someone_elses_session_is_404_and_untouched(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    mine = await factory.user()
    theirs = await factory.user(login=False)
    victim = await login_ok(client, theirs.email)
    response = await client.delete(f"{API}/auth/sessions/{victim.session_id}", headers=mine.headers)
    assert_error(response, 404, "NOT_FOUND")
    assert revoked_reason(admin_sql, victim.session_id) is None
    assert (await me(client, victim.headers)).status_code == 200
    unknown = await client.delete(f"{API}/auth/sessions/{uuid.uuid4()}", headers=mine.headers)
    assert_error(unknown, 404, "NOT_FOUND")
    malformed = await client.delete(f"{API}/auth/sessions/not-a-uuid", headers=mine.headers)
    assert_error(malformed, 400, "VALIDATION_ERROR")


async def test_logout_everywhere(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    sessions = [await login_ok(client, account.email) for _ in range(3)]
    bystander = await factory.user()
    response = await client.delete(f"{API}/auth/sessions", headers=sessions[0].headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"revoked": 3}
    for tokens in sessions:
        assert_error(await me(client, tokens.headers), 401, "AUTHENTICATION_ERROR")
        assert_error(await refresh(client, tokens.refresh), 401, "AUTHENTICATION_ERROR")
        assert revoked_reason(admin_sql, tokens.session_id) == "logout_all"
    assert (await me(client, bystander.headers)).status_code == 200
