"""kit.rows reads on the session's own connection: its transaction and tenant context."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from medhub.authz.dependencies import CurrentPrincipal
from medhub.kit import rows
from medhub.kit.db import DbSession
from medhub.kit.envelope import JSONResponse, ok
from tests.auth.helpers import login_ok
from tests.factories import Factory


async def test_rows_are_scoped_like_the_orms_queries(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    others = [await factory.user(login=False) for _ in range(2)]

    async def visible(principal: CurrentPrincipal, session: DbSession) -> JSONResponse:
        found = await rows.fetch_all(session, "SELECT id::text AS id FROM users", {})
        one = await rows.fetch_one(
            session, "SELECT email FROM users WHERE id = %(id)s", {"id": principal.user_id}
        )
        # Same transaction as the ORM's: what a row read sees, a later statement sees.
        same = await rows.fetch_one(session, "SELECT txid_current() AS tx", {})
        again = await rows.fetch_one(session, "SELECT txid_current() AS tx", {})
        return ok(
            {
                "ids": [row["id"] for row in found],
                "email": one["email"] if one else None,
                "one_transaction": same == again,
            }
        )

    app.add_api_route("/api/v1/test/rows", visible, methods=["GET"])
    account = await factory.user(login=False)
    token = (await login_ok(client, account.email, account.password)).access
    response = await client.get("/api/v1/test/rows", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    # Row-level security holds: a customer's tenant context shows their own row only.
    assert data["ids"] == [str(account.id)]
    assert all(str(other.id) not in data["ids"] for other in others)
    assert data["email"] == account.email
    assert data["one_transaction"] is True
