"""schemathesis over the whole OpenAPI, against `medhub serve` on the test database.

Each caller is one run of `st run`: anonymous over the public operations, then one
signed-in account per role over the operations the access table (authz/routes.py) lets
that role call — the others are a 401/403 the access matrix already proves for every
route. The operations that end the caller's session (logout, revoking sessions, changing
the password) get a run and an account of their own, or they would sign the role's run
out half-way. Every response must pass:

- not_a_server_error: no 5xx, whatever the input;
- status_code_conformance, content_type_conformance, response_headers_conformance,
  response_schema_conformance: what came back is what the OpenAPI declares (every
  operation declares its 400/401/403/404/409/429/503 envelopes, 413/415 where it takes a
  body: tests/test_docs.py), so the checks are not vacuous.

CI runs a small fixed-seed sample; `make fuzz` runs the deeper mode (more examples, the
stateful phase, a random seed) with FUZZ_* settings.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from medhub.authz.routes import ROUTES, RouteAccess
from medhub.models.identity import Role
from tests.conftest import (
    CHEAP_HASHING,
    DatabaseUrls,
)
from tests.factories import Account
from tests.test_access_matrix import role_accounts  # noqa: F401 (the world this test fuzzes in)
from tests.test_cli import Served

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)
# CI: each operation once, by the first caller below it allows, a fixed seed. `make fuzz`
# (FUZZ_DEEP=1): every operation by every role it allows, more examples, the stateful
# phase, a random seed.
DEEP = os.environ.get("FUZZ_DEEP") == "1"
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "25" if DEEP else "2")
PHASES = os.environ.get(
    "FUZZ_PHASES", "examples,coverage,fuzzing,stateful" if DEEP else "examples,coverage,fuzzing"
)
SEED = os.environ.get("FUZZ_SEED", str(random.randrange(2**32)) if DEEP else "20261204")

SESSION_ENDING = {
    ("POST", "/api/v1/auth/logout"),
    ("DELETE", "/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/{session_id}"),
    ("POST", "/api/v1/auth/change-password"),
}
# Pages for people, not JSON operations: the OpenAPI does not describe them.
UNDOCUMENTED = {"/docs", "/api-docs", "/api/docs", "/redoc", "/openapi.json", "/metrics"}

SESSION_RUN = "session-ending"
# Who fuzzes an operation in CI: the first of these its row allows. The roles whose
# routes are theirs alone come first, so every caller's run stays short.
PREFERENCE = (
    Role.patient,
    Role.doctor,
    Role.customer,
    Role.pharmacist,
    Role.distributor,
    Role.sales,
    Role.admin,
    Role.super_admin,
)
EVERY_CALLER = ["anonymous", *(role.value for role in PREFERENCE), SESSION_RUN]


def documented(access: RouteAccess) -> bool:
    # The SSE stream never ends: a fuzzer would wait out each request's timeout on it.
    return (
        access.method != "HEAD"
        and access.path not in UNDOCUMENTED
        and not access.path.endswith("/stream")
    )


def fuzzed_by(access: RouteAccess) -> list[str]:
    if access.public:
        return ["anonymous"]
    if (access.method, access.path) in SESSION_ENDING:
        return [SESSION_RUN]
    allowed = [role.value for role in PREFERENCE if access.allows(role)]
    return allowed if DEEP else allowed[:1]


def operations_for(caller: str) -> list[RouteAccess]:
    return [access for access in ROUTES if documented(access) and caller in fuzzed_by(access)]


# A caller left with nothing to fuzz gets no run (it would pass vacuously).
CALLERS = [caller for caller in EVERY_CALLER if operations_for(caller)]


def test_every_documented_operation_is_fuzzed() -> None:
    covered = {(a.method, a.path) for caller in CALLERS for a in operations_for(caller)}
    assert covered == {(a.method, a.path) for a in ROUTES if documented(a)}
    assert len(CALLERS) >= 8, CALLERS


def fresh_token(server: Served, account: Account) -> str:
    """A login on the served process: the world's tokens may be older than their lifetime."""
    response = httpx.post(
        f"{server.base}/api/v1/auth/login",
        json={"email": account.email, "password": account.password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["access_token"]
    return token


def logged_errors(server: Served) -> list[str]:
    """Error lines of the server's log: an exception the responses did not show."""
    errors = []
    for line in server.output().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            errors.append(line)
            continue
        if entry.get("level") in {"error", "critical"}:
            errors.append(line[:2000])
    return errors


@pytest.mark.timeout(3600 if DEEP else 300)
@pytest.mark.parametrize("caller", CALLERS)
def test_schemathesis_finds_nothing(
    caller: str,
    role_accounts: dict[Role, Account],  # noqa: F811
    database_urls: DatabaseUrls,
    tmp_path: Path,
) -> None:
    server = Served.on_test_database(
        tmp_path / "data",
        database_urls,
        log_file=tmp_path / "serve.log",
        DATABASE_POOL_SIZE="4",
        STRIPE_WEBHOOK_SECRET="whsec_fuzz",
        RATE_LIMIT_ENABLED="false",
        LOG_LEVEL="WARNING",
        **{name: str(value) for name, value in CHEAP_HASHING.items()},
    )
    try:
        server.wait_ready(timeout=60)
        command = [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{server.base}/openapi.json",
            "--checks",
            CHECKS,
            "--phases",
            PHASES,
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--warnings",
            "off",
            "--no-color",
        ]
        if caller != "anonymous":
            account = role_accounts[Role.customer if caller == SESSION_RUN else Role(caller)]
            command += ["--header", f"Authorization: Bearer {fresh_token(server, account)}"]
        for access in operations_for(caller):
            command += ["--include-name", f"{access.method} {access.path}"]
        result = subprocess.run(
            command,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"{result.stdout[-20000:]}\n{result.stderr[-5000:]}"
        operations = operations_for(caller)
        selected = f"Operations:       {len(operations)} selected"
        assert selected in result.stdout, f"not every operation was found: {result.stdout[:2000]}"
        assert logged_errors(server) == []
        generated = re.search(r"(\d+) generated", result.stdout)
        logging.getLogger(__name__).info(
            "%s: %d operations, %s test cases, seed %s",
            caller,
            len(operations),
            generated.group(1) if generated else "?",
            SEED,
        )
    finally:
        if server.process.poll() is None:
            server.stop()
