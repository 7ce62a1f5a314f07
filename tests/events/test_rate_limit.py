"""The seed's "Event Management: 30 requests per minute per user" (RATE_LIMIT_EVENTS):
one allowance per user shared by every /events route, counted after the role check."""

from __future__ import annotations

import time

import httpx

from tests.assertions import assert_error
from tests.auth.helpers import MakeSettings, limited
from tests.factories import Account, Factory
from tests.mail.helpers import AdminSql

EVENTS = "/api/v1/events"
# The routes the seed names, called in turn so that they visibly share one allowance.
SEED_CALLS = (
    ("GET", f"{EVENTS}/email-queue/status"),
    ("POST", f"{EVENTS}/email-queue/clear-completed"),
    ("POST", f"{EVENTS}/test"),
)


async def call(
    client: httpx.AsyncClient, account: Account, method: str, url: str
) -> httpx.Response:
    body = {"message": "Ping"} if url.endswith("/test") else None
    return await client.request(method, url, json=body, headers=account.headers)


async def test_the_thirty_first_event_call_in_a_minute_is_429(
    factory: Factory, make_settings: MakeSettings, backend: str, admin_sql: AdminSql
) -> None:
    assert make_settings().RATE_LIMIT_EVENTS == "30/minute"
    # The accounts are made (and logged in) where limits are off: logins have theirs.
    operator = await factory.user("super_admin")
    colleague = await factory.user("super_admin")
    clinic = await factory.organization("clinic")
    doctor = await factory.user("doctor", organization_id=clinic.id)
    # Only this limit in the way: the role limits (a doctor's 50 a minute) and the global
    # per-IP one would otherwise be the tightest in the headers the test reads.
    async with limited(
        make_settings, backend, RATE_LIMIT_ROLES={}, RATE_LIMIT_GLOBAL="1000/minute"
    ) as served:
        for n in range(30):
            method, url = SEED_CALLS[n % len(SEED_CALLS)]
            response = await call(served.client, operator, method, url)
            assert response.status_code in {200, 201}, (url, response.text)
            assert response.headers["x-ratelimit-limit"] == "30"
            assert response.headers["x-ratelimit-remaining"] == str(29 - n)

        for method, url in (*SEED_CALLS, ("GET", f"{EVENTS}/email-queue")):
            refused = await call(served.client, operator, method, url)
            assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
            assert refused.headers["x-ratelimit-limit"] == "30"
            assert refused.headers["x-ratelimit-remaining"] == "0"
            assert 1 <= int(refused.headers["retry-after"]) <= 61
            assert int(refused.headers["x-ratelimit-reset"]) <= time.time() + 62
        # The refused test event was not emitted: 10 of the 30 calls were test events.
        [(emitted,)] = admin_sql(
            "SELECT count(*) FROM domain_events WHERE name = 'test.event' AND actor_id = %s",
            [operator.id],
        )
        assert emitted == 10

        # Per user: a colleague still has an allowance of their own.
        for method, url in SEED_CALLS:
            other = await call(served.client, colleague, method, url)
            assert other.status_code in {200, 201}, (url, other.text)
            assert other.headers["x-ratelimit-remaining"] != "0"

        # Another role is refused the queue for its role, never with a 429, and its
        # refused calls leave its own allowance whole.
        for _ in range(31):
            denied = await call(served.client, doctor, "GET", f"{EVENTS}/email-queue/status")
            assert_error(denied, 403, "AUTHORIZATION_ERROR")
        own = await call(served.client, doctor, "POST", f"{EVENTS}/test")
        assert own.status_code == 201, own.text
        assert own.headers["x-ratelimit-remaining"] == "29"


async def test_without_credentials_the_limit_is_never_reached(
    client: httpx.AsyncClient, make_settings: MakeSettings, backend: str
) -> None:
    # No user, no per-user count: anonymous callers get 401 (and the per-IP limits).
    async with limited(make_settings, backend) as served:
        for method, url in SEED_CALLS:
            response = await served.client.request(method, url)
            assert_error(response, 401, "AUTHENTICATION_ERROR")
