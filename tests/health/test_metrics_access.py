"""Who may scrape /metrics: a bearer METRICS_TOKEN when one is set, nobody in production
without one unless METRICS_PUBLIC says so, everyone in development and tests otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from medhub.app import create_app
from medhub.config import Environment, Settings
from tests.assertions import assert_error
from tests.conftest import running

TOKEN = "metrics-" + "t" * 40


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, configure_logs=False)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


def assert_refused(response: httpx.Response) -> None:
    assert_error(response, 401, "AUTHENTICATION_ERROR")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "medhub_http_requests" not in response.text
    assert TOKEN not in response.text


def assert_served(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert "medhub_http_requests" in response.text


@pytest.mark.parametrize("env", [Environment.test, Environment.development])
async def test_open_outside_production_without_a_token(
    make_settings: Callable[..., Settings], env: Environment
) -> None:
    async with client_for(make_settings(ENV=env)) as http:
        assert_served(await http.get("/metrics"))


@pytest.mark.parametrize(
    "overrides",
    [
        {"ENV": Environment.test},
        {"ENV": Environment.production},
        # A token wins over METRICS_PUBLIC: setting one means it is wanted.
        {"ENV": Environment.production, "METRICS_PUBLIC": True},
    ],
)
async def test_a_set_token_is_required(
    make_settings: Callable[..., Settings], overrides: dict[str, Any]
) -> None:
    async with client_for(make_settings(METRICS_TOKEN=TOKEN, **overrides)) as http:
        assert_refused(await http.get("/metrics"))
        assert_refused(await http.get("/metrics", headers={"Authorization": "Bearer wrong"}))
        assert_refused(await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}))
        assert_refused(await http.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}))
        assert_refused(await http.get("/metrics", headers={"Authorization": "Bearer "}))
        assert_served(await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))
        assert_served(await http.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}))


async def test_production_is_open_only_when_declared_public(
    make_settings: Callable[..., Settings],
) -> None:
    async with client_for(make_settings(ENV=Environment.production, METRICS_PUBLIC=True)) as http:
        assert_served(await http.get("/metrics"))


async def test_production_without_token_or_public_stays_closed(
    make_settings: Callable[..., Settings],
) -> None:
    # prepare_settings refuses this configuration; an app built without it must not
    # fall open.
    async with client_for(make_settings(ENV=Environment.production)) as http:
        assert_refused(await http.get("/metrics"))
        assert_refused(await http.get("/metrics", headers={"Authorization": "Bearer "}))


async def test_an_empty_token_counts_as_unset(make_settings: Callable[..., Settings]) -> None:
    async with client_for(make_settings(METRICS_TOKEN="")) as http:
        assert_served(await http.get("/metrics"))
