"""Email verification, one-time codes (OTP) and the VerifiedPrincipal gate."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import httpx
from fastapi import APIRouter, FastAPI

from medhub.authz.dependencies import VerifiedPrincipal
from medhub.kit.envelope import JSONResponse, ok
from tests.auth.helpers import (
    API,
    AdminSql,
    MakeSettings,
    assert_error,
    detail_fields,
    link_token,
    login_ok,
    mailed_code,
    me,
    now_utc,
    other_code,
    register,
    scalar,
    serve,
)
from tests.factories import Factory, mail_to, outbox, text_body

RESEND_MESSAGE = "If the account exists and is not verified, a new link is on its way"


async def verify(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/verify-email", json={"token": token})


async def test_verification_link_verifies_once(
    client: httpx.AsyncClient, app: FastAPI, admin_sql: AdminSql
) -> None:
    registered = await register(client, email="verify.me@example.org")
    user_id = registered.json()["data"]["user_id"]
    token = await link_token(app, "verify.me@example.org", "verify_email", "verify-email")
    response = await verify(client, token)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Email verified"
    assert scalar(admin_sql, "SELECT is_verified FROM users WHERE id = %s", (user_id,)) is True
    again = await verify(client, token)
    assert_error(again, 400, "VALIDATION_ERROR")
    assert detail_fields(again) == {"token"}
    audited = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'email_verified' AND user_id = %s",
        (user_id,),
    )
    assert audited == [(1,)]


async def test_concurrent_uses_of_one_verification_link_count_once(
    client: httpx.AsyncClient, app: FastAPI, admin_sql: AdminSql
) -> None:
    await register(client, email="race.verify@example.org")
    token = await link_token(app, "race.verify@example.org", "verify_email", "verify-email")
    responses = await asyncio.gather(*(verify(client, token) for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [200, 400, 400]
    audited = scalar(
        admin_sql, "SELECT count(*) FROM activity_logs WHERE action = 'email_verified'"
    )
    assert audited == 1


async def test_garbage_or_malformed_verification_tokens_are_400(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    await register(client, email="garbage@example.org")
    for body in ({"token": "A" * 43}, {"token": "short"}, {}, {"token": 5}, {"token": "x" * 201}):
        response = await client.post(f"{API}/auth/verify-email", json=body)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(response) == {"token"}, body
    assert scalar(admin_sql, "SELECT count(*) FROM users WHERE is_verified") == 0


async def test_expired_verification_link_is_400(
    client: httpx.AsyncClient, app: FastAPI, admin_sql: AdminSql
) -> None:
    await register(client, email="late@example.org")
    token = await link_token(app, "late@example.org", "verify_email", "verify-email")
    admin_sql("UPDATE one_time_tokens SET expires_at = now() - interval '1 second'")
    assert_error(await verify(client, token), 400, "VALIDATION_ERROR")


async def test_resend_for_unknown_or_verified_email_is_200_and_silent(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    verified = await factory.user(login=False, verified=True)
    before = len(await outbox(app))
    for email in ("nobody-resend@example.org", verified.email):
        response = await client.post(f"{API}/auth/resend-verification", json={"email": email})
        assert response.status_code == 200, response.text
        assert response.json()["message"] == RESEND_MESSAGE
    assert len(await outbox(app)) == before


async def test_resend_replaces_the_previous_link(client: httpx.AsyncClient, app: FastAPI) -> None:
    await register(client, email="resend@example.org")
    first = await link_token(app, "resend@example.org", "verify_email", "verify-email")
    response = await client.post(
        f"{API}/auth/resend-verification", json={"email": "RESEND@example.org"}
    )
    assert response.json()["message"] == RESEND_MESSAGE
    assert len(await mail_to(app, "resend@example.org", "verify_email")) == 2
    second = await link_token(app, "resend@example.org", "verify_email", "verify-email")
    assert second != first
    assert_error(await verify(client, first), 400, "VALIDATION_ERROR")
    assert (await verify(client, second)).status_code == 200


async def test_resend_for_the_logged_in_user_needs_no_body(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    account = await factory.user("patient", verified=False)
    response = await client.post(f"{API}/auth/resend-verification", headers=account.headers)
    assert response.status_code == 200, response.text
    token = await link_token(app, account.email, "verify_email", "verify-email")
    assert (await verify(client, token)).status_code == 200
    assert (await me(client, account.headers)).json()["data"]["is_verified"] is True


async def test_resend_without_email_or_login_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/auth/resend-verification")
    assert_error(response, 400, "VALIDATION_ERROR")
    assert detail_fields(response) == {"email"}
    bad = await client.post(f"{API}/auth/resend-verification", json={"email": "nope"})
    assert_error(bad, 400, "VALIDATION_ERROR")


# --- OTP -----------------------------------------------------------------------------------------


async def request_otp(
    client: httpx.AsyncClient, headers: dict[str, str], purpose: str = "medical_history"
) -> httpx.Response:
    return await client.post(f"{API}/auth/otp/request", json={"purpose": purpose}, headers=headers)


async def verify_otp(
    client: httpx.AsyncClient, headers: dict[str, str], code: str, purpose: str = "medical_history"
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/otp/verify", json={"purpose": purpose, "code": code}, headers=headers
    )


async def test_otp_request_mails_a_six_digit_code(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user("patient")
    response = await request_otp(client, account.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Code sent"
    assert body["data"]["purpose"] == "medical_history"
    expires = datetime.fromisoformat(body["data"]["expires_at"].replace("Z", "+00:00"))
    assert 9 * 60 < (expires - now_utc()).total_seconds() <= 10 * 60
    [mail] = await mail_to(app, account.email, "otp")
    text = text_body(mail)
    assert re.search(r"\b\d{6}\b", text)
    assert "access to medical history" in text
    code = await mailed_code(app, account.email, "otp")
    stored = admin_sql("SELECT token_hash FROM one_time_tokens WHERE purpose LIKE 'otp:%%'")
    assert len(stored) == 1
    assert code not in stored[0][0]


async def test_otp_verify_wrong_then_right(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    account = await factory.user("patient")
    await request_otp(client, account.headers)
    code = await mailed_code(app, account.email, "otp")
    wrong = await verify_otp(client, account.headers, other_code(code))
    assert_error(wrong, 400, "VALIDATION_ERROR")
    assert detail_fields(wrong) == {"code"}
    right = await verify_otp(client, account.headers, code)
    assert right.status_code == 200, right.text
    data = right.json()["data"]
    assert data["purpose"] == "medical_history"
    assert isinstance(data["otp_token"], str)
    assert len(data["otp_token"]) >= 32
    # A code is good once.
    assert_error(await verify_otp(client, account.headers, code), 400, "VALIDATION_ERROR")


async def test_concurrent_uses_of_one_code_grant_once(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user("patient")
    await request_otp(client, account.headers)
    code = await mailed_code(app, account.email, "otp")
    responses = await asyncio.gather(*(verify_otp(client, account.headers, code) for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [200, 400, 400]
    grants = scalar(
        admin_sql,
        "SELECT count(*) FROM one_time_tokens WHERE purpose = 'otp_grant:medical_history'",
    )
    assert grants == 1


async def test_five_wrong_codes_kill_the_otp(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    account = await factory.user("patient")
    await request_otp(client, account.headers, "payment")
    code = await mailed_code(app, account.email, "otp")
    for _ in range(5):
        wrong = await verify_otp(client, account.headers, other_code(code), "payment")
        assert_error(wrong, 400, "VALIDATION_ERROR")
    dead = await verify_otp(client, account.headers, code, "payment")
    assert_error(dead, 400, "VALIDATION_ERROR")


async def test_otp_is_bound_to_its_purpose_and_its_user(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    owner = await factory.user("patient")
    other = await factory.user("patient")
    await request_otp(client, owner.headers, "payment")
    code = await mailed_code(app, owner.email, "otp")
    other_purpose = await verify_otp(client, owner.headers, code, "medical_history")
    assert_error(other_purpose, 400, "VALIDATION_ERROR")
    other_user = await verify_otp(client, other.headers, code, "payment")
    assert_error(other_user, 400, "VALIDATION_ERROR")
    assert (await verify_otp(client, owner.headers, code, "payment")).status_code == 200


async def test_a_new_otp_replaces_the_previous_one(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user("patient")
    await request_otp(client, account.headers)
    first = await mailed_code(app, account.email, "otp")
    await request_otp(client, account.headers)
    second = await mailed_code(app, account.email, "otp")
    live = admin_sql(
        "SELECT count(*) FILTER (WHERE used_at IS NULL), count(*) FROM one_time_tokens"
        " WHERE user_id = %s AND purpose = 'otp:medical_history'",
        (account.id,),
    )
    assert live == [(1, 2)]
    if first != second:
        assert_error(await verify_otp(client, account.headers, first), 400, "VALIDATION_ERROR")
    assert (await verify_otp(client, account.headers, second)).status_code == 200


async def test_otp_needs_a_logged_in_user(client: httpx.AsyncClient) -> None:
    assert_error(await request_otp(client, {}), 401, "AUTHENTICATION_ERROR")
    assert_error(await verify_otp(client, {}, "123456"), 401, "AUTHENTICATION_ERROR")


async def test_otp_bad_bodies_are_400(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user("patient")
    for body, field in (
        ({"purpose": "launch_missiles"}, "purpose"),
        ({}, "purpose"),
        ({"purpose": "payment", "extra": True}, "extra"),
    ):
        response = await client.post(f"{API}/auth/otp/request", json=body, headers=account.headers)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert field in detail_fields(response), body
    for code in ("12345", "1234567", "abcdef", ""):
        response = await verify_otp(client, account.headers, code)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(response) == {"code"}


# --- VerifiedPrincipal ---------------------------------------------------------------------------

probe = APIRouter(prefix="/api/v1/_probe")


@probe.get("/money")
async def money(principal: VerifiedPrincipal) -> JSONResponse:
    return ok({"user_id": str(principal.user_id)})


async def test_verified_principal_refuses_unverified_accounts(
    make_settings: MakeSettings,
) -> None:
    async with serve(make_settings(), routers=[probe]) as served:
        factory = Factory(served.app, served.client)
        unverified = await factory.user("patient", verified=False)
        verified = await factory.user("patient", verified=True)

        refused = await served.client.get("/api/v1/_probe/money", headers=unverified.headers)
        error = assert_error(refused, 403, "AUTHORIZATION_ERROR")
        assert "Verify your email" in error["message"]

        allowed = await served.client.get("/api/v1/_probe/money", headers=verified.headers)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["data"] == {"user_id": str(verified.id)}

        anonymous = await served.client.get("/api/v1/_probe/money")
        assert_error(anonymous, 401, "AUTHENTICATION_ERROR")

        # Verifying takes effect on the very next request, with the same token.
        await served.client.post(f"{API}/auth/resend-verification", headers=unverified.headers)
        token = await link_token(served.app, unverified.email, "verify_email", "verify-email")
        assert (await verify(served.client, token)).status_code == 200
        now_allowed = await served.client.get("/api/v1/_probe/money", headers=unverified.headers)
        assert now_allowed.status_code == 200, now_allowed.text


async def test_unverified_user_still_reaches_ordinary_routes(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user("customer", verified=False, login=False)
    tokens = await login_ok(client, account.email)
    response = await me(client, tokens.headers)
    assert response.status_code == 200
    assert response.json()["data"]["is_verified"] is False
