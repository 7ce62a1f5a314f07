"""Authentication and authorisation as FastAPI dependencies.

Credentials, in order: `Authorization: Bearer <jwt>`, `Authorization: Bearer mh_…`
(API key), `X-API-Key: mh_…`, then the access cookie (browser mode, where unsafe
methods must also carry `X-CSRF-Token`). A token is checked against its login
session on every request, so logout takes effect on the next request.

Domains use typed aliases built from `require(Action.X)`, e.g.
`OrdersReadAll = Annotated[Principal, Depends(require(Action.ORDERS_READ_ALL))]`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.permissions import Action, can
from medhub.authz.principal import AuthMethod, Principal
from medhub.authz.session_cache import SessionCache, SessionState
from medhub.config import Settings
from medhub.kit.context import user_id_var
from medhub.kit.db import get_database
from medhub.kit.errors import AppError, AuthenticationFailed, PermissionDenied
from medhub.kit.ratelimit import RateLimit, enforce
from medhub.kit.security import AccessClaims, InvalidToken, TokenCodec, digest
from medhub.kit.tenancy import (
    SessionRecheck,
    TenantContext,
    set_request_tenant,
    with_request_session,
)

ACCESS_COOKIE = "medhub_access"
REFRESH_COOKIE = "medhub_refresh"
CSRF_COOKIE = "medhub_csrf"
CSRF_HEADER = "x-csrf-token"
API_KEY_PREFIX = "mh_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_KEY_AUDIT_INTERVAL = timedelta(minutes=1)

_AUTH_CONTEXT = text("SELECT * FROM auth_context(:sid, :uid)")
_API_KEY_CONTEXT = text("SELECT * FROM api_key_context(:hash)")
_CLAIM_API_KEY_USE = text(
    "UPDATE api_keys SET last_used_at = now() WHERE id = ("
    " SELECT id FROM api_keys WHERE id = :id"
    " AND (last_used_at IS NULL OR last_used_at <= now() - make_interval(secs => :seconds))"
    " FOR UPDATE SKIP LOCKED) RETURNING id"
)


def csrf_token_for(secret: str, session_id: uuid.UUID) -> str:
    """The CSRF token is bound to the login session: a cookie planted by another site
    or left over from another session does not match."""
    return hmac.new(secret.encode(), b"csrf:" + session_id.bytes, hashlib.sha256).hexdigest()


def csrf_matches(settings: Settings, session_id: uuid.UUID, sent: str) -> bool:
    """The session's token under the current key or a previous one (a key rotation
    must not break the browser sessions opened before it)."""
    keys = (settings.jwt_secret(), *settings.jwt_previous_secrets())
    return any(hmac.compare_digest(sent, csrf_token_for(key, session_id)) for key in keys)


def has_credentials(request: Request) -> bool:
    return bool(
        request.headers.get("authorization")
        or request.headers.get("x-api-key")
        or request.cookies.get(ACCESS_COOKIE)
    )


def _codec(request: Request) -> TokenCodec:
    codec: TokenCodec = request.app.state.token_codec
    return codec


def session_cache(request: Request) -> SessionCache:
    cache: SessionCache = request.app.state.session_cache
    return cache


async def _checked_session(request: Request, claims: AccessClaims) -> SessionState:
    """The token's login session as the database says it is now, or as it said within
    the cache's bounds (authz/session_cache.py): no query at all on a hit."""
    cache = session_cache(request)
    state = cache.get(claims.session_id, claims.user_id, datetime.now(UTC))
    if state is not None:
        # From memory: the database confirms it in the statement that starts the
        # request's transaction (kit.tenancy.SessionRecheck), at no extra round trip.
        request.state.session_recheck = SessionRecheck(
            session_id=state.session_id,
            user_id=state.user_id,
            role=state.role,
            organization_id=state.organization_id,
            is_verified=state.is_verified,
            is_approved=state.is_approved,
            refused=functools.partial(cache.invalidate, "session", state.session_id),
        )
        return state
    generation = cache.generation
    # A short transaction of its own: the route's session (if it has one) starts with
    # the caller's tenant context instead (kit/tenancy.py).
    async with get_database(request).unit_of_work() as session:
        row = (
            await session.execute(_AUTH_CONTEXT, {"sid": claims.session_id, "uid": claims.user_id})
        ).one_or_none()
    # Account and organization first: their messages say why better than "session ended"
    # (deactivating a user also ends their sessions).
    if row is not None and not row.user_active:
        raise AuthenticationFailed("This account has been deactivated")
    if row is not None and not row.org_active:
        raise AuthenticationFailed("This account's organization is suspended")
    if row is None or not row.session_ok:
        raise AuthenticationFailed("This session has ended; please log in again")
    state = SessionState(
        session_id=claims.session_id,
        user_id=claims.user_id,
        role=row.user_role,
        organization_id=row.user_org,
        is_verified=row.user_verified,
        is_approved=row.user_approved,
        expires_at=row.session_expires_at,
        checked_at=time.monotonic(),
    )
    cache.store(state, generation)
    return state


async def _from_access_token(request: Request, token: str, method: AuthMethod) -> Principal:
    try:
        claims = _codec(request).decode(token)
    except InvalidToken as exc:
        raise AuthenticationFailed(f"Invalid access token: {exc}") from exc
    state = await _checked_session(request, claims)
    if method is AuthMethod.cookie and request.method not in SAFE_METHODS:
        settings: Settings = request.app.state.settings
        sent = request.headers.get(CSRF_HEADER, "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not (
            sent
            and hmac.compare_digest(sent, cookie)
            and csrf_matches(settings, claims.session_id, sent)
        ):
            raise PermissionDenied("Missing or invalid CSRF token (send the X-CSRF-Token header)")
    return Principal(
        role=state.role,
        organization_id=state.organization_id,
        method=method,
        user_id=claims.user_id,
        session_id=claims.session_id,
        is_verified=state.is_verified,
        is_approved=state.is_approved,
    )


async def _from_api_key(request: Request, key: str) -> Principal:
    async with get_database(request).unit_of_work() as session:
        row = (await session.execute(_API_KEY_CONTEXT, {"hash": digest(key)})).one_or_none()
    if row is None:
        raise AuthenticationFailed("Invalid API key")
    if not row.org_active:
        raise AuthenticationFailed("This API key's organization is suspended")
    principal = Principal(
        role=row.key_role,
        organization_id=row.key_org,
        method=AuthMethod.api_key,
        api_key_id=row.key_id,
    )
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at >= API_KEY_AUDIT_INTERVAL:

        async def account_for_use(route_session: AsyncSession) -> None:
            # Every use is accounted for, at most one audit row per key per minute: of
            # several concurrent first uses, one claims the minute and the others skip.
            # In the route's unit of work: a request the route refuses is not a use.
            claimed = await route_session.execute(
                _CLAIM_API_KEY_USE,
                {"id": row.key_id, "seconds": API_KEY_AUDIT_INTERVAL.total_seconds()},
            )
            if claimed.first() is not None:
                audit.record(
                    route_session,
                    "api_key_used",
                    actor=principal,
                    entity_type="api_key",
                    entity_id=row.key_id,
                )

        with_request_session(request, account_for_use)
    return principal


async def _authenticate(request: Request) -> Principal | None:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationFailed("Use 'Authorization: Bearer <token>'")
        if credential.startswith(API_KEY_PREFIX):
            return await _from_api_key(request, credential)
        return await _from_access_token(request, credential, AuthMethod.bearer)
    if api_key := request.headers.get("x-api-key"):
        return await _from_api_key(request, api_key.strip())
    if cookie := request.cookies.get(ACCESS_COOKIE):
        return await _from_access_token(request, cookie, AuthMethod.cookie)
    return None


async def resolve_principal(request: Request) -> Principal | None:
    """The caller if they sent credentials (which must then be valid), else None.

    Resolved once per request, whichever dependency asks first (the global rate limit
    does, on every /api/v1 route); a failure is remembered and raised again to the
    route that needs a caller. This is also where tenant scoping starts: the caller's
    tenant context is bound to the request's database session (kit/tenancy.py).
    """
    state = request.state
    if getattr(state, "principal_resolved", False):
        known: Principal | None = state.principal
        return known
    failure: AppError | None = getattr(state, "authentication_failure", None)
    if failure is not None:
        raise failure
    try:
        principal = await _authenticate(request)
    except (AuthenticationFailed, PermissionDenied) as exc:
        state.authentication_failure = exc
        raise
    state.principal = principal
    state.principal_resolved = True
    if principal is None:
        return None
    await set_request_tenant(
        request,
        TenantContext(
            user_id=principal.user_id,
            organization_id=principal.organization_id,
            role=principal.role,
            recheck=getattr(state, "session_recheck", None),
        ),
    )
    if principal.user_id is not None:
        state.user_id = str(principal.user_id)
        user_id_var.set(str(principal.user_id))
    settings: Settings = request.app.state.settings
    role_limit = settings.RATE_LIMIT_ROLES.get(principal.role)
    if role_limit:
        identity = str(principal.user_id or f"key:{principal.api_key_id}")
        await enforce(request, role_limit, f"role:{principal.role}", identity)
    return principal


async def current_principal(request: Request) -> Principal:
    principal = await resolve_principal(request)
    if principal is None:
        raise AuthenticationFailed("Authentication required")
    return principal


def require(*actions: Action) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets the caller through only if their role may do every action.

    One dependency, not a chain (each link costs FastAPI's resolver on every request).
    """

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        for action in actions:
            if not can(principal.role, action):
                raise PermissionDenied(f"Your role ({principal.role}) may not {action.value}")
        return principal

    dependency.__name__ = "require_" + "_".join(a.name.lower() for a in actions)
    return dependency


def require_verified(principal: Principal) -> Principal:
    """The caller, if their email address is verified (API keys count as verified);
    else 403. For checks that run after a role's own (`verified_principal` is the
    dependency form)."""
    if not principal.is_verified:
        raise PermissionDenied(
            "Verify your email address first: this action moves money or reveals medical data"
        )
    return principal


async def verified_principal(request: Request) -> Principal:
    """For actions that move money or reveal medical data."""
    return require_verified(await current_principal(request))


async def user_principal(request: Request) -> Principal:
    """A person, not an API key (profile, password, sessions)."""
    principal = await current_principal(request)
    principal.require_user_id()
    return principal


async def api_rate_limit(request: Request) -> None:
    """Applied to every /api/v1 route: the per-IP global limit, tighter for anonymous calls.

    A caller counts as authenticated only once its credentials check out: otherwise any
    `Authorization` header would lift an anonymous client to the global allowance.
    """
    settings: Settings = request.app.state.settings
    ip = getattr(request.state, "client_ip", None) or "unknown"
    await enforce(request, settings.RATE_LIMIT_GLOBAL, "global", ip)
    principal: Principal | None = None
    if has_credentials(request):
        # The route reports bad credentials if it needs any.
        with contextlib.suppress(AuthenticationFailed, PermissionDenied):
            principal = await resolve_principal(request)
    if principal is None:
        await enforce(request, settings.RATE_LIMIT_ANONYMOUS, "anonymous", ip)


def per_user_limit(setting: str, scope: str) -> Callable[..., Awaitable[None]]:
    """An endpoint limit counted per authenticated user (or API key) rather than per IP."""
    limit = RateLimit(setting=setting, scope=scope)

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> None:
        settings: Settings = request.app.state.settings
        identity = str(principal.user_id or f"key:{principal.api_key_id}")
        await enforce(request, limit.resolve(settings), scope, identity)

    return dependency


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(resolve_principal)]
VerifiedPrincipal = Annotated[Principal, Depends(verified_principal)]
UserPrincipal = Annotated[Principal, Depends(user_principal)]
