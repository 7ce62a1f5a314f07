"""Which methods each path serves, read once from the route table, for honest 405s.

Starlette takes the first route whose path and method both match. When none does, it
answers 405 from the first route whose path alone matches, so `Allow` names that one
route's methods (`GET` on a path that also takes `POST`). And a parametrised route
that serves the method is taken even where a literal route owns the path:
`GET /documents/upload` reaches `GET /documents/{document_id}`, which then fails its
UUID check (400) or, for an anonymous caller, its authentication (401), although
`/documents/upload` simply does not take GET.

The table groups the routes by path template; a concrete path belongs to the most
specific template that matches it (a literal segment beats a parameter, left to
right). The 405 handler takes `Allow` from it, and `MisroutedMethodGuard` answers 405
up front for the few paths a parametrised route would otherwise take over.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi.routing import _update_scope, iter_route_contexts
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from medhub.kit.envelope import error_response
from medhub.kit.errors import MethodNotAllowed

METHOD_NOT_ALLOWED_MESSAGE = "This method is not allowed on this resource"

# The order methods are listed in `Allow`: reads first, then writes.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAMETER = re.compile(r"\{[^}]*\}")


def _method_rank(method: str) -> tuple[int, str]:
    if method in _METHOD_ORDER:
        return _METHOD_ORDER.index(method), method
    return len(_METHOD_ORDER), method


def allow_header(methods: Iterable[str]) -> str:
    return ", ".join(sorted(set(methods), key=_method_rank))


def _specificity(template: str) -> tuple[int, ...]:
    # Per segment: 1 for literal text, 0 for one holding a parameter. Compared as
    # tuples, the template with a literal where another has a parameter wins.
    return tuple(0 if "{" in segment else 1 for segment in template.split("/"))


def _is_literal(template: str) -> bool:
    return "{" not in template


@dataclass(frozen=True)
class PathMethods:
    """Every method the route table serves on one path template."""

    template: str
    patterns: tuple[re.Pattern[str], ...]
    methods: frozenset[str]

    @property
    def allow(self) -> str:
        return allow_header(self.methods)

    def matches(self, path: str) -> bool:
        return any(pattern.match(path) for pattern in self.patterns)


class RouteMethods:
    def __init__(self, entries: Sequence[PathMethods]) -> None:
        # Most specific first; ties keep route order, which is the order Starlette tries.
        indexed = sorted(
            enumerate(entries), key=lambda item: (_specificity(item[1].template), -item[0])
        )
        self._entries = [entry for _, entry in reversed(indexed)]
        taken_over = [entry for entry in self._entries if self._taken_over(entry)]
        self._taken_over_literals = {e.template: e for e in taken_over if _is_literal(e.template)}
        self._taken_over_patterns = [e for e in taken_over if not _is_literal(e.template)]

    @classmethod
    def from_routes(cls, routes: Sequence[BaseRoute]) -> RouteMethods:
        patterns: dict[str, list[re.Pattern[str]]] = {}
        methods: dict[str, set[str]] = {}
        for context in iter_route_contexts(routes):
            served = context.methods
            template = context.path_format
            # Mounts and websocket routes have no method set: nothing to list for them.
            if not served or not template:
                continue
            pattern: re.Pattern[str] = context.path_regex
            known = patterns.setdefault(template, [])
            if pattern not in known:
                known.append(pattern)
            methods.setdefault(template, set()).update(served)
        return cls(
            [
                PathMethods(template, tuple(patterns[template]), frozenset(methods[template]))
                for template in patterns
            ]
        )

    def for_path(self, path: str) -> PathMethods | None:
        """The most specific template that matches `path` (a concrete request path)."""
        for entry in self._entries:
            if entry.matches(path):
                return entry
        return None

    def taken_over(self, path: str) -> PathMethods | None:
        """The template owning `path` when another route would take some of its requests.

        A dictionary lookup for literal paths (all of today's cases), so asking on
        every request costs next to nothing.
        """
        entry = self._taken_over_literals.get(path)
        if entry is not None:
            return entry
        for candidate in self._taken_over_patterns:
            if candidate.matches(path) and self.for_path(path) is candidate:
                return candidate
        return None

    def _taken_over(self, entry: PathMethods) -> bool:
        # A path of this template (a UUID stands in for each parameter) that a less
        # specific template also matches, with a method this one does not serve.
        sample = _PARAMETER.sub(lambda _: str(uuid.uuid4()), entry.template)
        if self.for_path(sample) is not entry:
            return False
        return any(
            other is not entry and other.matches(sample) and not other.methods <= entry.methods
            for other in self._entries
        )


def route_methods(app: Starlette) -> RouteMethods:
    """The app's table, built on first use (the lifespan builds it at start-up)."""
    table = getattr(app.state, "route_methods", None)
    if isinstance(table, RouteMethods):
        return table
    table = RouteMethods.from_routes(app.router.routes)
    app.state.route_methods = table
    return table


def route_path(scope: Scope) -> str:
    """The request path as the routes see it: the rule of Starlette's (private)
    `get_route_path`, so the table matches exactly what the router matched."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


def method_not_allowed(served: PathMethods) -> Response:
    return error_response(
        code=MethodNotAllowed.code,
        message=METHOD_NOT_ALLOWED_MESSAGE,
        status_code=405,
        headers={"Allow": served.allow},
    )


class MisroutedMethodGuard:
    """405 for a method a path's own routes do not serve, before a parametrised route
    that matches the same path (`/documents/{document_id}` for `/documents/upload`)
    gets to authenticate or validate it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            owner = route_methods(scope["app"]).taken_over(route_path(scope))
            if owner is not None and scope["method"] not in owner.methods:
                await method_not_allowed(owner)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# -- dispatch ------------------------------------------------------------------------

# A request path and a route template are keyed by their first segments: a route can
# only match paths with its key (unless its template has a parameter there).
_KEY_SEGMENTS = 3


def _path_key(path: str) -> str:
    return "/".join(path.split("/", _KEY_SEGMENTS + 1)[: _KEY_SEGMENTS + 1])


def _route_keys(route: BaseRoute) -> frozenset[str] | None:
    """The keys of every path `route` serves, or None when any could match anything
    (a mount, or a parameter within the keyed segments)."""
    if isinstance(route, Mount):
        return None
    keys: set[str] = set()
    for context in iter_route_contexts([route]):
        template = context.path_format
        if not isinstance(template, str):
            return None
        key = _path_key(template)
        if "{" in key:
            return None
        keys.add(key)
    return frozenset(keys)


class RouteIndex:
    """The app router's dispatch, narrowed to the top-level routes that can match.

    Starlette (and FastAPI, whose included routers are walked lazily, route by route,
    once to match and again to handle) tries every route in order until one matches:
    a path near the end of a table of ~100 routes paid for all of them. This index
    keeps, per key (`/api/v1/orders`), the top-level routes that can serve paths with
    that key, in table order, so the first full match is the one the router would
    take. Anything else (no full match: a 405, a trailing-slash redirect, a 404, a
    lifespan or websocket event) goes to the router's own dispatch unchanged.
    The index is rebuilt when the table changes (tests add routes to a running app).
    """

    def __init__(self, router: Router, fallback: ASGIApp) -> None:
        self.router = router
        self.fallback = fallback
        self._built_for: tuple[int, int] | None = None
        self._by_key: dict[str, tuple[BaseRoute, ...]] = {}
        self._unkeyed: tuple[BaseRoute, ...] = ()

    def _build(self) -> None:
        routes = list(self.router.routes)
        keyed = [(route, _route_keys(route)) for route in routes]
        all_keys = {key for _, keys in keyed if keys is not None for key in keys}
        self._by_key = {
            key: tuple(route for route, keys in keyed if keys is None or key in keys)
            for key in all_keys
        }
        self._unkeyed = tuple(route for route, keys in keyed if keys is None)
        self._built_for = self._table_version()

    def _table_version(self) -> tuple[int, int]:
        # Routes are added to the top level at run time (tests do), never removed; a
        # route added to an included router keeps the keys of its router's prefix.
        routes = self.router.routes
        return (len(routes), id(routes[-1]) if routes else 0)

    def candidates(self, path: str) -> tuple[BaseRoute, ...]:
        if self._built_for != self._table_version():
            self._build()
        return self._by_key.get(_path_key(path), self._unkeyed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.candidates(route_path(scope)):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self.router)
                    _update_scope(scope, child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.fallback(scope, receive, send)


def install_route_index(app: Starlette) -> RouteIndex:
    """Put the index in front of the app router's own dispatch (once)."""
    current = app.router.middleware_stack
    if isinstance(current, RouteIndex):
        return current
    index = RouteIndex(app.router, current)
    app.router.middleware_stack = index
    return index
