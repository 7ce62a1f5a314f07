"""Factory helpers: accounts, organizations and logged-in clients for tests."""

from __future__ import annotations

import email
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from medhub.audit import service as audit
from medhub.auth import service as auth
from medhub.auth.runtime import AuthRuntime
from medhub.kit.context import client_ip_var, user_agent_var
from medhub.kit.db import Database
from medhub.kit.jobs import JobRuntime, run_worker
from medhub.kit.tenancy import set_system_context, set_tenant_context
from medhub.models.identity import Organization, User
from medhub.users import service as users

DEFAULT_PASSWORD = "Correct-Horse-42!"


@dataclass
class Account:
    id: uuid.UUID
    email: str
    password: str
    role: str
    organization_id: uuid.UUID | None
    access_token: str | None = None
    refresh_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        assert self.access_token, "log the account in first"
        return {"Authorization": f"Bearer {self.access_token}"}


class Factory:
    """Creates rows through the services (real hashing, real constraints) as the system."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self.database: Database = app.state.database
        self.runtime: AuthRuntime = app.state.auth_runtime
        self._n = 0

    def unique(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}-{uuid.uuid4().hex[:6]}"

    async def organization(
        self, kind: str = "hospital", *, name: str | None = None, status: str = "active"
    ) -> Organization:
        slug = self.unique(kind + "-")
        async with self.database.unit_of_work() as session:
            await set_system_context(session)
            organization = Organization(
                name=name or slug.title(), slug=slug, kind=kind, status=status, settings={}
            )
            session.add(organization)
            await session.flush()
        return organization

    async def user(
        self,
        role: str = "customer",
        *,
        organization_id: uuid.UUID | None = None,
        password: str = DEFAULT_PASSWORD,
        email: str | None = None,
        verified: bool = True,
        approved: bool = True,
        full_name: str = "Test Person",
        login: bool = True,
        real_login: bool = False,
    ) -> Account:
        """A new account; with `login`, holding an access and a refresh token.

        The tokens come from a session opened directly, as the login endpoint opens one
        (same session row, refresh token, `last_login` and "login" audit row, in the
        unit of work that creates the account): much cheaper than a request. Pass
        `real_login=True` to have the account log in through `POST /api/v1/auth/login`
        instead (or call `login`, which returns the response).
        """
        address = email or f"{self.unique(role)}@example.org"
        tokens: auth.IssuedTokens | None = None
        async with self.database.unit_of_work() as session:
            await set_system_context(session)
            user = await users.create_user(
                session,
                self.runtime.hasher,
                email=address,
                password=password,
                full_name=full_name,
                role=role,
                organization_id=organization_id,
                is_verified=verified,
                is_approved=approved,
            )
            if login and not real_login:
                tokens = await self._open_session(session, user)
        account = Account(
            id=user.id,
            email=address,
            password=password,
            role=role,
            organization_id=organization_id,
        )
        if tokens is not None:
            account.access_token = tokens.access_token
            account.refresh_token = tokens.refresh_token
        elif login:
            await self.login(account)
        return account

    async def _open_session(self, session: Any, user: User) -> auth.IssuedTokens:
        """What a successful bearer login does after checking the password, seen from the
        client a test's `client` is (its address and user agent)."""
        ip = client_ip_var.set("127.0.0.1")
        agent = user_agent_var.set(self.client.headers.get("user-agent"))
        try:
            user.last_login = datetime.now(UTC)
            tokens = await auth.open_session(session, self.runtime, user, cookies=False)
            await set_tenant_context(
                session, user_id=user.id, organization_id=user.organization_id, role=user.role
            )
            audit.record(
                session,
                "login",
                user_id=user.id,
                organization_id=user.organization_id,
                entity_type="session",
                entity_id=tokens.session_id,
                metadata={"method": "bearer"},
            )
        finally:
            user_agent_var.reset(agent)
            client_ip_var.reset(ip)
        return tokens

    async def login(self, account: Account) -> httpx.Response:
        response = await self.client.post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        account.access_token = data["access_token"]
        account.refresh_token = data["refresh_token"]
        return response


async def run_jobs(app: FastAPI) -> None:
    """Run every due job to completion (a worker that stops when the queues are empty)."""
    runtime = JobRuntime(settings=app.state.settings, database=app.state.database)
    await run_worker(runtime, wait=False, install_signal_handlers=False, concurrency=1)


async def outbox(app: FastAPI) -> list[Message]:
    """Emails the console backend has delivered, oldest first (queued ones are sent first)."""
    await run_jobs(app)
    directory: Path = app.state.database.mailer.outbox
    if not directory.exists():
        return []
    return [email.message_from_bytes(path.read_bytes()) for path in sorted(directory.glob("*.eml"))]


async def mail_to(app: FastAPI, address: str, template: str | None = None) -> list[Message]:
    return [
        message
        for message in await outbox(app)
        if message["To"] == address
        and (template is None or message["X-MedHub-Template"] == template)
    ]


def text_body(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text/plain part")
