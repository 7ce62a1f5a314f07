"""Failed logins throttled per (email, client IP) and per client IP, never per account:
no lockout of the owner from elsewhere, one answer for throttled, wrong and unknown,
the owner's alert, expiry, and the counters' own transaction."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from medhub.auth import throttle
from medhub.auth.exceptions import InvalidCredentials
from medhub.kit.db import Database
from medhub.kit.security import PasswordHasher
from tests.auth.helpers import (
    API,
    GENERIC_LOGIN_MESSAGE,
    STRONG_PASSWORD,
    AdminSql,
    MakeSettings,
    assert_error,
    last_mail,
    link_token,
    login,
    new_client,
    scalar,
    serve,
    unique_email,
)
from tests.factories import Factory, mail_to, run_jobs, text_body
from tests.mail.helpers import job_rows

WRONG = "Wrong-Password-99!"
NEW_PASSWORD = "Blue-Harbour-Lamp-73"
ATTACKER = "203.0.113.66"
ELSEWHERE = "198.51.100.23"
LOCKOUT_SECONDS = str(15 * 60)
ALERT_TASK = "medhub.auth.alert_failed_logins"


@asynccontextmanager
async def from_address(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(app, peer=ip) as client:
        yield client


def assert_refused(response: httpx.Response, *, retry_after: str | None) -> None:
    """The one answer for a wrong password, an unknown email and a throttled attempt."""
    error = assert_error(response, 401, "AUTHENTICATION_ERROR")
    assert error["message"] == GENERIC_LOGIN_MESSAGE
    assert error["details"] == []
    assert response.headers.get("retry-after") == retry_after


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], dict[str, Any], bytes]:
    """Everything a client sees, but the request id (which differs on every request)."""
    headers = {name: value for name, value in response.headers.items() if name != "x-request-id"}
    body = response.json()
    request_id = body.pop("request_id")
    assert request_id == response.headers["x-request-id"]
    return response.status_code, headers, body, response.content.replace(request_id.encode(), b"")


async def test_failures_from_one_address_do_not_lock_the_owner_out(
    app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    owner = await factory.user("super_admin", login=False)
    async with from_address(app, ATTACKER) as attacker, from_address(app, ELSEWHERE) as home:
        for _ in range(4):
            assert_refused(await login(attacker, owner.email, WRONG), retry_after=None)
        # The failure that reaches the limit answers like the others, with Retry-After.
        assert_refused(await login(attacker, owner.email, WRONG), retry_after=LOCKOUT_SECONDS)
        # From that address even the right password is refused now...
        assert_refused(await login(attacker, owner.email), retry_after=LOCKOUT_SECONDS)
        # ...but the owner, anywhere else, logs in as usual.
        welcome = await login(home, owner.email)
        assert welcome.status_code == 200, welcome.text
        assert welcome.json()["data"]["user"]["id"] == str(owner.id)
        # And keeps logging in: the owner's success does not lift the attacker's throttle.
        assert (await login(home, owner.email)).status_code == 200
        assert_refused(await login(attacker, owner.email), retry_after=LOCKOUT_SECONDS)
    actions = [
        row[0]
        for row in admin_sql(
            "SELECT action FROM activity_logs WHERE user_id = %s ORDER BY seq", (owner.id,)
        )
    ]
    assert actions.count("login_failed") == 5
    assert actions.count("login_throttled") == 1
    assert actions.count("login_blocked") == 2
    assert actions.count("login") == 2


async def test_forwarded_client_addresses_are_throttled_apart(
    make_settings: MakeSettings, admin_sql: AdminSql
) -> None:
    """Behind a trusted proxy, the client's forwarded address is what is throttled."""
    settings = make_settings(TRUSTED_PROXIES=["127.0.0.1/32"])
    async with serve(settings, peer="127.0.0.1") as served:
        owner = await Factory(served.app, served.client).user(login=False)

        async def attempt(forwarded_for: str, password: str) -> httpx.Response:
            return await served.client.post(
                f"{API}/auth/login",
                json={"email": owner.email, "password": password},
                headers={"X-Forwarded-For": forwarded_for},
            )

        for _ in range(5):
            await attempt(ATTACKER, WRONG)
        assert_refused(await attempt(ATTACKER, STRONG_PASSWORD), retry_after=LOCKOUT_SECONDS)
        assert (await attempt(ELSEWHERE, STRONG_PASSWORD)).status_code == 200
    rows = admin_sql("SELECT ip FROM login_failures WHERE blocked_until > now()")
    assert rows == [(ATTACKER,)]


async def test_throttled_known_and_unknown_emails_answer_identically(
    app: FastAPI, factory: Factory
) -> None:
    account = await factory.user(login=False)
    unknown = unique_email("nobody")
    async with from_address(app, ATTACKER) as attacker:
        known_answers = [await login(attacker, account.email, WRONG) for _ in range(5)]
        # The sixth is throttled: for the account even with its right password.
        known_answers.append(await login(attacker, account.email, STRONG_PASSWORD))
        unknown_answers = [await login(attacker, unknown, WRONG) for _ in range(5)]
        unknown_answers.append(await login(attacker, unknown, STRONG_PASSWORD))
    for known, other in zip(known_answers, unknown_answers, strict=True):
        assert comparable(known) == comparable(other)
    assert_refused(known_answers[3], retry_after=None)
    assert_refused(known_answers[4], retry_after=LOCKOUT_SECONDS)
    assert_refused(known_answers[5], retry_after=LOCKOUT_SECONDS)


async def test_a_throttled_attempt_costs_a_hash_but_never_checks_the_password(
    app: FastAPI, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await factory.user(login=False)
    hasher: PasswordHasher = app.state.auth_runtime.hasher
    checked: list[str | None] = []
    verify = hasher.verify

    async def spy(password: str, hashed: str | None) -> tuple[bool, str | None]:
        checked.append(hashed)
        return await verify(password, hashed)

    monkeypatch.setattr(hasher, "verify", spy)
    async with from_address(app, ATTACKER) as attacker:
        for _ in range(5):
            await login(attacker, account.email, WRONG)
        assert all(hashed is not None for hashed in checked)
        checked.clear()
        assert_refused(await login(attacker, account.email), retry_after=LOCKOUT_SECONDS)
    # One hash, against the dummy (as for an unknown email), not against the account's.
    assert checked == [None]


async def test_the_throttle_expires(app: FastAPI, factory: Factory, admin_sql: AdminSql) -> None:
    account = await factory.user(login=False)
    async with from_address(app, ATTACKER) as attacker:
        for _ in range(5):
            await login(attacker, account.email, WRONG)
        assert_refused(await login(attacker, account.email), retry_after=LOCKOUT_SECONDS)
        # A quarter of an hour passes.
        admin_sql(
            "UPDATE login_failures SET blocked_until = now() - interval '1 second',"
            " window_started_at = window_started_at - interval '16 minutes',"
            " last_seen_at = last_seen_at - interval '16 minutes'"
            " WHERE blocked_until IS NOT NULL"
        )
        # A fresh start: a wrong password is an ordinary failure again...
        assert_refused(await login(attacker, account.email, WRONG), retry_after=None)
        # ...and the right one gets in, forgiving this address's failures for the account.
        response = await login(attacker, account.email)
        assert response.status_code == 200, response.text
    pair = admin_sql("SELECT count(*) FROM login_failures WHERE ip = %s", (ATTACKER,))
    assert pair == [(1,)], "only the address's own counter is left"


async def test_failures_outside_the_window_start_a_new_count(
    app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    async with from_address(app, ATTACKER) as attacker:
        for _ in range(4):
            await login(attacker, account.email, WRONG)
        admin_sql(
            "UPDATE login_failures SET window_started_at = window_started_at"
            " - interval '16 minutes' WHERE ip = %s",
            (ATTACKER,),
        )
        assert_refused(await login(attacker, account.email, WRONG), retry_after=None)
        assert (await login(attacker, account.email)).status_code == 200


async def test_the_owner_is_alerted_once_with_a_working_reset_link(
    app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    owner = await factory.user(login=False, full_name="Olga Owner")
    unknown = unique_email("nobody")
    async with (
        from_address(app, ATTACKER) as attacker,
        from_address(app, "192.0.2.45") as second,
    ):
        for _ in range(5):
            await login(attacker, owner.email, WRONG)
        # A second address gets throttled too, within LOCKOUT_MINUTES: no second alert.
        for _ in range(5):
            await login(second, owner.email, WRONG)
        # An unknown email's burst is handled alike (a job is deferred) but tells nobody.
        for _ in range(5):
            await login(attacker, unknown, WRONG)
        assert len(job_rows(admin_sql, ALERT_TASK)) == 2
        [alert] = await mail_to(app, owner.email, "failed_logins")
        body = text_body(alert)
        assert "Hello Olga Owner" in body
        assert ATTACKER in body
        assert "5 times" in body
        assert await mail_to(app, unknown) == []
        # The link resets the password, and the reset lifts the throttle everywhere.
        token = await link_token(app, owner.email, "failed_logins", "reset-password")
        reset = await attacker.post(
            f"{API}/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert reset.status_code == 200, reset.text
        assert (await login(second, owner.email, NEW_PASSWORD)).status_code == 200
        assert (await login(attacker, owner.email, NEW_PASSWORD)).status_code == 200
    assert len(await mail_to(app, owner.email, "failed_logins")) == 1
    audited = admin_sql(
        "SELECT metadata->>'ip' FROM activity_logs WHERE action = 'failed_login_alert_sent'"
        " AND user_id = %s",
        (owner.id,),
    )
    assert audited == [(ATTACKER,)]


async def test_the_alert_comes_again_after_the_quiet_period(
    app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    owner = await factory.user(login=False)
    async with from_address(app, ATTACKER) as attacker:
        for _ in range(5):
            await login(attacker, owner.email, WRONG)
        await run_jobs(app)
        admin_sql(
            "UPDATE login_failures SET alerted_at = alerted_at - interval '16 minutes',"
            " blocked_until = now() - interval '1 second',"
            " window_started_at = window_started_at - interval '16 minutes'"
        )
        for _ in range(5):
            await login(attacker, owner.email, WRONG)
    assert len(await mail_to(app, owner.email, "failed_logins")) == 2
    assert "reset-password?token=" in text_body(await last_mail(app, owner.email, "failed_logins"))


async def test_one_address_failing_for_many_emails_is_throttled(
    make_settings: MakeSettings,
) -> None:
    async with serve(make_settings(LOGIN_MAX_FAILURES_PER_IP=3), peer=ATTACKER) as served:
        factory = Factory(served.app, served.client)
        victims = [await factory.user(login=False) for _ in range(3)]
        bystander = await factory.user(login=False)
        for victim in victims[:2]:
            assert_refused(await login(served.client, victim.email, WRONG), retry_after=None)
        # The third failure from the address, whatever the email, throttles the address.
        assert_refused(
            await login(served.client, unique_email(), WRONG), retry_after=LOCKOUT_SECONDS
        )
        for account in (victims[2], bystander):
            assert_refused(await login(served.client, account.email), retry_after=LOCKOUT_SECONDS)
        async with from_address(served.app, ELSEWHERE) as other:
            assert (await login(other, bystander.email)).status_code == 200


async def test_a_success_does_not_reset_the_address_counter(make_settings: MakeSettings) -> None:
    """An attacker's own account must not wipe the per-address count of their guesses."""
    async with serve(make_settings(LOGIN_MAX_FAILURES_PER_IP=3), peer=ATTACKER) as served:
        factory = Factory(served.app, served.client)
        own = await factory.user(login=False)
        for _ in range(2):
            await login(served.client, unique_email(), WRONG)
            assert (await login(served.client, own.email)).status_code == 200
        assert_refused(
            await login(served.client, unique_email(), WRONG), retry_after=LOCKOUT_SECONDS
        )


async def test_concurrent_wrong_passwords_are_all_counted(
    app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    """Parallel guesses must not slip past the throttle through lost counter updates."""
    account = await factory.user(login=False)
    async with from_address(app, ATTACKER) as attacker:
        responses = await asyncio.gather(*(login(attacker, account.email, WRONG) for _ in range(5)))
        for response in responses:
            assert_error(response, 401, "AUTHENTICATION_ERROR")
        assert sum("retry-after" in r.headers for r in responses) == 1
        assert_refused(await login(attacker, account.email), retry_after=LOCKOUT_SECONDS)
    failures = scalar(
        admin_sql,
        "SELECT count(*) FROM activity_logs WHERE action = 'login_failed' AND user_id = %s",
        (account.id,),
    )
    assert failures == 5


async def test_the_counters_hold_no_email_address(
    app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(email="Private.Person@Example.org", login=False)
    async with from_address(app, ATTACKER) as attacker:
        await login(attacker, account.email, WRONG)
        # Another spelling of the same address counts for the same pair.
        await login(attacker, "private.person@EXAMPLE.org", WRONG)
    rows = admin_sql("SELECT subject, failures FROM login_failures WHERE subject <> '*'")
    [(subject, failures)] = rows
    assert failures == 2
    assert re.fullmatch(r"[0-9a-f]{64}", subject)
    assert "private" not in subject


async def test_a_failed_login_commits_only_its_own_count(
    app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    """The refusal rolls the request back; the count and audit row are written apart."""
    assert InvalidCredentials.persist_changes is False
    account = await factory.user(login=False)
    async with from_address(app, ATTACKER) as attacker:
        await login(attacker, account.email, WRONG)
    assert admin_sql("SELECT failures FROM login_failures WHERE ip = %s", (ATTACKER,)) == [
        (1,),
        (1,),
    ]
    assert scalar(admin_sql, "SELECT last_login FROM users WHERE id = %s", (account.id,)) is None


async def test_old_counters_are_pruned(
    app: FastAPI, database: Database, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user(login=False)
    async with from_address(app, ATTACKER) as attacker:
        await login(attacker, account.email, WRONG)
    async with from_address(app, ELSEWHERE) as other:
        await login(other, account.email, WRONG)
    admin_sql(
        "UPDATE login_failures SET last_seen_at = now() - interval '16 minutes' WHERE ip = %s",
        (ATTACKER,),
    )
    async with database.unit_of_work() as session:
        pruned = await throttle.prune(session, app.state.settings)
    assert pruned == 2
    assert {row[0] for row in admin_sql("SELECT ip FROM login_failures")} == {ELSEWHERE}
