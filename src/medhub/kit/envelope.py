"""The success and error envelopes of the API contract, and the response class that renders them.

Routes return `ok(data)` / `created(data)`: the body is serialized once, by
pydantic-core, without re-validating a model that was just built. The route's
`response_model=Envelope[Schema]` documents the shape in OpenAPI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

import pydantic_core
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse as StarletteJSONResponse

from medhub.kit.context import current_request_id
from medhub.kit.errors import ErrorDetail

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T
    message: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody
    request_id: str | None = None


class JSONResponse(StarletteJSONResponse):
    """JSON via pydantic-core: models, UUIDs, datetimes (`...Z`) and Decimals in one pass."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content, by_alias=False)


def ok(
    data: Any,
    *,
    message: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"success": True, "data": data}
    if message is not None:
        body["message"] = message
    return JSONResponse(body, status_code=status_code, headers=headers, background=background)


def created(
    data: Any, *, message: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return ok(data, message=message, status_code=201, headers=headers)


def error_response(
    *,
    code: str,
    message: str,
    status_code: int,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "success": False,
        "error": {"code": code, "message": message, "details": list(details)},
        "request_id": current_request_id(),
    }
    return JSONResponse(body, status_code=status_code, headers=headers)
