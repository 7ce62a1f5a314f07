"""What each benchmark scenario requests, and the registry the runner reads.

A scenario names one request that MedHub and the baseline (bench/baseline.py)
both answer. To add one, add a route to the baseline that does the same work
with raw psycopg, then an entry to SCENARIOS. When the request needs data or a
token first, give the scenario a `setup` hook: the runner calls it once per
target, after both services are up and before that target's first round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGETS = ("medhub", "baseline")


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


SCENARIOS: dict[str, Scenario] = {
    "health": Scenario(
        path="/health/live",
        description="Liveness: routing, middleware and the JSON envelope, no database",
    ),
    "ready": Scenario(
        path="/health/ready",
        description="Readiness: one pooled query (SELECT version_num FROM alembic_version)",
    ),
}
