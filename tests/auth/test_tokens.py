"""Access tokens: claims, forgeries, expiry, malformed credentials, key rotation."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from medhub.config import Settings
from medhub.kit.security import JWT_AUDIENCE, JWT_ISSUER, TokenCodec, signing_key
from tests.auth.helpers import (
    API,
    AdminSql,
    MakeSettings,
    assert_error,
    b64encode,
    bearer,
    jwt_header,
    jwt_payload,
    login,
    login_ok,
    me,
    new_client,
    refresh,
    serve,
    set_cookies,
    unsigned_token,
)
from tests.conftest import TEST_SECRET
from tests.factories import Factory

NEW_SECRET = "rotated-secret-" + "y" * 40


async def test_access_token_claims_and_kid(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, admin_sql: AdminSql
) -> None:
    organization = await factory.organization("hospital")
    account = await factory.user("doctor", organization_id=organization.id, login=False)
    tokens = await login_ok(client, account.email)
    header = jwt_header(tokens.access)
    assert header["alg"] == "HS256"
    assert header["kid"] == signing_key(settings.jwt_secret()).kid
    claims = jwt.decode(tokens.access, options={"verify_signature": False})
    assert {"sub", "role", "org", "sid", "jti", "iat", "exp"} <= set(claims)
    assert claims["sub"] == str(account.id)
    assert claims["role"] == "doctor"
    assert claims["org"] == str(organization.id)
    assert claims["exp"] - claims["iat"] == 900
    assert claims["iss"] == JWT_ISSUER
    assert claims["aud"] == JWT_AUDIENCE
    sessions = admin_sql("SELECT id FROM auth_sessions WHERE user_id = %s", (account.id,))
    assert sessions == [(uuid.UUID(claims["sid"]),)]
    # Every token has its own id, even for the same session.
    rotated = await refresh(client, tokens.refresh)
    again = jwt_payload(rotated.json()["data"]["access_token"])
    assert again["sid"] == claims["sid"]
    assert again["jti"] != claims["jti"]


async def test_independent_user_has_null_org_claim(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user("customer", login=False)
    claims = jwt_payload((await login_ok(client, account.email)).access)
    assert claims["org"] is None
    assert claims["role"] == "customer"


async def test_the_genuine_token_works(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user()
    response = await me(client, account.headers)
    assert response.status_code == 200
    assert response.json()["data"]["id"] == str(account.id)


async def test_forged_signature_is_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user()
    assert account.access_token
    head, body, _signature = account.access_token.split(".")
    forged = f"{head}.{body}.{b64encode(secrets.token_bytes(32))}"
    assert_error(await me(client, bearer(forged)), 401, "AUTHENTICATION_ERROR")


async def test_tampered_payload_with_original_signature_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user("customer")
    assert account.access_token
    head, _body, signature = account.access_token.split(".")
    claims = jwt_payload(account.access_token)
    claims["role"] = "super_admin"
    body = unsigned_token({}, claims).split(".")[1]
    tampered = f"{head}.{body}.{signature}"
    assert_error(await me(client, bearer(tampered)), 401, "AUTHENTICATION_ERROR")


async def test_alg_none_is_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user()
    assert account.access_token
    for alg in ("none", "None", "NONE"):
        header = {**jwt_header(account.access_token), "alg": alg}
        for signature in ("", account.access_token.split(".")[2]):
            token = unsigned_token(header, jwt_payload(account.access_token), signature)
            assert_error(await me(client, bearer(token)), 401, "AUTHENTICATION_ERROR")


async def test_token_signed_with_another_secret_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user()
    assert account.access_token
    claims = jwt_payload(account.access_token)
    attacker = TokenCodec("attacker-secret-" + "z" * 40)
    token, _ = attacker.issue(
        user_id=account.id,
        role="super_admin",
        org_id=None,
        session_id=uuid.UUID(claims["sid"]),
        ttl=timedelta(minutes=5),
    )
    assert_error(await me(client, bearer(token)), 401, "AUTHENTICATION_ERROR")
    # Same forgery, but claiming the genuine key id.
    genuine_kid = jwt_header(account.access_token)["kid"]
    spoofed = jwt.encode(
        claims, "attacker-secret-" + "z" * 40, algorithm="HS256", headers={"kid": genuine_kid}
    )
    assert_error(await me(client, bearer(spoofed)), 401, "AUTHENTICATION_ERROR")


async def test_unknown_kid_is_refused_even_with_the_right_secret(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    account = await factory.user()
    assert account.access_token
    claims = jwt_payload(account.access_token)
    for kid in ("other-key", "", None):
        headers = {"kid": kid} if kid is not None else {}
        token = jwt.encode(claims, settings.jwt_secret(), algorithm="HS256", headers=headers)
        assert_error(await me(client, bearer(token)), 401, "AUTHENTICATION_ERROR")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_other_hmac_algorithms_are_refused(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    account = await factory.user()
    assert account.access_token
    claims = jwt_payload(account.access_token)
    kid = jwt_header(account.access_token)["kid"]
    for alg in ("HS384", "HS512"):
        token = jwt.encode(claims, settings.jwt_secret(), algorithm=alg, headers={"kid": kid})
        assert_error(await me(client, bearer(token)), 401, "AUTHENTICATION_ERROR")


MALFORMED_CLAIMS: list[dict[str, object]] = [
    {"sid": 123},
    {"sid": None},
    {"sid": ["not", "a", "uuid"]},
    {"sid": "not-a-uuid"},
    {"sub": 123},
    {"sub": "not-a-uuid"},
    {"sub": {"id": 1}},
    {"org": 123},
    {"org": "not-a-uuid"},
    {"role": 123},
    {"role": None},
    {"jti": 42},
]


@pytest.mark.parametrize("change", MALFORMED_CLAIMS, ids=repr)
async def test_correctly_signed_token_with_a_malformed_claim_is_401(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, change: dict[str, object]
) -> None:
    """A claim of the wrong type or form is a bad token, never a server error."""
    account = await factory.user()
    assert account.access_token
    claims = {**jwt_payload(account.access_token), **change}
    kid = jwt_header(account.access_token)["kid"]
    token = jwt.encode(claims, settings.jwt_secret(), algorithm="HS256", headers={"kid": kid})
    error = assert_error(await me(client, bearer(token)), 401, "AUTHENTICATION_ERROR")
    assert error["message"].startswith("Invalid access token")
    # The same token with its claims intact still works: only the claim was wrong.
    assert (await me(client, account.headers)).status_code == 200


async def test_expired_token_is_refused(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    account = await factory.user()
    assert account.access_token
    claims = jwt_payload(account.access_token)
    codec = TokenCodec(settings.jwt_secret())
    expired, _ = codec.issue(
        user_id=account.id,
        role=account.role,
        org_id=None,
        session_id=uuid.UUID(claims["sid"]),
        ttl=timedelta(seconds=-1),
    )
    error = assert_error(await me(client, bearer(expired)), 401, "AUTHENTICATION_ERROR")
    assert "expired" in error["message"]
    # The same codec with a live ttl is accepted: only expiry made the difference.
    live, _ = codec.issue(
        user_id=account.id,
        role=account.role,
        org_id=None,
        session_id=uuid.UUID(claims["sid"]),
        ttl=timedelta(minutes=1),
    )
    assert (await me(client, bearer(live))).status_code == 200


async def test_token_for_another_users_session_is_refused(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    """Even a correctly signed token must name a session of its own subject."""
    victim = await factory.user()
    attacker = await factory.user()
    assert victim.access_token
    token, _ = TokenCodec(settings.jwt_secret()).issue(
        user_id=attacker.id,
        role=attacker.role,
        org_id=None,
        session_id=uuid.UUID(jwt_payload(victim.access_token)["sid"]),
        ttl=timedelta(minutes=5),
    )
    assert_error(await me(client, bearer(token)), 401, "AUTHENTICATION_ERROR")


async def test_claims_role_is_not_trusted_over_the_database(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user("customer")
    admin_sql("UPDATE users SET role = 'patient' WHERE id = %s", (account.id,))
    response = await me(client, account.headers)
    assert response.json()["data"]["role"] == "patient"


async def test_malformed_authorization_is_401(client: httpx.AsyncClient) -> None:
    for authorization in (
        "Basic x",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer not.a.jwt",
        "Bearer a.b",
        "Bearer " + "x" * 500,
        "Token abc",
        "bearer",
    ):
        response = await me(client, {"Authorization": authorization})
        assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_no_credentials_is_401(client: httpx.AsyncClient) -> None:
    error = assert_error(await me(client), 401, "AUTHENTICATION_ERROR")
    assert error["message"] == "Authentication required"


async def test_garbage_access_cookie_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/users/me", headers={"Cookie": "medhub_access=garbage"})
    assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_key_rotation_accepts_tokens_of_the_previous_secret(
    client: httpx.AsyncClient, factory: Factory, make_settings: MakeSettings
) -> None:
    account = await factory.user(login=False)
    old = await login_ok(client, account.email)
    rotated = make_settings(JWT_SECRET=NEW_SECRET, JWT_PREVIOUS_SECRETS=[TEST_SECRET])
    async with serve(rotated) as served:
        accepted = await me(served.client, old.headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["data"]["id"] == str(account.id)
        # New tokens are signed with the new key...
        fresh = await login_ok(served.client, account.email)
        assert jwt_header(fresh.access)["kid"] == signing_key(NEW_SECRET).kid
        assert jwt_header(fresh.access)["kid"] != jwt_header(old.access)["kid"]
        # ...and the refresh token from before the rotation still rotates, into a new-key token.
        renewed = await refresh(served.client, old.refresh)
        assert renewed.status_code == 200, renewed.text
        assert (
            jwt_header(renewed.json()["data"]["access_token"])["kid"] == signing_key(NEW_SECRET).kid
        )
    # The old deployment does not know the new key.
    assert_error(await me(client, fresh.headers), 401, "AUTHENTICATION_ERROR")


async def test_retired_secret_is_no_longer_accepted(
    client: httpx.AsyncClient, factory: Factory, make_settings: MakeSettings
) -> None:
    account = await factory.user()
    async with serve(make_settings(JWT_SECRET=NEW_SECRET)) as served:
        assert_error(await me(served.client, account.headers), 401, "AUTHENTICATION_ERROR")


async def test_key_rotation_keeps_browser_sessions_working(
    app: FastAPI, make_settings: MakeSettings
) -> None:
    """A cookie session opened before the rotation can still refresh and write after it.

    JWT_PREVIOUS_SECRETS exists so a rotation logs nobody out; the CSRF token bound to
    the session must survive it like the access token does.
    """
    factory = Factory(app, new_client(app))
    account = await factory.user(login=False)
    browser = new_client(app)
    async with browser:
        logged_in = await login(browser, account.email, use_cookies=True)
        assert logged_in.status_code == 200
        cookies = set_cookies(logged_in)
        csrf = cookies["medhub_csrf"]["value"]
        jar = {
            "Cookie": "; ".join(
                f"{name}={cookies[name]['value']}"
                for name in ("medhub_access", "medhub_refresh", "medhub_csrf")
            )
        }
    rotated = make_settings(JWT_SECRET=NEW_SECRET, JWT_PREVIOUS_SECRETS=[TEST_SECRET])
    async with serve(rotated) as served:
        read = await served.client.get(f"{API}/users/me", headers=jar)
        assert read.status_code == 200, read.text
        write = await served.client.put(
            f"{API}/users/me",
            json={"full_name": "Still Here"},
            headers={**jar, "X-CSRF-Token": csrf},
        )
        assert write.status_code == 200, write.text
        renewed = await served.client.post(
            f"{API}/auth/refresh", headers={**jar, "X-CSRF-Token": csrf}
        )
        assert renewed.status_code == 200, renewed.text
