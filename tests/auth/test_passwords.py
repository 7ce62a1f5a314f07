"""Changing, forgetting and resetting a password."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.helpers import (
    API,
    STRONG_PASSWORD,
    AdminSql,
    assert_error,
    detail_fields,
    link_token,
    login,
    login_ok,
    mailed_code,
    me,
    other_code,
    refresh,
    scalar,
)
from tests.factories import Factory, mail_to, outbox, text_body

FORGOT_MESSAGE = "If an account exists for this email, a reset link has been sent"
NEW_PASSWORD = "Blue-Harbour-Lamp-73"
# Distinct strong passwords for the history tests.
SERIES = [f"Quartz-Meadow-{n}{n}-Zeta!" for n in range(1, 8)]


async def change(
    client: httpx.AsyncClient, headers: dict[str, str], current: str, new: str
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/change-password",
        json={"current_password": current, "new_password": new},
        headers=headers,
    )


@pytest.mark.production_hashing
async def test_change_password_happy_path(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    before = scalar(admin_sql, "SELECT password_hash FROM users WHERE id = %s", (account.id,))
    response = await change(client, account.headers, STRONG_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Password changed; other sessions were logged out"
    after = scalar(admin_sql, "SELECT password_hash FROM users WHERE id = %s", (account.id,))
    assert after != before
    assert after.startswith("$argon2id$")
    assert (await login(client, account.email, STRONG_PASSWORD)).status_code == 401
    assert (await login(client, account.email, NEW_PASSWORD)).status_code == 200
    audited = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'password_changed' AND user_id = %s",
        (account.id,),
    )
    assert audited == [(1,)]


async def test_change_password_needs_the_right_current_password(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user()
    before = scalar(admin_sql, "SELECT password_hash FROM users WHERE id = %s", (account.id,))
    response = await change(client, account.headers, "Not-The-Password-1", NEW_PASSWORD)
    assert_error(response, 401, "AUTHENTICATION_ERROR")
    assert detail_fields(response) == {"current_password"}
    assert scalar(admin_sql, "SELECT password_hash FROM users WHERE id = %s", (account.id,)) == (
        before
    )
    # A failed attempt neither logs the caller out nor counts as a login failure.
    assert (await me(client, account.headers)).status_code == 200
    assert admin_sql("SELECT count(*) FROM login_failures") == [(0,)]
    audited = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'password_change_failed'"
        " AND user_id = %s",
        (account.id,),
    )
    assert audited == [(1,)]


async def test_change_password_bad_bodies(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user()
    cases: list[tuple[dict[str, object], str]] = [
        ({"current_password": STRONG_PASSWORD}, "new_password"),
        ({"new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": "", "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD, "x": 1}, "x"),
    ]
    for body, field in cases:
        response = await client.post(
            f"{API}/auth/change-password", json=body, headers=account.headers
        )
        assert_error(response, 400, "VALIDATION_ERROR")
        assert field in detail_fields(response), body
    assert (await login(client, account.email, STRONG_PASSWORD)).status_code == 200


async def test_change_password_anonymous_is_401(client: httpx.AsyncClient) -> None:
    response = await change(client, {}, STRONG_PASSWORD, NEW_PASSWORD)
    assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_change_password_enforces_the_policy(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user()
    for weak in ("Sh0rt!", "password", "Password1!", "nouppercase-42!"):
        response = await change(client, account.headers, STRONG_PASSWORD, weak)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(response) == {"new_password"}, weak
    assert (await login(client, account.email, STRONG_PASSWORD)).status_code == 200


async def test_new_password_may_not_be_the_current_one(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user()
    response = await change(client, account.headers, STRONG_PASSWORD, STRONG_PASSWORD)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert detail_fields(response) == {"new_password"}
    assert "last 5" in error["details"][0]["message"]


async def test_none_of_the_last_five_passwords_may_be_reused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """Change the password 5 times: the current one and the 5 before it are all refused."""
    account = await factory.user(password=SERIES[0])
    current = SERIES[0]
    for new in SERIES[1:6]:
        assert (await change(client, account.headers, current, new)).status_code == 200
        current = new
    # Current password: SERIES[5]; the five before it: SERIES[0..4].
    for old in reversed(SERIES[1:6]):
        refused = await change(client, account.headers, current, old)
        assert_error(refused, 400, "VALIDATION_ERROR")
    first = await change(client, account.headers, current, SERIES[0])
    assert first.status_code == 400, "the first password is one of the last 5 and was accepted"
    assert detail_fields(first) == {"new_password"}


async def test_a_password_older_than_the_history_may_be_used_again(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(password=SERIES[0])
    current = SERIES[0]
    for new in SERIES[1:7]:
        assert (await change(client, account.headers, current, new)).status_code == 200
        current = new
    # Six changes later the first password has left the history.
    again = await change(client, account.headers, current, SERIES[0])
    assert again.status_code == 200, again.text
    assert (await login(client, account.email, SERIES[0])).status_code == 200


async def test_change_password_logs_out_other_sessions_but_not_this_one(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    here = await login_ok(client, account.email)
    elsewhere = await login_ok(client, account.email)
    response = await change(client, here.headers, STRONG_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 200
    assert (await me(client, here.headers)).status_code == 200
    assert (await refresh(client, here.refresh)).status_code == 200
    assert_error(await me(client, elsewhere.headers), 401, "AUTHENTICATION_ERROR")
    assert_error(await refresh(client, elsewhere.refresh), 401, "AUTHENTICATION_ERROR")
    reasons = dict(
        admin_sql(
            "SELECT id::text, revoked_reason FROM auth_sessions WHERE user_id = %s", (account.id,)
        )
    )
    assert reasons == {here.session_id: None, elsewhere.session_id: "password_changed"}


# --- forgot / reset ------------------------------------------------------------------------------


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(f"{API}/auth/forgot-password", json={"email": email})


async def reset(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post(f"{API}/auth/reset-password", json=body)


async def test_forgot_password_answers_the_same_for_unknown_emails(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    account = await factory.user(login=False)
    known = await forgot(client, account.email)
    mails_before = len(await outbox(app))
    unknown = await forgot(client, "nobody-at-all@example.org")
    assert known.status_code == unknown.status_code == 200
    assert (
        known.json()
        == unknown.json()
        == {
            "success": True,
            "data": None,
            "message": FORGOT_MESSAGE,
        }
    )
    assert len(await outbox(app)) == mails_before
    assert await mail_to(app, "nobody-at-all@example.org") == []
    [mail] = await mail_to(app, account.email, "password_reset")
    body = text_body(mail)
    assert f"{app.state.settings.FRONTEND_URL}/reset-password?token=" in body
    assert await mailed_code(app, account.email, "password_reset")


async def test_forgot_password_for_deactivated_account_sends_nothing(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    admin_sql("UPDATE users SET is_active = false WHERE id = %s", (account.id,))
    response = await forgot(client, account.email)
    assert response.json()["message"] == FORGOT_MESSAGE
    assert await mail_to(app, account.email, "password_reset") == []


async def test_forgot_password_bad_email_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/auth/forgot-password", json={"email": "nope"})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert detail_fields(response) == {"email"}


async def test_reset_with_the_link_works_once_and_logs_out_everywhere(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    sessions = [await login_ok(client, account.email) for _ in range(2)]
    await forgot(client, account.email)
    token = await link_token(app, account.email, "password_reset", "reset-password")
    response = await reset(client, token=token, new_password=NEW_PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Password reset: log in with the new password"
    assert (await login(client, account.email, STRONG_PASSWORD)).status_code == 401
    assert (await login(client, account.email, NEW_PASSWORD)).status_code == 200
    for tokens in sessions:
        assert_error(await me(client, tokens.headers), 401, "AUTHENTICATION_ERROR")
        assert_error(await refresh(client, tokens.refresh), 401, "AUTHENTICATION_ERROR")
    reasons = admin_sql(
        "SELECT revoked_reason FROM auth_sessions WHERE id = ANY(%s)",
        ([tokens.session_id for tokens in sessions],),
    )
    assert reasons == [("password_reset",), ("password_reset",)]

    second = await reset(client, token=token, new_password="Another-Strong-Pass-88")
    assert_error(second, 400, "VALIDATION_ERROR")
    assert detail_fields(second) == {"token"}
    assert (await login(client, account.email, NEW_PASSWORD)).status_code == 200
    # The emailed code died with the link.
    code = await mailed_code(app, account.email, "password_reset")
    by_code = await reset(
        client, email=account.email, otp=code, new_password="Another-Strong-Pass-88"
    )
    assert_error(by_code, 400, "VALIDATION_ERROR")


async def test_expired_reset_link_is_refused(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    await forgot(client, account.email)
    token = await link_token(app, account.email, "password_reset", "reset-password")
    admin_sql(
        "UPDATE one_time_tokens SET expires_at = now() - interval '1 second'"
        " WHERE user_id = %s AND purpose = 'reset_password'",
        (account.id,),
    )
    response = await reset(client, token=token, new_password=NEW_PASSWORD)
    assert_error(response, 400, "VALIDATION_ERROR")
    assert detail_fields(response) == {"token"}
    assert (await login(client, account.email, STRONG_PASSWORD)).status_code == 200


async def test_a_new_reset_request_retires_the_previous_link(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    account = await factory.user(login=False)
    await forgot(client, account.email)
    old = await link_token(app, account.email, "password_reset", "reset-password")
    await forgot(client, account.email)
    new = await link_token(app, account.email, "password_reset", "reset-password")
    assert old != new
    assert_error(await reset(client, token=old, new_password=NEW_PASSWORD), 400, "VALIDATION_ERROR")
    assert (await reset(client, token=new, new_password=NEW_PASSWORD)).status_code == 200


async def test_reset_link_must_be_a_reset_link(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    """A verification link (another purpose) does not reset a password."""
    response = await client.post(
        f"{API}/auth/register",
        json={"email": "purpose@example.org", "password": STRONG_PASSWORD, "full_name": "P Q"},
    )
    assert response.status_code == 201
    verify = await link_token(app, "purpose@example.org", "verify_email", "verify-email")
    refused = await reset(client, token=verify, new_password=NEW_PASSWORD)
    assert_error(refused, 400, "VALIDATION_ERROR")
    assert (await login(client, "purpose@example.org", STRONG_PASSWORD)).status_code == 200


async def test_reset_with_email_and_code(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    live = await login_ok(client, account.email)
    await forgot(client, account.email)
    code = await mailed_code(app, account.email, "password_reset")
    stored = admin_sql(
        "SELECT token_hash FROM one_time_tokens WHERE purpose = 'reset_password_otp'"
    )
    assert len(stored) == 1
    assert code not in stored[0][0]
    response = await reset(client, email=account.email.upper(), otp=code, new_password=NEW_PASSWORD)
    assert response.status_code == 200, response.text
    assert (await login(client, account.email, NEW_PASSWORD)).status_code == 200
    assert_error(await me(client, live.headers), 401, "AUTHENTICATION_ERROR")
    # The link sent with the code is dead too.
    token = await link_token(app, account.email, "password_reset", "reset-password")
    assert_error(
        await reset(client, token=token, new_password="Other-Strong-Pass-91"),
        400,
        "VALIDATION_ERROR",
    )
    audited = admin_sql(
        "SELECT metadata->>'via' FROM activity_logs"
        " WHERE action = 'password_reset' AND user_id = %s",
        (account.id,),
    )
    assert audited == [("otp",)]


async def test_five_wrong_reset_codes_kill_the_code(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    await forgot(client, account.email)
    code = await mailed_code(app, account.email, "password_reset")
    wrong = other_code(code)
    for attempt in range(1, 6):
        response = await reset(client, email=account.email, otp=wrong, new_password=NEW_PASSWORD)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(response) == {"otp"}
        if attempt < 5:
            attempts = scalar(
                admin_sql,
                "SELECT attempts FROM one_time_tokens WHERE purpose = 'reset_password_otp'",
            )
            assert attempts == attempt
    dead = await reset(client, email=account.email, otp=code, new_password=NEW_PASSWORD)
    assert_error(dead, 400, "VALIDATION_ERROR")
    assert (await login(client, account.email, STRONG_PASSWORD)).status_code == 200


async def test_reset_code_for_unknown_email_is_400(client: httpx.AsyncClient) -> None:
    response = await reset(
        client, email="ghost@example.org", otp="123456", new_password=NEW_PASSWORD
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert detail_fields(response) == {"otp"}


async def test_reset_bad_bodies_are_400(client: httpx.AsyncClient) -> None:
    email = "a@example.org"
    bodies: list[dict[str, object]] = [
        {"new_password": NEW_PASSWORD},
        {"token": "x" * 43, "email": email, "otp": "123456", "new_password": NEW_PASSWORD},
        {"email": email, "new_password": NEW_PASSWORD},
        {"email": email, "otp": "12345", "new_password": NEW_PASSWORD},
        {"email": email, "otp": "abcdef", "new_password": NEW_PASSWORD},
        {"token": "short", "new_password": NEW_PASSWORD},
        {"token": "x" * 43},
        {"token": "x" * 43, "new_password": NEW_PASSWORD, "extra": 1},
    ]
    for body in bodies:
        assert_error(await reset(client, **body), 400, "VALIDATION_ERROR")


async def test_reset_enforces_policy_and_history_and_keeps_the_link_usable(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    account = await factory.user(login=False)
    await forgot(client, account.email)
    token = await link_token(app, account.email, "password_reset", "reset-password")
    weak = await reset(client, token=token, new_password="Password1!")
    assert_error(weak, 400, "VALIDATION_ERROR")
    assert detail_fields(weak) == {"new_password"}
    reused = await reset(client, token=token, new_password=STRONG_PASSWORD)
    assert_error(reused, 400, "VALIDATION_ERROR")
    assert detail_fields(reused) == {"new_password"}
    # A refused password does not burn the link.
    assert (await reset(client, token=token, new_password=NEW_PASSWORD)).status_code == 200


async def test_reset_lifts_the_login_throttle(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    account = await factory.user(login=False)
    for _ in range(5):
        await login(client, account.email, "Wrong-Password-99!")
    throttled = await login(client, account.email)
    assert_error(throttled, 401, "AUTHENTICATION_ERROR")
    assert "retry-after" in throttled.headers
    await forgot(client, account.email)
    token = await link_token(app, account.email, "password_reset", "reset-password")
    assert (await reset(client, token=token, new_password=NEW_PASSWORD)).status_code == 200
    assert (await login(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_concurrent_resets_with_one_link_let_exactly_one_win(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    account = await factory.user(login=False)
    await forgot(client, account.email)
    token = await link_token(app, account.email, "password_reset", "reset-password")
    candidates = [NEW_PASSWORD, "Green-Valley-Kite-58"]
    responses = await asyncio.gather(
        *(reset(client, token=token, new_password=password) for password in candidates)
    )
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200, 400], [r.text for r in responses]
    winner = candidates[statuses.index(200)]
    loser = candidates[statuses.index(400)]
    assert (await login(client, account.email, winner)).status_code == 200
    assert (await login(client, account.email, loser)).status_code == 401
