"""The outermost layer of every HTTP request.

One pure-ASGI middleware (no per-request task, no body buffering) that:
- assigns the request id (echoing a well-formed `X-Request-ID`) and puts it on the response;
- adds the security headers;
- hands requests that carry an `Origin` (browsers) to Starlette's CORS middleware, and
  marks every other response `Vary: Origin` as that middleware would: most calls
  (servers, apps, probes) send no Origin and skip its per-request header work;
- refuses bodies over the size limit with 413, by `Content-Length` or while streaming;
- turns any unhandled exception into the 500 envelope (trace in the log, never in the body);
- writes one access log line and the Prometheus observations, by route template.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medhub.kit import logging as logs
from medhub.kit.context import client_ip_var, request_id_var, user_agent_var, user_id_var
from medhub.kit.envelope import error_response
from medhub.kit.errors import PayloadTooLarge
from medhub.kit.metrics import Metrics

error_log = structlog.get_logger("medhub.errors")

MAX_LOGGED_PATH = 2_000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

API_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cache-control": "no-store",
}
# The docs pages run their own bundled scripts (Swagger UI starts with an inline call,
# ReDoc uses a blob worker); everything still comes from this origin.
HTML_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
HSTS = "max-age=63072000; includeSubDomains"

# The same headers as raw ASGI pairs: added to a response by appending, not through
# MutableHeaders (which re-scans and re-encodes the list for every header set).
_API_HEADER_PAIRS = tuple((name.encode(), value.encode()) for name, value in API_HEADERS.items())
_HTML_CSP = HTML_CSP.encode()
_HSTS_PAIR = (b"strict-transport-security", HSTS.encode())
_VARY_ORIGIN = (b"vary", b"Origin")


def _vary_by_origin(headers: list[tuple[bytes, bytes]], *, has_vary: bool) -> None:
    """Vary keeps one line, the route's values first (as Starlette's CORS does)."""
    if not has_vary:
        headers.append(_VARY_ORIGIN)
        return
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            headers[index] = (name, value + b", Origin")
            return


def with_response_headers(
    raw: list[tuple[bytes, bytes]],
    *,
    request_id: bytes,
    hsts: bool,
    vary_origin: bool,
    rate: Any | None,
) -> list[tuple[bytes, bytes]]:
    """The response's headers plus the request id, the security headers a route did not
    set itself (a route's own policy and caching stand: the public prescription page
    allows inline styles and is never stored), HTML's policy, HSTS and the rate limit."""
    present: set[bytes] = set()
    is_html = False
    for name, value in raw:
        lowered = name.lower()
        present.add(lowered)
        if lowered == b"content-type":
            is_html = value.lower().startswith(b"text/html")
    headers = (
        [pair for pair in raw if pair[0].lower() != b"x-request-id"]
        if b"x-request-id" in present
        else raw
    )
    headers.append((b"x-request-id", request_id))
    for name, value in _API_HEADER_PAIRS:
        if name in present:
            continue
        if is_html and name == b"cache-control":
            continue
        headers.append(
            (name, _HTML_CSP if is_html and name == b"content-security-policy" else value)
        )
    if hsts and b"strict-transport-security" not in present:
        headers.append(_HSTS_PAIR)
    if vary_origin:
        _vary_by_origin(headers, has_vary=b"vary" in present)
    if rate is not None and b"x-ratelimit-limit" not in present:
        # A refusal (429) writes its own, for the limit that refused it.
        headers.append((b"x-ratelimit-limit", str(rate.limit).encode()))
        headers.append((b"x-ratelimit-remaining", str(rate.remaining).encode()))
        headers.append((b"x-ratelimit-reset", str(rate.reset_at).encode()))
    return headers


class BodyTooLarge(HTTPException):
    """Raised from `receive` so FastAPI's body reader passes it on untouched."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"Request body exceeds {limit} bytes")


def route_template(scope: Scope) -> str:
    # Routers included into routers are resolved lazily by FastAPI, and scope["route"]
    # then holds the inner route with its own path only; the full template (with the
    # parents' prefixes) is on FastAPI's effective route context.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        context = fastapi_scope.get("effective_route_context")
        full = getattr(context, "path_format", None)
        if isinstance(full, str) and full:
            return full
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "<unmatched>"


def request_log_fields(scope: Scope) -> dict[str, Any]:
    """What a log line may say about a request: this allow-list and nothing else.

    Never headers (Authorization, cookies, X-API-Key, X-OTP-Token), the query string
    (search terms, links' tokens) or the body: those can carry credentials and
    personal data. The path has neither (secrets travel in bodies and headers).
    """
    return {
        "method": scope.get("method", ""),
        "path": str(scope.get("path", ""))[:MAX_LOGGED_PATH],
        "route": route_template(scope),
        "client": (scope.get("client") or (None,))[0],
    }


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_size: int,
        trusted_proxies: Sequence[str] = (),
        hsts: bool = True,
        cors: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        # Requests with an Origin go through CORS; without one, straight to the app.
        self.cors_app: ASGIApp = CORSMiddleware(app, **cors) if cors is not None else app
        self.metrics = metrics
        self.max_body_size = max_body_size
        self.trusted_proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0915
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        rid_token = request_id_var.set(request_id)
        uid_token = user_id_var.set(None)
        client_ip = self.client_ip(scope)
        ip_token = client_ip_var.set(client_ip)
        ua_token = user_agent_var.set((_header(scope, b"user-agent") or "")[:500] or None)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_ip"] = client_ip
        started_at = time.perf_counter()
        status_code = 500
        response_started = False

        request_id_raw = request_id.encode()
        origin = _header(scope, b"origin") is not None
        inner = self.cors_app if origin else self.app

        async def send_with_headers(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                message["headers"] = with_response_headers(
                    list(message.get("headers", ())),
                    request_id=request_id_raw,
                    hsts=self.hsts,
                    # With an Origin, the CORS middleware adds its own Vary.
                    vary_origin=not origin,
                    rate=state.get("rate_limit"),
                )
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    raise BodyTooLarge(self.max_body_size)
            return message

        try:
            declared = _header(scope, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
                response = error_response(
                    code=PayloadTooLarge.code,
                    message=f"Request body exceeds the limit of {self.max_body_size} bytes",
                    status_code=413,
                    headers={"connection": "close"},
                )
                await response(scope, receive, send_with_headers)
            else:
                await inner(scope, receive_limited, send_with_headers)
        except Exception:
            error_log.exception("request.unhandled_exception", **request_log_fields(scope))
            if not response_started:
                response = error_response(
                    code="INTERNAL_ERROR",
                    message="An unexpected error occurred. Quote the request id when reporting it.",
                    status_code=500,
                )
                await response(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started_at
            fields = request_log_fields(scope)
            self.metrics.observe(fields["method"], fields["route"], status_code, elapsed)
            logs.access_log.info(
                "request",
                **fields,
                status=status_code,
                duration_ms=round(elapsed * 1000, 2),
                user_id=_state(scope).get("user_id") or user_id_var.get(),
            )
            user_agent_var.reset(ua_token)
            client_ip_var.reset(ip_token)
            user_id_var.reset(uid_token)
            request_id_var.reset(rid_token)

    def client_ip(self, scope: Scope) -> str | None:
        """The peer address, or the forwarded one when the peer is a trusted proxy.

        X-Forwarded-For is read right to left, skipping our own proxies: the first
        address not in TRUSTED_PROXIES is the client (anything left of it is
        client-supplied and could be forged).
        """
        client = scope.get("client")
        peer: str | None = str(client[0]) if client else None
        if not self.trusted_proxies or peer is None or not self._trusted(peer):
            return peer
        forwarded = _header(scope, b"x-forwarded-for")
        if not forwarded:
            return peer
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _state(scope: Scope) -> dict[str, Any]:
    state = scope.get("state")
    return state if isinstance(state, dict) else {}
