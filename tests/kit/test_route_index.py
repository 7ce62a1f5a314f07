"""The route index picks exactly the route the router's own scan would pick."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match

from medhub.kit.envelope import JSONResponse, ok
from medhub.kit.routing import RouteIndex, install_route_index

_PARAMETER = re.compile(r"\{([^}:]*)(:[^}]*)?\}")


def _scope(app: FastAPI, method: str, path: str) -> dict[str, object]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "app": app,
    }


def _first_full_match(
    routes: tuple[BaseRoute, ...] | list[BaseRoute], scope: dict[str, object]
) -> BaseRoute | None:
    for route in routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return route
    return None


async def test_every_route_is_reached_through_the_index_as_through_the_full_scan(
    app: FastAPI,
) -> None:
    index = install_route_index(app)
    assert isinstance(app.router.middleware_stack, RouteIndex)
    checked = 0
    for context in iter_route_contexts(app.router.routes):
        template, methods = context.path_format, context.methods
        if not template or not methods:
            continue
        path = _PARAMETER.sub("0b7e2a1c-5d1f-4c53-9a43-0b5c1f3e9d11", template)
        for method in methods:
            scope = _scope(app, method, path)
            expected = _first_full_match(app.router.routes, scope)
            assert expected is not None, (method, path)
            assert _first_full_match(index.candidates(path), scope) is expected, (method, path)
            checked += 1
    assert checked >= 100  # the whole table, not a sample


async def test_paths_no_route_serves_still_get_the_routers_answers(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    wrong_method = await client.delete("/api/v1/users/me")
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["allow"]


async def test_a_route_added_to_a_running_app_is_served(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def late() -> JSONResponse:
        return ok({"late": True})

    assert (await client.get("/api/v1/late-route")).status_code == 404
    app.add_api_route("/api/v1/late-route", late, methods=["GET"])
    response = await client.get("/api/v1/late-route")
    assert response.status_code == 200
    assert response.json()["data"] == {"late": True}
