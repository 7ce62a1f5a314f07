"""What every test checks of an error response, in one place (DESIGN.md, "Error envelope")."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import httpx


def assert_error(
    response: httpx.Response,
    status: int,
    code: str | None = None,
    field: str | None = None,
    *,
    fields: Collection[str | None] | None = None,
) -> dict[str, Any]:
    """The `error` object of an error response, after checking the envelope: the status,
    `success: false`, a code (this `code` when given), a message, a list of details and
    the request id of the `X-Request-ID` header.

    `field`: one of the details names it. `fields`: the details name these and no other.
    """
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    error: dict[str, Any] = body["error"]
    if code is not None:
        assert error["code"] == code, body
    assert isinstance(error["code"], str), body
    assert isinstance(error["message"], str), body
    assert error["message"], body
    assert isinstance(error["details"], list), body
    assert body["request_id"] == response.headers["x-request-id"], body
    named = {detail["field"] for detail in error["details"]}
    if field is not None:
        assert field in named, body
    if fields is not None:
        assert named == set(fields), body
    return error


def detail_fields(response: httpx.Response) -> set[str | None]:
    """The fields an error response's details name (its status: see `assert_error`)."""
    return {detail["field"] for detail in response.json()["error"]["details"]}
