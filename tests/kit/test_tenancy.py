"""Where tenant scoping starts: the principal binds it to the request's session."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from medhub.authz.dependencies import CurrentPrincipal
from medhub.kit.db import DbSession, release_connection
from medhub.kit.envelope import JSONResponse, ok
from medhub.kit.tenancy import set_system_context
from tests.auth.helpers import login_ok
from tests.factories import Factory

_VISIBLE_USERS = text("SELECT count(*) FROM users")


async def test_a_route_that_resolves_no_caller_sees_no_tenant_row(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.user(login=False)
    await factory.user(login=False)

    async def forgetful(session: DbSession) -> JSONResponse:
        return ok({"users": (await session.execute(_VISIBLE_USERS)).scalar_one()})

    app.add_api_route("/test/forgetful", forgetful, methods=["GET"])
    account = await factory.user(login=False)
    token = (await login_ok(client, account.email, account.password)).access
    # Even with valid credentials on the request: the route never asked who the caller is.
    response = await client.get("/test/forgetful", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["data"] == {"users": 0}


async def test_the_bound_context_scopes_every_transaction_of_the_request(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.user(login=False)

    async def scoped(principal: CurrentPrincipal, session: DbSession) -> JSONResponse:
        before = (await session.execute(_VISIBLE_USERS)).scalar_one()
        # A new transaction (as after a password hash): the context comes back with it.
        await release_connection(session)
        after = (await session.execute(_VISIBLE_USERS)).scalar_one()
        return ok({"before": before, "after": after})

    app.add_api_route("/api/v1/test/scoped", scoped, methods=["GET"])
    account = await factory.user(login=False)
    token = (await login_ok(client, account.email, account.password)).access
    for _ in range(2):  # the session check from the database, then from the cache
        response = await client.get(
            "/api/v1/test/scoped", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        # A customer sees their own account, and only it, in both transactions.
        assert response.json()["data"] == {"before": 1, "after": 1}


async def test_a_savepoint_keeps_what_the_transaction_widened(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    """`begin_nested()` does not set the bound context again: a flow that widened its
    transaction (`set_system_context`, a claim or a token lookup) stays widened inside
    and after a SAVEPOINT."""
    await factory.user(login=False)
    await factory.user(login=False)

    async def widened(principal: CurrentPrincipal, session: DbSession) -> JSONResponse:
        own = (await session.execute(_VISIBLE_USERS)).scalar_one()
        await set_system_context(session)
        async with session.begin_nested():
            inside = (await session.execute(_VISIBLE_USERS)).scalar_one()
        after = (await session.execute(_VISIBLE_USERS)).scalar_one()
        return ok({"own": own, "inside": inside, "after": after})

    app.add_api_route("/api/v1/test/widened", widened, methods=["GET"])
    account = await factory.user(login=False)
    token = (await login_ok(client, account.email, account.password)).access
    response = await client.get(
        "/api/v1/test/widened", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"own": 1, "inside": 3, "after": 3}
