"""POST /auth/register: shape, roles, password policy, taken addresses (no enumeration), emails."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.helpers import (
    API,
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    AdminSql,
    assert_error,
    bearer,
    detail_fields,
    link_token,
    login,
    me,
    register,
    scalar,
)
from tests.factories import mail_to, text_body


def user_count(admin_sql: AdminSql) -> int:
    return int(scalar(admin_sql, "SELECT count(*) FROM users"))


@pytest.mark.production_hashing
async def test_register_answers_201_with_the_account_and_a_message(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await register(client, email="ann.lee@example.org", full_name="Ann Lee")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Registration successful. Please verify your email."
    assert set(body["data"]) == {"user_id", "email"}
    assert body["data"]["email"] == "ann.lee@example.org"
    user_id = uuid.UUID(body["data"]["user_id"])
    rows = admin_sql(
        "SELECT email, full_name, role, is_verified, is_approved, is_active, organization_id,"
        " password_hash FROM users WHERE id = %s",
        (user_id,),
    )
    assert len(rows) == 1
    email, full_name, role, verified, approved, active, org, password_hash = rows[0]
    assert (email, full_name, role) == ("ann.lee@example.org", "Ann Lee", "customer")
    assert (verified, approved, active, org) == (False, True, True, None)
    assert password_hash.startswith("$argon2id$")
    assert STRONG_PASSWORD not in password_hash
    history = scalar(
        admin_sql, "SELECT count(*) FROM password_history WHERE user_id = %s", (user_id,)
    )
    assert history == 1
    audited = admin_sql(
        "SELECT metadata->>'role' FROM activity_logs WHERE action = 'user_registered'"
        " AND user_id = %s",
        (user_id,),
    )
    assert audited == [("customer",)]


async def test_self_service_roles_are_allowed(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    for role in ("patient", "customer", "doctor"):
        response = await register(client, role=role)
        assert response.status_code == 201, response.text
        stored = scalar(
            admin_sql,
            "SELECT role FROM users WHERE id = %s",
            (response.json()["data"]["user_id"],),
        )
        assert stored == role


async def test_privileged_roles_cannot_be_self_assigned(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    for role in ("admin", "pharmacist", "super_admin", "sales", "distributor", "root"):
        response = await register(client, role=role)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(response) == {"role"}, role
    assert user_count(admin_sql) == 0


WEAK_PASSWORDS = [
    ("Ab1!xyz", "at least 8 characters"),
    ("alllowercase1!", "an uppercase letter"),
    ("ALLUPPERCASE1!", "a lowercase letter"),
    ("NoDigitsHere!", "a digit"),
    ("NoSymbols12345", "a symbol"),
    ("Password1!", "too common"),
    ("Qwerty123!", "too common"),
]


async def test_weak_passwords_are_refused_and_create_nothing(
    client: httpx.AsyncClient, app: FastAPI, admin_sql: AdminSql
) -> None:
    for password, fragment in WEAK_PASSWORDS:
        response = await register(client, email="weak@example.org", password=password)
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(response) == {"password"}, password
        assert any(fragment in detail["message"] for detail in error["details"]), error
    assert user_count(admin_sql) == 0
    assert await mail_to(app, "weak@example.org") == []


async def test_password_longer_than_128_is_refused(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await register(client, password="Aa1!" + "x" * 125)
    assert_error(response, 400, "VALIDATION_ERROR")
    assert detail_fields(response) == {"password"}
    assert user_count(admin_sql) == 0


def without_request_id(response: httpx.Response) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {
        name: value
        for name, value in response.headers.items()
        if name not in {"x-request-id", "content-length"}
    }
    body = response.json()
    return response.status_code, headers, body


async def test_a_taken_email_is_answered_like_a_new_one_and_its_owner_told(
    client: httpx.AsyncClient, app: FastAPI, admin_sql: AdminSql
) -> None:
    first = await register(client, email="Dup.User@Example.org", full_name="Dee Original")
    assert first.status_code == 201, first.text
    owner_id = first.json()["data"]["user_id"]
    owner_email = first.json()["data"]["email"]
    seen_ids = {owner_id}
    for spelling in ("Dup.User@Example.org", "dup.user@example.org", "DUP.USER@EXAMPLE.ORG"):
        again = await register(client, email=spelling, password=OTHER_PASSWORD)
        fresh = await register(client, email=f"{uuid.uuid4().hex[:8]}-{spelling}")
        status, headers, body = without_request_id(again)
        fresh_status, fresh_headers, fresh_body = without_request_id(fresh)
        # Status, headers, message and shape: all as for an address nobody has.
        assert (status, headers) == (fresh_status, fresh_headers) == (201, headers)
        assert body["message"] == fresh_body["message"]
        assert set(body["data"]) == set(fresh_body["data"]) == {"user_id", "email"}
        assert body["data"]["email"].lower() == spelling.lower()
        # A new id every time, naming no account.
        decoy = uuid.UUID(body["data"]["user_id"])
        assert decoy.version == uuid.UUID(fresh_body["data"]["user_id"]).version
        assert str(decoy) not in seen_ids
        seen_ids.add(str(decoy))
        assert scalar(admin_sql, "SELECT count(*) FROM users WHERE id = %s", (decoy,)) == 0
    assert scalar(admin_sql, "SELECT count(*) FROM users WHERE email = 'dup.user@example.org'") == 1
    # The account is untouched: its password is still the first one.
    assert (await login(client, "DUP.user@example.ORG")).status_code == 200
    assert (await login(client, "dup.user@example.org", OTHER_PASSWORD)).status_code == 401
    # Its owner hears of each attempt, with the way back in; nothing else is sent.
    notices = await mail_to(app, owner_email, "registration_attempt")
    assert len(notices) == 3
    body_text = text_body(notices[0])
    assert "Hello Dee Original" in body_text
    frontend = app.state.settings.FRONTEND_URL.rstrip("/")
    assert f"{frontend}/login" in body_text
    assert f"{frontend}/forgot-password" in body_text
    assert len(await mail_to(app, owner_email, "verify_email")) == 1
    assert len(await mail_to(app, owner_email, "welcome")) == 1
    audited = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'registration_attempted'"
        " AND user_id = %s",
        (owner_id,),
    )
    assert audited == [(3,)]


async def test_concurrent_duplicate_registrations_create_one_account(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    responses = await asyncio.gather(
        *(register(client, email="race@example.org") for _ in range(3))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 201, 201], [r.text for r in responses]
    assert len({r.json()["data"]["user_id"] for r in responses}) == 3
    assert user_count(admin_sql) == 1


BAD_FIELDS: list[tuple[dict[str, object], str]] = [
    ({"is_verified": True}, "is_verified"),
    ({"is_approved": True}, "is_approved"),
    ({"organization_id": str(uuid.uuid4())}, "organization_id"),
    ({"email": "not-an-email"}, "email"),
    ({"full_name": ""}, "full_name"),
    ({"phone": "call me"}, "phone"),
]


async def test_bad_or_unknown_fields_are_400(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    for body, field in BAD_FIELDS:
        payload: dict[str, object] = {
            "email": "fields@example.org",
            "password": STRONG_PASSWORD,
            "full_name": "Field Test",
            **body,
        }
        response = await client.post(f"{API}/auth/register", json=payload)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert field in detail_fields(response), body
    assert user_count(admin_sql) == 0


async def test_missing_body_names_every_required_field(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/auth/register", json={})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert detail_fields(response) == {"email", "password", "full_name"}


async def test_self_registered_doctor_waits_for_approval(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await register(client, email="dr.who@example.org", role="doctor")
    assert response.status_code == 201
    logged_in = await login(client, "dr.who@example.org")
    assert logged_in.status_code == 200, logged_in.text
    profile = await me(client, bearer(logged_in.json()["data"]["access_token"]))
    assert profile.status_code == 200
    data = profile.json()["data"]
    assert data["role"] == "doctor"
    assert data["is_approved"] is False
    assert data["is_verified"] is False
    [welcome] = await mail_to(app, "dr.who@example.org", "welcome")
    assert "reviewed by an administrator" in text_body(welcome)


async def test_patient_is_approved_and_welcome_has_no_review_note(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await register(client, email="pat@example.org", role="patient")
    profile = await me(
        client, bearer((await login(client, "pat@example.org")).json()["data"]["access_token"])
    )
    assert profile.json()["data"]["is_approved"] is True
    [welcome] = await mail_to(app, "pat@example.org", "welcome")
    assert "reviewed by an administrator" not in text_body(welcome)


async def test_registration_mails_a_verification_link_and_a_welcome(
    client: httpx.AsyncClient, app: FastAPI, admin_sql: AdminSql
) -> None:
    await register(client, email="mail.me@example.org", full_name="Mail Me")
    templates = sorted(m["X-MedHub-Template"] for m in await mail_to(app, "mail.me@example.org"))
    assert templates == ["verify_email", "welcome"]
    token = await link_token(app, "mail.me@example.org", "verify_email", "verify-email")
    assert len(token) >= 32
    [verify] = await mail_to(app, "mail.me@example.org", "verify_email")
    assert "Hello Mail Me" in text_body(verify)
    assert f"{app.state.settings.FRONTEND_URL}/verify-email?token={token}" in text_body(verify)
    # Only a digest of the link is stored.
    stored = admin_sql("SELECT token_hash FROM one_time_tokens WHERE purpose = 'verify_email'")
    assert len(stored) == 1
    assert stored[0][0] != token


async def test_a_refused_registration_sends_no_email(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await register(client, email="twice@example.org")
    refused = await register(client, email="twice@example.org", password="Password1!")
    assert_error(refused, 400, "VALIDATION_ERROR")
    assert len(await mail_to(app, "twice@example.org", "verify_email")) == 1
    assert len(await mail_to(app, "twice@example.org", "welcome")) == 1
    assert await mail_to(app, "twice@example.org", "registration_attempt") == []
