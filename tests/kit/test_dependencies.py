"""No route pays for a thread hop it does not need.

FastAPI runs a plain `def` endpoint or dependency in the thread pool: a hand-off to a
worker thread and back on every request (measured on the catalog browse: about one
sample in eight of the server's CPU profile was anyio's thread machinery, for two
dependencies that only read `request.app.state` and build a page object). Blocking
work belongs in an explicit `anyio.to_thread` / executor call inside an async function,
where it is visible; everything a route depends on is `async def`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from medhub.app import create_app
from medhub.config import Settings


def _is_async(call: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = getattr(call, "__call__", None)  # noqa: B004 - a class instance used as a dependency
    return inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for child in dependant.dependencies:
        yield from _calls(child)


def threaded_calls(app: FastAPI) -> dict[str, set[str]]:
    """Every sync endpoint or dependency, with the routes that would run it in a thread."""
    found: dict[str, set[str]] = {}
    for context in iter_route_contexts(app.router.routes):
        route = getattr(context, "route", context)
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        for call in _calls(dependant):
            if not _is_async(call):
                name = f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', call)}"
                found.setdefault(name, set()).add(str(context.path_format))
    return found


def test_every_endpoint_and_dependency_is_async(app: FastAPI) -> None:
    assert threaded_calls(app) == {}


def test_the_check_sees_a_sync_dependency(settings: Settings) -> None:
    """The check itself: a route added with a plain `def` dependency is reported (on an
    app of its own: apps are reused by later tests)."""
    app = create_app(settings, configure_logs=False)

    def blocking_dependency() -> int:
        return 1

    async def endpoint(value: int = Depends(blocking_dependency)) -> dict[str, int]:
        return {"value": value}

    app.add_api_route("/api/v1/_probe/threaded", endpoint, methods=["GET"])
    found = threaded_calls(app)
    assert list(found) == [f"{__name__}.{blocking_dependency.__qualname__}"]
    assert found[next(iter(found))] == {"/api/v1/_probe/threaded"}
