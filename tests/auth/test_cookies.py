"""Browser mode: HttpOnly cookies, the CSRF double submit bound to the session, Secure in prod."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from medhub.config import Environment
from tests.auth.helpers import (
    API,
    MakeSettings,
    assert_error,
    login,
    new_client,
    serve,
    set_cookies,
)
from tests.factories import Factory

ME = f"{API}/users/me"


async def cookie_login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    response = await login(client, email, use_cookies=True)
    assert response.status_code == 200, response.text
    return response


async def test_cookie_login_sets_three_cookies_and_no_tokens_in_the_body(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    response = await cookie_login(client, account.email)
    data = response.json()["data"]
    assert data["access_token"] is None
    assert data["refresh_token"] is None
    assert data["token_type"] == "cookie"
    assert data["expires_in"] == 900
    assert data["user"]["id"] == str(account.id)

    cookies = set_cookies(response)
    assert set(cookies) == {"medhub_access", "medhub_refresh", "medhub_csrf"}
    access, refresh_cookie, csrf = (
        cookies["medhub_access"],
        cookies["medhub_refresh"],
        cookies["medhub_csrf"],
    )
    assert access["httponly"] is True
    assert access["path"] == "/"
    assert access["samesite"].lower() == "lax"
    assert access["max-age"] == "900"
    assert refresh_cookie["httponly"] is True
    assert refresh_cookie["path"] == "/api/v1/auth"
    assert refresh_cookie["samesite"].lower() == "lax"
    assert refresh_cookie["max-age"] == str(7 * 24 * 3600)
    assert csrf["httponly"] is False
    assert csrf["path"] == "/"
    for cookie in cookies.values():
        assert cookie["secure"] is False  # test/development run on plain http
    # None of the cookie secrets is readable from the body.
    for cookie in cookies.values():
        assert cookie["value"] not in response.text
    assert access["value"].count(".") == 2


async def test_a_get_with_only_the_cookie_is_authenticated(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    await cookie_login(client, account.email)
    response = await client.get(ME)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == str(account.id)
    assert "authorization" not in response.request.headers


async def test_unsafe_methods_need_the_session_csrf_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    response = await cookie_login(client, account.email)
    csrf = set_cookies(response)["medhub_csrf"]["value"]
    body = {"full_name": "Cookie Monster"}

    missing = await client.put(ME, json=body)
    error = assert_error(missing, 403, "AUTHORIZATION_ERROR")
    assert "CSRF" in error["message"]
    wrong = await client.put(ME, json=body, headers={"X-CSRF-Token": "0" * 64})
    assert_error(wrong, 403, "AUTHORIZATION_ERROR")
    empty = await client.put(ME, json=body, headers={"X-CSRF-Token": ""})
    assert_error(empty, 403, "AUTHORIZATION_ERROR")
    assert (await client.get(ME)).json()["data"]["full_name"] == "Test Person"

    right = await client.put(ME, json=body, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200, right.text
    assert right.json()["data"]["full_name"] == "Cookie Monster"


async def test_planted_csrf_cookie_and_matching_header_are_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """Double submit alone is not enough: the token must be the one bound to this session."""
    account = await factory.user(login=False)
    await cookie_login(client, account.email)
    planted = "f" * 64
    access = client.cookies.get("medhub_access")
    response = await client.put(
        ME,
        json={"full_name": "Hijacked"},
        headers={
            "X-CSRF-Token": planted,
            "Cookie": f"medhub_access={access}; medhub_csrf={planted}",
        },
    )
    assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_csrf_token_of_another_session_is_refused(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    mine = set_cookies(await cookie_login(client, account.email))
    async with new_client(app) as other_browser:
        theirs = set_cookies(await cookie_login(other_browser, account.email))
    assert theirs["medhub_csrf"]["value"] != mine["medhub_csrf"]["value"]
    foreign = theirs["medhub_csrf"]["value"]
    response = await client.put(
        ME,
        json={"full_name": "Mixed Up"},
        headers={
            "X-CSRF-Token": foreign,
            "Cookie": f"medhub_access={mine['medhub_access']['value']}; medhub_csrf={foreign}",
        },
    )
    assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_bearer_requests_need_no_csrf(client: httpx.AsyncClient, factory: Factory) -> None:
    account = await factory.user()
    response = await client.put(ME, json={"full_name": "Api Client"}, headers=account.headers)
    assert response.status_code == 200, response.text


async def test_cookie_refresh_needs_the_csrf_header_and_rotates_the_cookies(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    first = set_cookies(await cookie_login(client, account.email))
    csrf = first["medhub_csrf"]["value"]

    missing = await client.post(f"{API}/auth/refresh")
    assert_error(missing, 403, "AUTHORIZATION_ERROR")
    wrong = await client.post(f"{API}/auth/refresh", headers={"X-CSRF-Token": "1" * 64})
    assert_error(wrong, 403, "AUTHORIZATION_ERROR")

    renewed = await client.post(f"{API}/auth/refresh", headers={"X-CSRF-Token": csrf})
    assert renewed.status_code == 200, renewed.text
    data = renewed.json()["data"]
    assert data["access_token"] is None
    assert data["refresh_token"] is None
    assert data["token_type"] == "cookie"
    second = set_cookies(renewed)
    assert set(second) == {"medhub_access", "medhub_refresh", "medhub_csrf"}
    assert second["medhub_refresh"]["value"] != first["medhub_refresh"]["value"]
    assert second["medhub_access"]["value"] != first["medhub_access"]["value"]
    # Same session, so the same CSRF token.
    assert second["medhub_csrf"]["value"] == csrf
    assert (await client.get(ME)).status_code == 200

    # The old refresh cookie is spent: replaying it revokes the session.
    replay = await client.post(
        f"{API}/auth/refresh",
        headers={
            "X-CSRF-Token": csrf,
            "Cookie": f"medhub_refresh={first['medhub_refresh']['value']}; medhub_csrf={csrf}",
        },
    )
    assert_error(replay, 401, "AUTHENTICATION_ERROR")
    assert_error(await client.get(ME), 401, "AUTHENTICATION_ERROR")


async def test_cookie_logout_needs_csrf_and_clears_the_cookies(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    account = await factory.user(login=False)
    csrf = set_cookies(await cookie_login(client, account.email))["medhub_csrf"]["value"]
    # A cross-site form cannot log the user out.
    assert_error(await client.post(f"{API}/auth/logout"), 403, "AUTHORIZATION_ERROR")
    assert (await client.get(ME)).status_code == 200

    out = await client.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200, out.text
    cleared = set_cookies(out)
    assert set(cleared) == {"medhub_access", "medhub_refresh", "medhub_csrf"}
    for cookie in cleared.values():
        assert cookie["max-age"] == "0"
        assert cookie["value"] == ""
    assert cleared["medhub_refresh"]["path"] == "/api/v1/auth"
    assert_error(await client.get(ME), 401, "AUTHENTICATION_ERROR")


async def test_production_cookies_are_secure(make_settings: MakeSettings) -> None:
    settings = make_settings(ENV=Environment.production)
    assert settings.is_production
    assert settings.DATABASE_URL
    async with serve(settings) as served:
        factory = Factory(served.app, served.client)
        account = await factory.user(login=False)
        response = await login(served.client, account.email, use_cookies=True)
        assert response.status_code == 200, response.text
        cookies = set_cookies(response)
        assert set(cookies) == {"medhub_access", "medhub_refresh", "medhub_csrf"}
        for name, cookie in cookies.items():
            assert cookie["secure"] is True, name
            assert cookie["samesite"].lower() == "lax"
        assert cookies["medhub_access"]["httponly"] is True
        assert cookies["medhub_csrf"]["httponly"] is False
        out = await served.client.post(
            f"{API}/auth/logout",
            headers={
                "X-CSRF-Token": cookies["medhub_csrf"]["value"],
                "Cookie": "; ".join(f"{n}={c['value']}" for n, c in cookies.items()),
            },
        )
        assert out.status_code == 200, out.text
        assert all(c["secure"] for c in set_cookies(out).values())
