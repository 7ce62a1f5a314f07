"""What reaches the log when a request fails: no secrets, bounded, and the loop keeps serving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import make_url

from medhub.app import create_app
from medhub.config import Settings
from medhub.kit.logging import MAX_TRACEBACK_CHARS, bounded_traceback, configure_logging
from tests.conftest import running

DB_PASSWORD = "db-password-Zq81vXk"
BEARER = "bearer-token-Hn3k29fLq0"
COOKIE = "cookie-value-Pp7Yw2"
API_KEY = "mh_apikey-Ux52Rt"
OTP_TOKEN = "otp-grant-Ld94Qe"
SECRET_MARKERS = (DB_PASSWORD, BEARER, COOKIE, API_KEY, OTP_TOKEN)


def _with_password(url: str) -> str:
    # The test server trusts local connections, so a password in the URL is carried
    # (and would be shown by a careless repr) without being needed.
    return make_url(url).set(password=DB_PASSWORD).render_as_string(hide_password=False)


@pytest.fixture(params=["console", "json"])
def log_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    configure_logging("INFO", json=request.param == "json")
    try:
        yield str(request.param)
    finally:
        configure_logging("INFO", json=True)  # as the test session has it


async def _failing_route(request: Request) -> None:
    # Locals like these are what a traceback renderer with locals would print.
    settings: Settings = request.app.state.settings
    authorization = request.headers.get("authorization")
    jwt_secret = settings.jwt_secret()
    raise RuntimeError(f"boom while handling a request (secret length {len(jwt_secret)})") from (
        ValueError(f"inner cause; header present: {authorization is not None}")
    )


@pytest.fixture
async def failing_app(make_settings: Callable[..., Settings]) -> Any:
    base = make_settings()
    settings = make_settings(
        DATABASE_URL=_with_password(str(base.DATABASE_URL)),
        DATABASE_ADMIN_URL=_with_password(str(base.DATABASE_ADMIN_URL)),
        LOG_JSON=False,
    )
    application: FastAPI = create_app(settings, configure_logs=False)
    application.add_api_route("/api/v1/test-failure", _failing_route, methods=["GET"])
    async with running(application):
        yield application


async def test_unhandled_error_logs_no_secret_and_does_not_stall(
    failing_app: FastAPI, log_mode: str, capfd: pytest.CaptureFixture[str]
) -> None:
    settings: Settings = failing_app.state.settings
    transport = httpx.ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        started = time.perf_counter()

        async def health_latency() -> float:
            await asyncio.sleep(0)  # let the failing request start first
            response = await http.get("/health/live")
            assert response.status_code == 200
            return time.perf_counter() - started

        failed, health_seconds = await asyncio.gather(
            http.get(
                "/api/v1/test-failure?token=query-secret",
                headers={
                    "Authorization": f"Bearer {BEARER}",
                    "Cookie": f"medhub_access={COOKIE}",
                    "X-API-Key": API_KEY,
                    "X-OTP-Token": OTP_TOKEN,
                },
            ),
            health_latency(),
        )
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "INTERNAL_ERROR"
    assert health_seconds < 1.0, f"/health/live waited {health_seconds:.2f} s ({log_mode})"

    output = capfd.readouterr().err
    assert "request.unhandled_exception" in output
    assert "RuntimeError: boom while handling a request" in output  # the trace is there
    assert "inner cause" in output  # with its cause
    for marker in (*SECRET_MARKERS, settings.jwt_secret(), "query-secret"):
        assert marker not in output, f"{marker!r} leaked into the {log_mode} log"


def test_settings_repr_hides_secrets_and_url_passwords(
    make_settings: Callable[..., Settings],
) -> None:
    base = make_settings()
    settings = make_settings(
        DATABASE_URL=_with_password(str(base.DATABASE_URL)),
        REDIS_URL=f"redis://:{DB_PASSWORD}@127.0.0.1:6379/0",
        JWT_PREVIOUS_SECRETS=["previous-secret-" + "y" * 30],
        SMTP_PASS="smtp-pass-value",
        STRIPE_SECRET_KEY="sk_test_secret_value",
        AWS_SECRET_ACCESS_KEY="aws-secret-value",
    )
    shown = repr(settings) + str(settings)
    for secret in (
        settings.jwt_secret(),
        DB_PASSWORD,
        "previous-secret-",
        "smtp-pass-value",
        "sk_test_secret_value",
        "aws-secret-value",
    ):
        assert secret not in shown
    assert ":***@" in shown  # the URLs are still there, minus their passwords


def test_tracebacks_are_bounded() -> None:
    def recurse(depth: int) -> None:
        if depth == 0:
            raise ValueError("x" * (MAX_TRACEBACK_CHARS * 3))
        recurse(depth - 1)

    try:
        recurse(200)
    except ValueError as exc:
        text = bounded_traceback((type(exc), exc, exc.__traceback__))
    assert len(text) <= MAX_TRACEBACK_CHARS + 100
    assert "characters cut" in text
    assert "ValueError" in text
