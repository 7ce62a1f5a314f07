"""What every baseline route shares: the JSON envelope, the pool, and the bearer token
check (MedHub's token format, verified with PyJWT)."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import orjson
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import Response

# MedHub's token format (medhub.kit.security): HS256, kid derived from the secret.
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "medhub"
JWT_AUDIENCE = "medhub-api"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "jti", "role"]


def json_response(data: Any, status_code: int = 200) -> Response:
    # OPT_UTC_Z: UTC datetimes end in "Z", as pydantic writes them in MedHub's bodies.
    return Response(
        orjson.dumps(data, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        media_type="application/json",
    )


def error_response(
    status_code: int, code: str, message: str, details: list[dict[str, str]] | None = None
) -> Response:
    body = {"success": False, "error": {"code": code, "message": message, "details": details or []}}
    return json_response(body | {"request_id": None}, status_code)


def pool_of(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


class Unauthenticated(Exception):
    """The request's bearer token is missing or not one of MedHub's."""


def bearer_claims(request: Request) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, session id) from `Authorization: Bearer <jwt>`, or Unauthenticated."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authentication required")
    try:
        claims = jwt.decode(
            token.strip(),
            request.app.state.jwt_secret,
            algorithms=[JWT_ALGORITHM],
            audience=JWT_AUDIENCE,
            issuer=JWT_ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
        return uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise Unauthenticated("Invalid access token") from exc


def optional_bearer_claims(request: Request) -> tuple[uuid.UUID, uuid.UUID] | None:
    """None for an anonymous request; credentials that are sent must be valid (as in
    MedHub's OptionalPrincipal)."""
    if "authorization" not in request.headers:
        return None
    return bearer_claims(request)
