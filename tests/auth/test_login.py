"""POST /auth/login: shape, no enumeration, audit, legacy hashes, disabled accounts.

Throttling of failed logins: test_login_throttle.py."""

from __future__ import annotations

import statistics
import time
import uuid

import bcrypt
import httpx
import pytest
from fastapi import FastAPI

from tests.auth.helpers import (
    API,
    GENERIC_LOGIN_MESSAGE,
    STRONG_PASSWORD,
    AdminSql,
    MakeSettings,
    assert_error,
    login,
    me,
    now_utc,
    scalar,
    serve,
)
from tests.factories import Factory

WRONG = "Wrong-Password-99!"


async def test_login_returns_a_bearer_pair_and_the_user(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    organization = await factory.organization("pharmacy")
    account = await factory.user(
        "pharmacist", organization_id=organization.id, full_name="Pia Pharm", login=False
    )
    response = await login(client, account.email)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Login successful"
    data = body["data"]
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 900
    assert isinstance(data["access_token"], str)
    assert data["access_token"].count(".") == 2
    assert isinstance(data["refresh_token"], str)
    assert len(data["refresh_token"]) >= 40
    assert data["user"] == {
        "id": str(account.id),
        "email": account.email,
        "full_name": "Pia Pharm",
        "role": "pharmacist",
        "organization_id": str(organization.id),
        "is_verified": True,
    }
    assert "password" not in response.text
    last_login = scalar(admin_sql, "SELECT last_login FROM users WHERE id = %s", (account.id,))
    assert last_login is not None
    assert abs((now_utc() - last_login).total_seconds()) < 30
    # One session row, and only a digest of the refresh token.
    sessions = admin_sql(
        "SELECT s.id, t.token_hash FROM auth_sessions s JOIN refresh_tokens t"
        " ON t.session_id = s.id WHERE s.user_id = %s",
        (account.id,),
    )
    assert len(sessions) == 1
    assert sessions[0][1] != data["refresh_token"]
    audited = admin_sql(
        "SELECT entity_id FROM activity_logs WHERE action = 'login' AND user_id = %s",
        (account.id,),
    )
    assert audited == [(sessions[0][0],)]


async def test_unknown_email_and_wrong_password_look_the_same(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    unknown = await login(client, "nobody-here@example.org", STRONG_PASSWORD)
    wrong = await login(client, account.email, WRONG)
    unknown_error = assert_error(unknown, 401, "AUTHENTICATION_ERROR")
    wrong_error = assert_error(wrong, 401, "AUTHENTICATION_ERROR")
    assert unknown_error == wrong_error
    assert unknown_error["message"] == GENERIC_LOGIN_MESSAGE
    assert unknown_error["details"] == []
    assert set(unknown.headers) == set(wrong.headers)


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user(email="Mixed.Case@Example.org", login=False)
    response = await login(client, "mixed.case@EXAMPLE.ORG")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"]["id"] == str(account.id)


async def test_bad_login_bodies_are_400(client: httpx.AsyncClient) -> None:
    for body, field in (
        ({"email": "x@example.org"}, "password"),
        ({"password": "x"}, "email"),
        ({"email": "nope", "password": "x"}, "email"),
        ({"email": "x@example.org", "password": ""}, "password"),
        ({"email": "x@example.org", "password": "x", "remember_me": True}, "remember_me"),
    ):
        response = await client.post(f"{API}/auth/login", json=body)
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert field in {d["field"] for d in error["details"]}, (body, error)


async def test_failed_logins_are_audited(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    await login(client, "ghost@example.org", WRONG)
    await login(client, account.email, WRONG)
    rows = admin_sql(
        "SELECT user_id, metadata->>'reason', metadata->>'email', ip_address"
        " FROM activity_logs WHERE action = 'login_failed' ORDER BY seq"
    )
    assert rows == [
        (None, "unknown", "ghost@example.org", "127.0.0.1"),
        (account.id, "wrong_password", None, "127.0.0.1"),
    ]


async def test_unverified_accounts_can_log_in(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user("patient", verified=False, login=False)
    response = await login(client, account.email)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"]["is_verified"] is False


@pytest.mark.production_hashing
async def test_legacy_bcrypt_hash_logs_in_and_is_upgraded(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    legacy = bcrypt.hashpw(STRONG_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    admin_sql("UPDATE users SET password_hash = %s WHERE id = %s", (legacy, account.id))
    assert (await login(client, account.email, WRONG)).status_code == 401
    assert scalar(admin_sql, "SELECT password_hash FROM users WHERE id = %s", (account.id,)) == (
        legacy
    )
    response = await login(client, account.email)
    assert response.status_code == 200, response.text
    upgraded = scalar(admin_sql, "SELECT password_hash FROM users WHERE id = %s", (account.id,))
    assert upgraded.startswith("$argon2id$")
    assert (await login(client, account.email)).status_code == 200
    assert (await login(client, account.email, WRONG)).status_code == 401


async def test_deactivated_user_cannot_log_in_and_loses_live_tokens(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    admin_sql("UPDATE users SET is_active = false WHERE id = %s", (account.id,))
    assert_error(await login(client, account.email), 403, "AUTHORIZATION_ERROR")
    assert_error(await me(client, account.headers), 401, "AUTHENTICATION_ERROR")
    # A wrong password for a deactivated account stays the generic 401.
    wrong = assert_error(await login(client, account.email, WRONG), 401, "AUTHENTICATION_ERROR")
    assert wrong["message"] == GENERIC_LOGIN_MESSAGE


async def test_member_of_suspended_organization_cannot_log_in(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    organization = await factory.organization("clinic")
    account = await factory.user("doctor", organization_id=organization.id)
    admin_sql("UPDATE organizations SET status = 'suspended' WHERE id = %s", (organization.id,))
    error = assert_error(await login(client, account.email), 403, "AUTHORIZATION_ERROR")
    assert "suspended" in error["message"]
    assert_error(await me(client, account.headers), 401, "AUTHENTICATION_ERROR")


# At production cost, as deployed: the hash must be what dominates both answers.
@pytest.mark.production_hashing
async def test_unknown_email_costs_about_what_a_wrong_password_costs(
    make_settings: MakeSettings,
) -> None:
    """Behavioural check: both paths hash, so neither answers much faster (no enumeration)."""
    async with serve(make_settings(LOGIN_MAX_FAILURES=100)) as served:
        factory = Factory(served.app, served.client)
        account = await factory.user(login=False)

        async def timed(email: str) -> float:
            started = time.perf_counter()
            response = await login(served.client, email, WRONG)
            elapsed = time.perf_counter() - started
            assert response.status_code == 401
            return elapsed

        await timed(account.email)  # warm-up
        unknown: list[float] = []
        known: list[float] = []
        for n in range(5):
            unknown.append(await timed(f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.org"))
            known.append(await timed(account.email))
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 1 / 3 < ratio < 3, (known, unknown)


async def test_login_response_does_not_echo_the_password(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    failed = await login(client, account.email, WRONG)
    assert WRONG not in failed.text
