"""Shared helpers for the auth and users tests: app builders, requests, mail and token parsing."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from http.cookies import SimpleCookie
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from medhub.app import create_app
from medhub.config import Settings
from tests.assertions import assert_error, detail_fields  # noqa: F401 - re-exported
from tests.conftest import running
from tests.factories import mail_to, text_body

AdminSql = Callable[..., list[tuple[Any, ...]]]
MakeSettings = Callable[..., Settings]

API = "/api/v1"
STRONG_PASSWORD = "Correct-Horse-42!"
OTHER_PASSWORD = "Tr0ub4dor&3x-Blue"
GENERIC_LOGIN_MESSAGE = "Invalid email or password"


@dataclass
class Served:
    app: FastAPI
    client: httpx.AsyncClient


@asynccontextmanager
async def serve(
    settings: Settings,
    *,
    routers: Sequence[APIRouter] = (),
    peer: str = "127.0.0.1",
) -> AsyncIterator[Served]:
    """An app of its own (own settings, own rate limiter) over the test's database."""
    app = create_app(settings, configure_logs=False)
    for router in routers:
        app.include_router(router)
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 123))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Served(app, http)


def new_client(app: FastAPI, *, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    """A second browser/device on the same app (its own cookie jar)."""
    transport = httpx.ASGITransport(app=app, client=(peer, 123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"


async def register(
    client: httpx.AsyncClient,
    *,
    email: str | None = None,
    password: str = STRONG_PASSWORD,
    full_name: str = "Ann Lee",
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "email": email or unique_email(),
        "password": password,
        "full_name": full_name,
        **extra,
    }
    return await client.post(f"{API}/auth/register", json=body)


async def login(
    client: httpx.AsyncClient,
    email: str,
    password: str = STRONG_PASSWORD,
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/login", json={"email": email, "password": password, **extra}
    )


@dataclass
class Tokens:
    access: str
    refresh: str
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)

    @property
    def session_id(self) -> str:
        return str(jwt_payload(self.access)["sid"])


async def login_ok(
    client: httpx.AsyncClient, email: str, password: str = STRONG_PASSWORD
) -> Tokens:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return Tokens(data["access_token"], data["refresh_token"], data["user"]["id"])


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/refresh", json={"refresh_token": token})


async def me(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.get(f"{API}/users/me", headers=headers or {})


# --- tokens -------------------------------------------------------------------------------------


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(_b64decode(token.split(".", maxsplit=1)[0]))
    return header


def jwt_payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(_b64decode(token.split(".")[1]))
    return payload


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return ".".join(
        (
            b64encode(json.dumps(header).encode()),
            b64encode(json.dumps(payload).encode()),
            signature,
        )
    )


# --- mail ---------------------------------------------------------------------------------------


async def last_mail(app: FastAPI, address: str, template: str) -> Message:
    messages = await mail_to(app, address, template)
    assert messages, f"no {template!r} email to {address}"
    return messages[-1]


async def link_token(app: FastAPI, address: str, template: str, path: str) -> str:
    """The token of the `{FRONTEND_URL}/{path}?token=...` link in the latest such email."""
    frontend = app.state.settings.FRONTEND_URL.rstrip("/")
    body = text_body(await last_mail(app, address, template))
    found = re.search(re.escape(f"{frontend}/{path}?token=") + r"([A-Za-z0-9_\-]+)", body)
    assert found, body
    return found.group(1)


async def mailed_code(app: FastAPI, address: str, template: str) -> str:
    body = text_body(await last_mail(app, address, template))
    found = re.search(r"\b(\d{6})\b", body)
    assert found, body
    return found.group(1)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- cookies ------------------------------------------------------------------------------------


def set_cookies(response: httpx.Response) -> dict[str, dict[str, Any]]:
    """Each Set-Cookie by name: its value and attributes (lower-cased keys; flags → True)."""
    cookies: dict[str, dict[str, Any]] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            attributes: dict[str, Any] = {"value": morsel.value}
            for key in ("path", "samesite", "max-age", "domain", "expires"):
                if morsel[key]:
                    attributes[key] = str(morsel[key])
            lowered = header.lower()
            attributes["httponly"] = "httponly" in lowered
            attributes["secure"] = "; secure" in lowered
            cookies[name] = attributes
    return cookies


# --- database -----------------------------------------------------------------------------------


def scalar(admin_sql: AdminSql, statement: str, params: Any = None) -> Any:
    rows = admin_sql(statement, params)
    assert len(rows) == 1, rows
    return rows[0][0]


def now_utc() -> datetime:
    return datetime.now(UTC)


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@asynccontextmanager
async def limited(
    make_settings: MakeSettings, backend: str, *, peer: str | None = None, **overrides: Any
) -> AsyncIterator[Served]:
    """An app with rate limits on (tests run without them) on `backend` ("memory" or
    "redis": the `backend` fixture), with its own client address; Redis counters
    outlive an app, so they are reset."""
    # REDIS_URL is set explicitly either way: Settings would otherwise read it from the env.
    values: dict[str, Any] = {
        "RATE_LIMIT_ENABLED": True,
        "REDIS_URL": os.environ["REDIS_URL"] if backend == "redis" else None,
        **overrides,
    }
    async with serve(make_settings(**values), peer=peer or random_ip()) as served:
        limiter = served.app.state.rate_limiter
        assert limiter.backend == backend
        if backend == "redis":
            await limiter.reset()
        yield served
