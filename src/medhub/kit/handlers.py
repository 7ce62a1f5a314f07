"""Every error the framework or a domain raises, rendered in the one error envelope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import InterfaceError as SQLAlchemyInterfaceError
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from medhub.kit.envelope import error_response
from medhub.kit.errors import (
    HTTP_STATUS_CODES,
    AppError,
    Conflict,
    ErrorDetail,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
    without_enum_reprs,
)
from medhub.kit.routing import (
    METHOD_NOT_ALLOWED_MESSAGE,
    method_not_allowed,
    route_methods,
    route_path,
)

log = structlog.get_logger(__name__)

# Where a parameter came from is noise for a client: `body.email` → `email`.
_SOURCES = {"body", "query", "path", "header", "cookie"}

_HTTP_MESSAGES = {
    404: "The requested resource was not found",
    405: METHOD_NOT_ALLOWED_MESSAGE,
    413: "Request body is too large",
}


def validation_details(errors: Sequence[Any]) -> list[ErrorDetail]:
    details: list[ErrorDetail] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in _SOURCES:
            loc = loc[1:]
        if error.get("type") == "json_invalid":
            ctx = error.get("ctx") or {}
            message = f"Malformed JSON: {ctx.get('error', 'could not be parsed')}"
            details.append(ErrorDetail(field=None, message=message))
            continue
        message = without_enum_reprs(str(error.get("msg", "Invalid value")))
        details.append(ErrorDetail(field=".".join(loc) or None, message=message))
    return details


def _is_json_content_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _wrong_body_type(request: Request, errors: Sequence[Any]) -> bool:
    """A JSON route that got a body in another media type (FastAPI then sees raw bytes)."""
    content_type = request.headers.get("content-type")
    if not content_type or _is_json_content_type(content_type):
        return False
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        # A form route reports its own fields (loc ("body", "field")); a JSON route
        # given a form fails on the body as a whole.
        return any(
            tuple(e.get("loc", ())) == ("body",) and e.get("input") is not None for e in errors
        )
    return any(e.get("loc", ())[:1] == ("body",) for e in errors)


async def _app_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    # A net under the domains' own messages: an enum formatted with `!r` reads as its value.
    details = [
        detail.model_copy(update={"message": without_enum_reprs(detail.message)})
        for detail in exc.details
    ]
    return error_response(
        code=exc.code,
        message=without_enum_reprs(exc.message),
        status_code=exc.status_code,
        details=details,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if _wrong_body_type(request, errors):
        return error_response(
            code=UnsupportedMediaType.code,
            message="The request body must be JSON (Content-Type: application/json)",
            status_code=UnsupportedMediaType.status_code,
        )
    return error_response(
        code=ValidationFailed.code,
        message="Invalid input data",
        status_code=400,
        details=validation_details(errors),
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 405:
        # Starlette's Allow names only the first route matching the path; the table
        # knows every method of every route on it. Paths it does not know (a mount's
        # files) keep what the raiser said.
        served = route_methods(request.app).for_path(route_path(request.scope))
        if served is not None and request.method not in served.methods:
            return method_not_allowed(served)
    code = HTTP_STATUS_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
    message = exc.detail if isinstance(exc.detail, str) else None
    if message is None or message in {"Not Found", "Method Not Allowed"}:
        message = _HTTP_MESSAGES.get(status, "Request failed")
    return error_response(
        code=code,
        message=message,
        status_code=status,
        headers=dict(exc.headers) if exc.headers else None,
    )


# SQLSTATEs that mean "this write collides with data that is already there".
_CONFLICT_SQLSTATES = {"23505": "unique", "23P01": "exclusion", "23503": "reference"}


async def _integrity_error(_request: Request, exc: Exception) -> Response:
    """A constraint the domain did not pre-check (or lost a race on): 409, never SQL."""
    assert isinstance(exc, IntegrityError)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate not in _CONFLICT_SQLSTATES:
        raise exc
    log.warning("db.integrity_conflict", sqlstate=sqlstate, constraint=_constraint_name(exc))
    return error_response(
        code=Conflict.code,
        message="The request conflicts with existing data",
        status_code=Conflict.status_code,
    )


def _constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name if isinstance(name, str) else None


# A client retrying after this many seconds usually finds a free connection.
POOL_EXHAUSTED_RETRY_AFTER = 1


async def _pool_exhausted(request: Request, exc: Exception) -> Response:
    """No database connection came free within DATABASE_POOL_TIMEOUT: the server is
    overloaded, not broken. 503 with Retry-After, and one log line, not a traceback."""
    assert isinstance(exc, SQLAlchemyTimeoutError)
    log.warning("db.pool_exhausted", route=route_path(request.scope), error=str(exc)[:200])
    return error_response(
        code=ServiceUnavailable.code,
        message="The service is busy; retry in a moment",
        status_code=ServiceUnavailable.status_code,
        headers={"Retry-After": str(POOL_EXHAUSTED_RETRY_AFTER)},
    )


# Long enough for a restarting database to be back, short enough not to lose the user.
DATABASE_UNAVAILABLE_RETRY_AFTER = 2

# The database could not be reached, or dropped the connection or the transaction
# (restarting, failing over, a statement cancelled): psycopg's OperationalError and
# InterfaceError, raised by SQLAlchemy (wrapped) or by reads on the driver connection
# (kit.rows, the tenant context: bare). Serialization failures and deadlocks are
# OperationalErrors too, and "retry" is the right answer to them as well.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    SQLAlchemyOperationalError,
    SQLAlchemyInterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """503 with Retry-After and one log line, not a 500 and a traceback: nothing is
    broken in this request, and the pool replaces the dead connections by itself. The
    unit of work did not commit, so nothing of the request was written (unless the
    connection dropped while COMMIT itself was under way: then, as for any database
    client, the outcome is unknown, and an Idempotency-Key makes the retry safe)."""
    original = getattr(exc, "orig", None) or exc
    log.warning(
        "db.unavailable",
        route=route_path(request.scope),
        error=type(original).__name__,
        sqlstate=getattr(original, "sqlstate", None),
        message=str(original).splitlines()[0][:200] if str(original) else "",
    )
    return error_response(
        code=ServiceUnavailable.code,
        message="The database is unavailable; retry in a moment",
        status_code=ServiceUnavailable.status_code,
        headers={"Retry-After": str(DATABASE_UNAVAILABLE_RETRY_AFTER)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(SQLAlchemyTimeoutError, _pool_exhausted)
    for error in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
