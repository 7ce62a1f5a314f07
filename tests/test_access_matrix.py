"""The access table (authz/routes.py) against the app: deny by default, enforced.

- Every route of `create_app()` has a row, and every row is a route.
- Anonymous: every route that is not PUBLIC answers 401. Authentication is a dependency,
  and FastAPI resolves a route's dependencies before it validates the body, path and
  query (their errors are collected and raised after): so an empty JSON body and random
  UUIDs in the path get 401, not 400 (the test relies on that order and checks it).
- Wrong role: for every route and every role the row does not allow, a signed-in user of
  that role (in an organization of a fitting kind) gets the row's `expect_denied` (403).
- Cookie mode: every unsafe method with the session cookie but no CSRF header gets 403.

Rows in two organizations (another tenant's row → 404, a second user of the same role,
API keys, and the leak check of response bodies): tests/test_access_isolation.py.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from typer.testing import CliRunner

from medhub.authz.dependencies import ACCESS_COOKIE, SAFE_METHODS
from medhub.authz.permissions import ROLES
from medhub.authz.routes import ROUTES, RouteAccess, render_matrix, route_key
from medhub.cli import app as cli_app
from medhub.models.identity import OrganizationKind, Role
from tests.conftest import world_fixture
from tests.factories import Account, Factory

README = Path(__file__).resolve().parents[1] / "README.md"
MATRIX_START = "<!-- access-matrix:start (generated: medhub routes --matrix) -->"
MATRIX_END = "<!-- access-matrix:end -->"

# Where each role's account works: staff roles in an organization of a kind that employs
# them; approved doctors act clinically only in a hospital or clinic.
ROLE_ORGANIZATION: dict[Role, OrganizationKind | None] = {
    Role.super_admin: None,
    Role.admin: OrganizationKind.hospital,
    Role.sales: OrganizationKind.supplier,
    Role.customer: None,
    Role.distributor: OrganizationKind.supplier,
    Role.doctor: OrganizationKind.hospital,
    Role.pharmacist: OrganizationKind.pharmacy,
    Role.patient: None,
}


@world_fixture
async def role_accounts(client: httpx.AsyncClient, factory: Factory) -> dict[Role, Account]:
    """One logged-in, verified (and, for doctors, approved) account per role."""
    organizations = {
        kind: await factory.organization(kind)
        for kind in {kind for kind in ROLE_ORGANIZATION.values() if kind is not None}
    }
    accounts: dict[Role, Account] = {}
    for role, kind in ROLE_ORGANIZATION.items():
        organization_id = organizations[kind].id if kind is not None else None
        accounts[role] = await factory.user(role.value, organization_id=organization_id)
    return accounts


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves (mounts have no methods)."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.router.routes):
        if context.methods and context.path_format:
            found.update((method, context.path_format) for method in context.methods)
    return found


def concrete(path: str) -> str:
    """The template with a syntactically valid value (a random UUID) for each parameter."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


# Routes whose role check is the use case's, so after body validation: a valid body, or
# the wrong role's 403 would hide behind a 400.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/categories"): {"slug": "access-matrix", "name": "Access matrix"},
    ("PUT", "/api/v1/categories/{slug}"): {"name": "Access matrix"},
}


def body_for(access: RouteAccess) -> dict[str, Any]:
    """An empty JSON object for unsafe methods: invalid for most routes, which must not
    matter (authentication and the role come first), unless VALID_BODIES says otherwise."""
    if access.method in SAFE_METHODS:
        return {}
    return {"json": VALID_BODIES.get(route_key(access), {})}


def route_id(access: RouteAccess) -> str:
    return f"{access.method} {access.path}"


GUARDED = [access for access in ROUTES if not access.public]


def test_every_route_has_exactly_one_row(app: FastAPI) -> None:
    keys = [route_key(access) for access in ROUTES]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert duplicates == [], f"rows listed twice: {duplicates}"
    served = app_routes(app)
    missing = sorted(served - set(keys))
    stale = sorted(set(keys) - served)
    assert missing == [], f"routes without a row in authz/routes.py (deny by default): {missing}"
    assert stale == [], f"rows for routes the app does not serve: {stale}"
    assert set(VALID_BODIES) <= set(keys)


def test_scopes_are_the_documented_words() -> None:
    words = {"none", "any", "own", "organization", "supplier", "pharmacy-access", "token"}
    words.add("document-access")
    assert {access.scope for access in ROUTES} <= words


async def test_authentication_and_role_come_before_body_validation(
    client: httpx.AsyncClient, role_accounts: dict[Role, Account]
) -> None:
    """The order the matrix test relies on: the same invalid body is a 400 for an allowed
    role, yet a 401 anonymously and a 403 for a wrong role (so those are not vacuous)."""
    path = "/api/v1/patients"
    allowed = await client.post(path, json={}, headers=role_accounts[Role.admin].headers)
    assert allowed.status_code == 400, allowed.text
    assert (await client.post(path, json={})).status_code == 401
    wrong = await client.post(path, json={}, headers=role_accounts[Role.patient].headers)
    assert wrong.status_code == 403, wrong.text


@pytest.mark.parametrize("access", GUARDED, ids=route_id)
async def test_anonymous_wrong_roles_and_missing_csrf_are_refused(
    client: httpx.AsyncClient, role_accounts: dict[Role, Account], access: RouteAccess
) -> None:
    path = concrete(access.path)
    problems: list[str] = []

    anonymous = await client.request(access.method, path, **body_for(access))
    if anonymous.status_code != 401:
        problems.append(f"anonymous: {anonymous.status_code} {anonymous.text[:200]}")

    for role in ROLES:
        if access.allows(role):
            continue
        account = role_accounts[role]
        response = await client.request(
            access.method, path, headers=account.headers, **body_for(access)
        )
        if response.status_code != access.expect_denied:
            problems.append(
                f"{role.value}: {response.status_code} (expected {access.expect_denied})"
                f" {response.text[:200]}"
            )

    if access.method not in SAFE_METHODS:
        # A role the row allows, so the only reason to refuse is the missing header.
        role = next(r for r in ROLES if access.allows(r))
        token = role_accounts[role].access_token
        response = await client.request(
            access.method,
            path,
            headers={"Cookie": f"{ACCESS_COOKIE}={token}"},
            **body_for(access),
        )
        if response.status_code != 403 or "CSRF" not in response.text:
            problems.append(f"cookie without CSRF ({role.value}): {response.status_code}")

    assert problems == [], f"{access.method} {access.path}:\n" + "\n".join(problems)


def test_the_command_prints_the_matrix() -> None:
    result = CliRunner().invoke(cli_app, ["routes", "--matrix"])
    assert result.exit_code == 0, result.output
    assert result.output == render_matrix() + "\n"
    lines = result.output.splitlines()
    assert len(lines) == len(ROUTES) + 2


def test_readme_holds_the_generated_matrix() -> None:
    text = README.read_text(encoding="utf-8")
    assert MATRIX_START in text, "README lacks the generated access matrix"
    block = text.split(MATRIX_START, 1)[1].split(MATRIX_END, 1)[0].strip("\n")
    assert block == render_matrix(), "README is stale: paste the output of `medhub routes --matrix`"
