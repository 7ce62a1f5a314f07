"""What each benchmark scenario requests, and the registry the runner reads.

A scenario names one request that MedHub and the baseline (bench/baseline.py)
both answer. To add one, add a route to the baseline that does the same work
with raw psycopg, then an entry to SCENARIOS. When the request needs data or a
token first, give the scenario a `setup` hook: the runner calls it once per
target, after both services are up and before that target's first round.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TARGETS = ("medhub", "baseline")
# Accounts the setup hooks register: one per scenario, so each scenario's state stands alone.
BENCH_PASSWORD = "Bench-Run-7q!Kp2x"  # noqa: S105 - passes MedHub's password policy
SETUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RequestSpec:
    """The one request a load generator repeats against a target."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect_status: int = 200


@dataclass(frozen=True)
class SetupContext:
    """What a setup hook may use to prepare a target."""

    target: str  # "medhub" or "baseline"
    base_url: str  # e.g. http://127.0.0.1:40123
    medhub_url: str  # MedHub's, whatever the target: seed through its API (register, log in)
    admin_database_url: str  # the embedded server's superuser: seed data with this
    app_database_url: str  # the application role both services query as
    data_dir: Path
    request: RequestSpec  # the scenario's default request
    # Shared by both targets' calls within one run, so a hook can seed the
    # (shared) database once and hand the second target what the first made.
    state: dict[str, Any]


# Returns the request to repeat (e.g. the default plus an Authorization header),
# or None to keep the default.
SetupHook = Callable[[SetupContext], RequestSpec | None]


class SetupError(Exception):
    """A setup hook could not prepare its data; the message says what MedHub answered."""


@dataclass(frozen=True)
class Scenario:
    path: str
    description: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect_status: int = 200
    setup: SetupHook | None = None

    def request(self) -> RequestSpec:
        return RequestSpec(
            method=self.method,
            path=self.path,
            headers=dict(self.headers),
            body=self.body,
            expect_status=self.expect_status,
        )


def _call(base_url: str, method: str, path: str, payload: dict[str, str], expect: int) -> Any:
    """One JSON request for a setup hook; its `data`, or SetupError with the answer."""
    # trust_env=False: no proxy from the environment may redirect a loopback request.
    with httpx.Client(base_url=base_url, timeout=SETUP_TIMEOUT_S, trust_env=False) as client:
        try:
            response = client.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            raise SetupError(f"{method} {base_url}{path} failed: {exc}") from exc
    if response.status_code != expect:
        raise SetupError(
            f"{method} {base_url}{path} answered {response.status_code}, expected {expect}: "
            f"{response.text[:500]}"
        )
    try:
        return response.json()["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SetupError(f"{method} {base_url}{path}: no `data` in {response.text[:500]}") from exc


def _login_payload(email: str) -> dict[str, str]:
    return {"email": email, "password": BENCH_PASSWORD}


def _registered_user(ctx: SetupContext, label: str) -> str:
    """Register `bench-<label>@example.com` through MedHub's API, once per run; its email."""
    if "email" not in ctx.state:
        address = f"bench-{label}@example.com"
        account = {
            "email": address,
            "password": BENCH_PASSWORD,
            "full_name": "Bench User",
            "role": "customer",
        }
        _call(ctx.medhub_url, "POST", "/api/v1/auth/register", account, 201)
        ctx.state["email"] = address
    return str(ctx.state["email"])


def setup_login(ctx: SetupContext) -> RequestSpec:
    """Both targets log the same MedHub-registered user in, with the same JSON body."""
    email = _registered_user(ctx, "login")
    return dataclasses.replace(
        ctx.request,
        headers={"Content-Type": "application/json"},
        body=json.dumps(_login_payload(email)).encode(),
    )


def setup_me(ctx: SetupContext) -> RequestSpec:
    """Log in once through MedHub; both targets get that access token (same secret, same
    session), so both check one live session."""
    email = _registered_user(ctx, "me")
    if "token" not in ctx.state:
        data = _call(ctx.medhub_url, "POST", "/api/v1/auth/login", _login_payload(email), 200)
        ctx.state["token"] = str(data["access_token"])
    return dataclasses.replace(
        ctx.request, headers={"Authorization": f"Bearer {ctx.state['token']}"}
    )


SCENARIOS: dict[str, Scenario] = {
    "health": Scenario(
        path="/health/live",
        description="Liveness: routing, middleware and the JSON envelope, no database",
    ),
    "ready": Scenario(
        path="/health/ready",
        description="Readiness: one pooled query (SELECT version_num FROM alembic_version)",
    ),
    "login": Scenario(
        path="/api/v1/auth/login",
        method="POST",
        description=(
            "Log in one user, again and again: verify an Argon2id hash (in a thread pool of "
            "MedHub's PASSWORD_HASH_WORKERS size on both). "
            "MedHub also writes a session, a refresh token, an audit row (hash-chained) and "
            "updates the user; the baseline selects the user (system RLS context), verifies, "
            "inserts the session and signs the JWT"
        ),
        setup=setup_login,
    ),
    "me": Scenario(
        path="/api/v1/users/me",
        description=(
            "Own profile with a bearer token: verify the JWT, auth_context() (session live, "
            "user and organization active, RLS context), select the profile"
        ),
        setup=setup_me,
    ),
}
