"""The baseline: the least code that answers MedHub's benchmarked routes with the same bodies.

Starlette routing, raw psycopg 3 through an AsyncConnectionPool, orjson, PyJWT
and pwdlib's Argon2id. The gap between this and MedHub is what MedHub's layers
(middleware, dependency injection, SQLAlchemy, pydantic) and its extra work
per request cost. Served by the runner as `uvicorn bench.baseline:app` with
BASELINE_DATABASE_URL, BASELINE_JWT_SECRET (MedHub's JWT_SECRET, so each side
accepts the other's tokens) and the PASSWORD_HASH_* variables set.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import jwt
import orjson
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import baseline_clinical, baseline_pharma, baseline_prescriptions
from bench.baseline_kit import (
    JWT_ALGORITHM,
    JWT_AUDIENCE,
    JWT_ISSUER,
    Unauthenticated,
    bearer_claims,
    pool_of,
)
from bench.baseline_kit import error_response as _error
from bench.baseline_kit import json_response as _json
from bench.hashing import HashParams

# Same size as MedHub's default DATABASE_POOL_SIZE, so neither side wins on connections.
POOL_SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "20"))
# MedHub opens its connections with a statement timeout; keep the session setup alike.
CONNECT_OPTIONS = "-c statement_timeout=30000"

ACCESS_TTL_S = int(os.environ.get("ACCESS_TOKEN_TTL_MINUTES", "15")) * 60

# Login: the user's row is read with the system context, like MedHub's login by email
# (RLS on `users` shows no rows without a context). One transaction, two statements.
SYSTEM_CONTEXT_SQL = "SELECT set_config('app.system', 'on', true)"
USER_BY_EMAIL_SQL = (
    "SELECT id, password_hash, role, organization_id, email, full_name, is_verified, is_active"
    " FROM users WHERE email = %s"
)
# MedHub's default REFRESH_TOKEN_TTL_DAYS: a login session lives as long as its refresh token.
INSERT_SESSION_SQL = (
    "INSERT INTO auth_sessions (id, user_id, expires_at, uses_cookies)"
    " VALUES (%s, %s, now() + interval '7 days', false)"
)
# /users/me: the function MedHub calls on every authenticated request (session still
# live, user active, organization active; sets the RLS context), then the profile.
AUTH_CONTEXT_SQL = "SELECT session_ok, user_active, org_active FROM auth_context(%s, %s)"
PROFILE_COLUMNS = (
    "id",
    "email",
    "full_name",
    "company_name",
    "phone",
    "role",
    "organization_id",
    "is_verified",
    "is_active",
    "is_approved",
    "created_at",
    "last_login",
)
PROFILE_SQL = f"SELECT {', '.join(PROFILE_COLUMNS)} FROM users WHERE id = %s"  # noqa: S608


async def live(request: Request) -> Response:
    return _json({"success": True, "data": {"status": "ok", "version": "bench"}})


async def ready(request: Request) -> Response:
    started = time.perf_counter()
    async with pool_of(request).connection() as conn:
        cursor = await conn.execute("SELECT version_num FROM alembic_version")
        row = await cursor.fetchone()
    checks = {
        "database": {
            "status": "ok",
            "detail": None,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        },
        "migrations": {
            "status": "ok",
            "detail": f"at {row[0] if row else 'no revision'}",
            "latency_ms": None,
        },
    }
    return _json({"success": True, "data": {"status": "ok", "checks": checks}})


async def login(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body())
        email, password = body["email"], body["password"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return _error(400, "VALIDATION_ERROR", "Send email and password")
    if not isinstance(email, str) or not isinstance(password, str):
        return _error(400, "VALIDATION_ERROR", "Send email and password")
    pool = pool_of(request)
    async with pool.connection() as conn:
        await conn.execute(SYSTEM_CONTEXT_SQL)
        cursor = await conn.execute(USER_BY_EMAIL_SQL, (email,))
        row = await cursor.fetchone()
    if row is None:
        return _error(401, "AUTHENTICATION_ERROR", "Invalid email or password")
    user_id, password_hash, role, org_id, user_email, full_name, is_verified, is_active = row
    # CPU-bound for tens of ms: a dedicated pool of MedHub's size, off the event loop.
    state = request.app.state
    valid = await asyncio.get_running_loop().run_in_executor(
        state.hash_executor, state.hasher.verify, password, password_hash
    )
    if not valid:
        return _error(401, "AUTHENTICATION_ERROR", "Invalid email or password")
    if not is_active:
        return _error(403, "AUTHORIZATION_ERROR", "This account has been deactivated")
    session_id = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(INSERT_SESSION_SQL, (session_id, user_id))
    issued = int(time.time())
    payload = {
        "sub": str(user_id),
        "role": role,
        "org": str(org_id) if org_id else None,
        "sid": str(session_id),
        "jti": uuid.uuid4().hex,
        "iat": issued,
        "exp": issued + ACCESS_TTL_S,
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
    }
    access = jwt.encode(
        payload, state.jwt_secret, algorithm=JWT_ALGORITHM, headers={"kid": state.jwt_kid}
    )
    data = {
        "access_token": access,
        # Same shape as MedHub's answer; the baseline does not store refresh tokens.
        "refresh_token": secrets.token_urlsafe(32),
        "token_type": "bearer",
        "expires_in": ACCESS_TTL_S,
        "user": {
            "id": user_id,
            "email": user_email,
            "full_name": full_name,
            "role": role,
            "organization_id": org_id,
            "is_verified": is_verified,
        },
    }
    return _json({"success": True, "data": data, "message": "Login successful"})


async def me(request: Request) -> Response:
    try:
        user_id, session_id = bearer_claims(request)
    except Unauthenticated as exc:
        return _error(401, "AUTHENTICATION_ERROR", str(exc))
    async with pool_of(request).connection() as conn:
        cursor = await conn.execute(AUTH_CONTEXT_SQL, (session_id, user_id))
        context = await cursor.fetchone()
        if context is None or not all(context):
            return _error(401, "AUTHENTICATION_ERROR", "This session has ended")
        cursor = await conn.execute(PROFILE_SQL, (user_id,))
        row = await cursor.fetchone()
    if row is None:
        return _error(404, "NOT_FOUND", "User not found")
    return _json({"success": True, "data": dict(zip(PROFILE_COLUMNS, row, strict=True))})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["BASELINE_DATABASE_URL"]
    secret = os.environ["BASELINE_JWT_SECRET"]
    params = HashParams.from_env(os.environ)
    app.state.jwt_secret = secret
    app.state.jwt_kid = hashlib.sha256(b"medhub-kid:" + secret.encode()).hexdigest()[:12]
    app.state.hasher = params.hasher()
    app.state.hash_executor = ThreadPoolExecutor(
        max_workers=params.workers, thread_name_prefix="pwhash"
    )
    pool = AsyncConnectionPool(
        url,
        min_size=POOL_SIZE,
        max_size=POOL_SIZE,
        kwargs={"application_name": "medhub-bench-baseline", "options": CONNECT_OPTIONS},
        open=False,
    )
    # Open eagerly and wait, so the first measured requests do not pay for connecting.
    await pool.open(wait=True, timeout=30)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()
        app.state.hash_executor.shutdown(wait=False, cancel_futures=True)


app = Starlette(
    routes=[
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/api/v1/auth/login", login, methods=["POST"]),
        Route("/api/v1/users/me", me, methods=["GET"]),
        *baseline_pharma.ROUTES,
        *baseline_clinical.ROUTES,
        *baseline_prescriptions.ROUTES,
    ],
    lifespan=lifespan,
)
