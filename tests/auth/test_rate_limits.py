"""Rate limits per endpoint, per user, per role, per IP; trusted proxies; shared Redis counters.

Every test runs with the in-memory limiter, and again with Redis when REDIS_URL is set.
Redis counters outlive an app, so each test resets them and uses its own client address.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.auth.helpers import (
    API,
    STRONG_PASSWORD,
    AdminSql,
    MakeSettings,
    assert_error,
    bearer,
    limited,
    login,
    login_ok,
    random_ip,
    register,
    scalar,
    serve,
)
from tests.factories import Factory, mail_to

WRONG = "Wrong-Password-99!"


def assert_limited(response: httpx.Response, limit: int) -> None:
    assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 61  # a one-minute window, rounded up
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    reset_at = int(response.headers["x-ratelimit-reset"])
    assert time.time() - 1 <= reset_at <= time.time() + 62


async def test_login_limit(make_settings: MakeSettings, backend: str) -> None:
    async with limited(make_settings, backend, RATE_LIMIT_LOGIN="3/minute") as served:
        account = await Factory(served.app, served.client).user(login=False)
        first = await login(served.client, account.email, WRONG)
        assert first.status_code == 401
        assert first.headers["x-ratelimit-limit"] == "3"
        assert first.headers["x-ratelimit-remaining"] == "2"
        assert int(first.headers["x-ratelimit-reset"]) >= int(time.time())
        second = await login(served.client, account.email, WRONG)
        assert second.headers["x-ratelimit-remaining"] == "1"
        third = await login(served.client, account.email)
        assert third.status_code == 200
        assert third.headers["x-ratelimit-remaining"] == "0"
        fourth = await login(served.client, account.email)
        assert_limited(fourth, 3)
        # Another client address has its own allowance.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=served.app, client=(random_ip(), 1)),
            base_url="http://testserver",
        ) as elsewhere:
            assert (await login(elsewhere, account.email)).status_code == 200


async def test_register_limit(
    make_settings: MakeSettings, backend: str, admin_sql: AdminSql
) -> None:
    async with limited(make_settings, backend, RATE_LIMIT_REGISTER="2/minute") as served:
        for _ in range(2):
            assert (await register(served.client)).status_code == 201
        third = await register(served.client, email="third@example.org")
        assert_limited(third, 2)
    assert scalar(admin_sql, "SELECT count(*) FROM users") == 2


async def test_otp_limit_is_per_user(make_settings: MakeSettings, backend: str) -> None:
    async with limited(make_settings, backend, RATE_LIMIT_OTP="2/minute") as served:
        factory = Factory(served.app, served.client)
        first_user = await factory.user("patient", login=False)
        second_user = await factory.user("patient", login=False)
        first = await login_ok(served.client, first_user.email)
        second = await login_ok(served.client, second_user.email)
        body = {"purpose": "medical_history"}
        for _ in range(2):
            ok = await served.client.post(
                f"{API}/auth/otp/request", json=body, headers=first.headers
            )
            assert ok.status_code == 200, ok.text
        refused = await served.client.post(
            f"{API}/auth/otp/request", json=body, headers=first.headers
        )
        assert_limited(refused, 2)
        assert len(await mail_to(served.app, first_user.email, "otp")) == 2
        # Same address, another user: a separate allowance.
        other = await served.client.post(
            f"{API}/auth/otp/request", json=body, headers=second.headers
        )
        assert other.status_code == 200, other.text


async def test_role_limit(make_settings: MakeSettings, backend: str) -> None:
    async with limited(make_settings, backend, RATE_LIMIT_ROLES={"patient": "2/minute"}) as served:
        factory = Factory(served.app, served.client)
        patient = await login_ok(served.client, (await factory.user("patient", login=False)).email)
        customer = await login_ok(
            served.client, (await factory.user("customer", login=False)).email
        )
        first = await served.client.get(f"{API}/users/me", headers=patient.headers)
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        assert (
            await served.client.get(f"{API}/users/me", headers=patient.headers)
        ).status_code == 200
        third = await served.client.get(f"{API}/users/me", headers=patient.headers)
        assert_limited(third, 2)
        # The limit counts per user of the role, and other roles are not limited by it.
        for _ in range(3):
            response = await served.client.get(f"{API}/users/me", headers=customer.headers)
            assert response.status_code == 200


async def test_anonymous_limit(make_settings: MakeSettings, backend: str) -> None:
    async with limited(make_settings, backend, RATE_LIMIT_ANONYMOUS="3/minute") as served:
        account = await Factory(served.app, served.client).user(login=False)
        tokens = await login_ok(served.client, account.email)  # anonymous request 1
        for _ in range(2):
            assert (await served.client.get(API)).status_code == 200
        fourth = await served.client.get(API)
        assert_limited(fourth, 3)
        # A logged-in caller from the same address is not anonymous.
        assert (
            await served.client.get(f"{API}/users/me", headers=tokens.headers)
        ).status_code == 200


async def test_junk_credentials_do_not_escape_the_anonymous_limit(
    make_settings: MakeSettings, backend: str
) -> None:
    """Any Authorization header must not turn an anonymous caller into an unlimited one."""
    async with limited(make_settings, backend, RATE_LIMIT_ANONYMOUS="2/minute") as served:
        statuses = []
        for _ in range(4):
            response = await served.client.get(API, headers={"Authorization": "Bearer junk"})
            statuses.append(response.status_code)
        assert all(s in (401, 429) for s in statuses[2:]), statuses


async def test_global_limit_per_address(make_settings: MakeSettings, backend: str) -> None:
    async with limited(
        make_settings, backend, RATE_LIMIT_GLOBAL="4/minute", RATE_LIMIT_ANONYMOUS="100/minute"
    ) as served:
        account = await Factory(served.app, served.client).user(login=False)
        tokens = await login_ok(served.client, account.email)
        for _ in range(3):
            assert (
                await served.client.get(f"{API}/users/me", headers=tokens.headers)
            ).status_code == 200
        limited_me = await served.client.get(f"{API}/users/me", headers=tokens.headers)
        assert_limited(limited_me, 4)
        assert_limited(await served.client.get(API), 4)
        # Health checks are outside the API limits.
        assert (await served.client.get("/health/live")).status_code == 200


async def test_trusted_proxy_forwards_the_client_address(
    make_settings: MakeSettings, backend: str, admin_sql: AdminSql
) -> None:
    first_client, second_client = random_ip(), random_ip()
    while second_client == first_client:
        second_client = random_ip()
    async with limited(
        make_settings,
        backend,
        peer="127.0.0.1",
        TRUSTED_PROXIES=["127.0.0.1/32"],
        RATE_LIMIT_ANONYMOUS="2/minute",
    ) as served:

        async def index(forwarded: str) -> httpx.Response:
            return await served.client.get(API, headers={"X-Forwarded-For": forwarded})

        assert (await index(first_client)).status_code == 200
        assert (await index(first_client)).status_code == 200
        assert_limited(await index(first_client), 2)
        assert (await index(second_client)).status_code == 200
        # Addresses left of the client's are whatever the client wrote: they change nothing.
        assert_limited(await index(f"198.51.100.7, {first_client}"), 2)
        # Our own proxy hops on the right are skipped.
        assert_limited(await index(f"{first_client}, 127.0.0.1"), 2)

        account = await Factory(served.app, served.client).user(login=False)
        third_client = random_ip()
        logged_in = await served.client.post(
            f"{API}/auth/login",
            json={"email": account.email, "password": STRONG_PASSWORD},
            headers={"X-Forwarded-For": third_client},
        )
        assert logged_in.status_code == 200, logged_in.text
    sessions = admin_sql("SELECT ip_address FROM auth_sessions WHERE user_id = %s", (account.id,))
    assert sessions == [(third_client,)]


async def test_forwarded_for_is_ignored_without_trusted_proxies(
    make_settings: MakeSettings, backend: str
) -> None:
    async with limited(make_settings, backend, RATE_LIMIT_ANONYMOUS="2/minute") as served:
        for n in range(2):
            response = await served.client.get(API, headers={"X-Forwarded-For": random_ip()})
            assert response.status_code == 200, n
        assert_limited(await served.client.get(API, headers={"X-Forwarded-For": random_ip()}), 2)


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_settings: MakeSettings, backend: str
) -> None:
    async with limited(
        make_settings,
        backend,
        peer="203.0.113.50",
        TRUSTED_PROXIES=["127.0.0.1/32"],
        RATE_LIMIT_ANONYMOUS="2/minute",
    ) as served:
        if backend == "redis":
            await served.app.state.rate_limiter.reset()
        for _ in range(2):
            assert (
                await served.client.get(API, headers={"X-Forwarded-For": random_ip()})
            ).status_code == 200
        assert_limited(await served.client.get(API, headers={"X-Forwarded-For": random_ip()}), 2)


async def test_limits_are_off_when_disabled(make_settings: MakeSettings) -> None:
    async with serve(
        make_settings(RATE_LIMIT_ENABLED=False, RATE_LIMIT_ANONYMOUS="1/minute", REDIS_URL=None)
    ) as served:
        for _ in range(3):
            response = await served.client.get(API)
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers


async def test_redis_counters_are_shared_between_app_instances(
    make_settings: MakeSettings,
) -> None:
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("REDIS_URL is not set")
    settings = make_settings(
        RATE_LIMIT_ENABLED=True, RATE_LIMIT_LOGIN="3/minute", REDIS_URL=redis_url
    )
    peer = random_ip()
    async with serve(settings, peer=peer) as first, serve(settings, peer=peer) as second:
        assert first.app.state.rate_limiter.backend == "redis"
        await first.app.state.rate_limiter.reset()
        account = await Factory(first.app, first.client).user(login=False)
        assert (await login(first.client, account.email)).status_code == 200
        assert (await login(first.client, account.email)).status_code == 200
        third = await login(second.client, account.email)
        assert third.status_code == 200
        assert third.headers["x-ratelimit-remaining"] == "0"
        assert_limited(await login(second.client, account.email), 3)
        assert_limited(await login(first.client, account.email), 3)
        # A token from one instance works on the other (same database, same secret).
        tokens = await login_ok(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=second.app, client=(random_ip(), 1)),
                base_url="http://testserver",
            ),
            account.email,
        )
        assert (
            await first.client.get(f"{API}/users/me", headers=bearer(tokens.access))
        ).status_code == 200
