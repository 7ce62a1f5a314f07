"""The API contract every route inherits: envelopes, error classes, request ids, headers, limits."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, EmailStr, Field

from medhub.app import create_app
from medhub.config import Settings
from medhub.kit import errors
from medhub.kit.envelope import JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_of
from tests.assertions import assert_error
from tests.conftest import running


class Widget(BaseModel):
    name: str = Field(min_length=2)
    email: EmailStr
    quantity: int = Field(ge=1)


probe = APIRouter(prefix="/api/v1/_probe")


@probe.post("/widgets")
async def create_widget(widget: Widget) -> JSONResponse:
    return created(widget, message="Widget created")


@probe.get("/items")
async def list_items(paging: Paging, flag: Annotated[bool | None, Query()] = None) -> JSONResponse:
    items = [{"n": n} for n in range(paging.offset, min(paging.offset + paging.limit, 45))]
    return ok(page_of("items", items, paging, total=45))


@probe.get("/raise/{name}")
async def raise_error(name: str) -> JSONResponse:
    error_classes: dict[str, type[errors.AppError]] = {
        "validation": errors.ValidationFailed,
        "authentication": errors.AuthenticationFailed,
        "authorization": errors.PermissionDenied,
        "not_found": errors.NotFound,
        "conflict": errors.Conflict,
        "state": errors.InvalidStateTransition,
        "rate": errors.RateLimitExceeded,
    }
    if name == "crash":
        raise RuntimeError("secret-detail SELECT * FROM users WHERE password = 'hunter2'")
    if name == "detailed":
        raise errors.ValidationFailed(
            "Bad quantity", details=[{"field": "quantity", "message": "must be positive"}]
        )
    if name == "rate_headers":
        raise errors.RateLimitExceeded(headers={"Retry-After": "30"})
    raise error_classes[name]()


@probe.get("/varied")
async def varied() -> JSONResponse:
    return ok({"varied": True}, headers={"Vary": "Accept-Language"})


@pytest.fixture
async def probe_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"MAX_BODY_SIZE": 2048}), configure_logs=False)
    app.include_router(probe)
    async with running(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_success_envelope_and_201_for_creates(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/api/v1/_probe/widgets", json={"name": "Cardiomax", "email": "a@b.co", "quantity": 3}
    )
    assert response.status_code == 201
    assert response.json() == {
        "success": True,
        "data": {"name": "Cardiomax", "email": "a@b.co", "quantity": 3},
        "message": "Widget created",
    }


async def test_validation_error_has_one_detail_per_bad_field(
    probe_client: httpx.AsyncClient,
) -> None:
    response = await probe_client.post(
        "/api/v1/_probe/widgets", json={"name": "x", "email": "not-an-email", "quantity": 0}
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    fields = sorted(detail["field"] for detail in error["details"])
    assert fields == ["email", "name", "quantity"]
    assert all(detail["message"] for detail in error["details"])


async def test_missing_body_fields_are_named(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/api/v1/_probe/widgets", json={})
    assert_error(response, 400, "VALIDATION_ERROR", fields={"name", "email", "quantity"})


async def test_malformed_json_is_a_clear_400(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/api/v1/_probe/widgets",
        content=b'{"name": "abc", ',
        headers={"content-type": "application/json"},
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "Malformed JSON" in error["details"][0]["message"]


async def test_wrong_content_type_is_415(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/api/v1/_probe/widgets",
        content=b"name=abc&email=a@b.co&quantity=1",
        headers={"content-type": "text/plain"},
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_query_parameter_of_wrong_type_is_400(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/api/v1/_probe/items?page=abc&flag=maybe")
    assert_error(response, 400, "VALIDATION_ERROR", fields={"page", "flag"})


@pytest.mark.parametrize("limit", ["0", "101", "-5"])
async def test_limit_is_bounded(probe_client: httpx.AsyncClient, limit: str) -> None:
    response = await probe_client.get(f"/api/v1/_probe/items?limit={limit}")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "limit"


async def test_pagination_shape(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/api/v1/_probe/items?page=3&limit=20")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["pagination"] == {"page": 3, "limit": 20, "total": 45, "total_pages": 3}
    assert [item["n"] for item in data["items"]] == list(range(40, 45))


async def test_unknown_route_is_404_envelope(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/api/v1/does-not-exist")
    assert_error(response, 404, "NOT_FOUND")


async def test_wrong_method_is_405_envelope_with_allow(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.delete("/api/v1/_probe/widgets")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("validation", 400, "VALIDATION_ERROR"),
        ("authentication", 401, "AUTHENTICATION_ERROR"),
        ("authorization", 403, "AUTHORIZATION_ERROR"),
        ("not_found", 404, "NOT_FOUND"),
        ("conflict", 409, "CONFLICT"),
        ("state", 409, "INVALID_STATE_TRANSITION"),
        ("rate", 429, "RATE_LIMIT_EXCEEDED"),
    ],
)
async def test_each_error_class_renders_its_code(
    probe_client: httpx.AsyncClient, name: str, status: int, code: str
) -> None:
    response = await probe_client.get(f"/api/v1/_probe/raise/{name}")
    assert_error(response, status, code)


async def test_error_details_and_headers_pass_through(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/api/v1/_probe/raise/detailed")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "Bad quantity"
    assert error["details"] == [{"field": "quantity", "message": "must be positive"}]
    limited = await probe_client.get("/api/v1/_probe/raise/rate_headers")
    assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
    assert limited.headers["retry-after"] == "30"


async def test_unexpected_exception_is_500_without_leak_and_logged(
    probe_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await probe_client.get(
            "/api/v1/_probe/raise/crash", headers={"X-Request-ID": "crash-1"}
        )
    assert_error(response, 500, "INTERNAL_ERROR")
    assert response.json()["request_id"] == "crash-1"
    assert "secret-detail" not in response.text
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert logged, "the full trace must be in the log"
    assert "secret-detail" in str(logged[0].exc_info[1])  # type: ignore[index]


async def test_request_id_is_generated_echoed_or_replaced(
    probe_client: httpx.AsyncClient,
) -> None:
    generated = await probe_client.get("/health/live")
    assert len(generated.headers["x-request-id"]) >= 16
    echoed = await probe_client.get("/health/live", headers={"X-Request-ID": "abc-123.x"})
    assert echoed.headers["x-request-id"] == "abc-123.x"
    hostile = await probe_client.get(
        "/health/live", headers={"X-Request-ID": "bad id\r\nset-cookie: x"}
    )
    assert hostile.headers["x-request-id"] != "bad id\r\nset-cookie: x"
    assert " " not in hostile.headers["x-request-id"]
    missing = await probe_client.get("/nowhere", headers={"X-Request-ID": "lost-1"})
    assert missing.headers["x-request-id"] == "lost-1"
    assert missing.json()["request_id"] == "lost-1"


async def test_security_headers_on_every_response(probe_client: httpx.AsyncClient) -> None:
    for response in (
        await probe_client.get("/health/live"),
        await probe_client.get("/nowhere"),
        await probe_client.get("/api/v1/_probe/raise/crash"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "max-age=" in response.headers["strict-transport-security"]
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
    docs = await probe_client.get("/docs")
    assert "script-src 'self'" in docs.headers["content-security-policy"]


async def test_body_over_limit_by_content_length_is_413(
    probe_client: httpx.AsyncClient,
) -> None:
    big = b'{"name": "' + b"x" * 4096 + b'"}'
    response = await probe_client.post(
        "/api/v1/_probe/widgets", content=big, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_streamed_body_over_limit_is_413(probe_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(8):
            yield b"x" * 512
        yield b'"}'

    response = await probe_client.post(
        "/api/v1/_probe/widgets", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_cors_allows_configured_origin_only(
    make_settings: Callable[..., Settings],
) -> None:
    app: FastAPI = create_app(
        make_settings(CORS_ORIGINS="https://app.example.org"), configure_logs=False
    )
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            preflight = {"Access-Control-Request-Method": "POST"}
            allowed = await http.options(
                "/api/v1", headers={"Origin": "https://app.example.org", **preflight}
            )
            denied = await http.options(
                "/api/v1", headers={"Origin": "https://evil.example.com", **preflight}
            )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.org"
    assert "access-control-allow-origin" not in denied.headers
    assert allowed.headers["x-request-id"]


async def test_simple_request_with_origin_gets_cors_headers_without_none(
    make_settings: Callable[..., Settings],
) -> None:
    """Only requests with an Origin go through CORS; every response varies by Origin
    (a cache must not serve a browser's response to another origin, or the reverse)."""
    app: FastAPI = create_app(
        make_settings(CORS_ORIGINS="https://app.example.org"), configure_logs=False
    )
    app.include_router(probe)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            browser = await http.get("/health/live", headers={"Origin": "https://app.example.org"})
            stranger = await http.get(
                "/health/live", headers={"Origin": "https://evil.example.com"}
            )
            server = await http.get("/health/live")
            varied = await http.get("/api/v1/_probe/varied")
            varied_browser = await http.get(
                "/api/v1/_probe/varied", headers={"Origin": "https://app.example.org"}
            )
    assert browser.headers["access-control-allow-origin"] == "https://app.example.org"
    assert browser.headers["access-control-allow-credentials"] == "true"
    assert "X-Request-ID" in browser.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in stranger.headers
    assert "access-control-allow-origin" not in server.headers
    for response in (browser, stranger, server):
        assert response.headers.get_list("vary") == ["Origin"]
        assert response.headers["x-request-id"]
    # The route's own Vary is kept, Origin joined to it on one line.
    assert varied.headers.get_list("vary") == ["Accept-Language, Origin"]
    assert varied_browser.headers.get_list("vary") == ["Accept-Language, Origin"]


async def test_a_route_cannot_duplicate_the_request_id(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert response.headers.get_list("x-request-id") == ["abc-123"]


def _json_lines(text: str) -> list[dict[str, Any]]:
    parsed = []
    for raw in text.splitlines():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            parsed.append(value)
    return parsed


async def test_access_log_line_uses_route_template(
    probe_client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    await probe_client.get("/api/v1/_probe/raise/not_found", headers={"X-Request-ID": "log-1"})
    # Written by structlog straight to stderr, one JSON object per line.
    lines = [
        line for line in _json_lines(capsys.readouterr().err) if line.get("event") == "request"
    ]
    assert len(lines) == 1, "one access line per request"
    line = lines[0]
    assert line["logger"] == "medhub.access"
    assert line["level"] == "info"
    assert line["route"] == "/api/v1/_probe/raise/{name}"
    assert line["status"] == 404
    assert line["method"] == "GET"
    assert line["request_id"] == "log-1"
    assert isinstance(line["duration_ms"], float)
