"""Authentication and authorisation as FastAPI dependencies.

Credentials, in order: `Authorization: Bearer <jwt>`, `Authorization: Bearer mh_…`
(API key), `X-API-Key: mh_…`, then the access cookie (browser mode, where unsafe
methods must also carry `X-CSRF-Token`). A token is checked against its login
session on every request, so logout takes effect on the next request.

Domains use typed aliases built from `require(Action.X)`, e.g.
`OrdersReadAll = Annotated[Principal, Depends(require(Action.ORDERS_READ_ALL))]`.
"""

from __future__ import annotations

import hashlib
import hmac
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
from medhub.config import Settings
from medhub.kit.context import user_id_var
from medhub.kit.db import DbSession, release_connection
from medhub.kit.errors import AuthenticationFailed, PermissionDenied
from medhub.kit.ratelimit import RateLimit, enforce
from medhub.kit.security import InvalidToken, TokenCodec, digest

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


async def _from_access_token(
    request: Request, session: AsyncSession, token: str, method: AuthMethod
) -> Principal:
    try:
        claims = _codec(request).decode(token)
    except InvalidToken as exc:
        raise AuthenticationFailed(f"Invalid access token: {exc}") from exc
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
        role=row.user_role,
        organization_id=row.user_org,
        method=method,
        user_id=claims.user_id,
        session_id=claims.session_id,
        is_verified=row.user_verified,
        is_approved=row.user_approved,
    )


async def _from_api_key(session: AsyncSession, key: str) -> Principal:
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
    # Every use is accounted for, at most one audit row per key per minute: of several
    # concurrent first uses, one claims the minute and the others skip.
    if row.last_used_at is None or now - row.last_used_at >= API_KEY_AUDIT_INTERVAL:
        claimed = await session.execute(
            _CLAIM_API_KEY_USE,
            {"id": row.key_id, "seconds": API_KEY_AUDIT_INTERVAL.total_seconds()},
        )
        if claimed.first() is not None:
            audit.record(
                session,
                "api_key_used",
                actor=principal,
                entity_type="api_key",
                entity_id=row.key_id,
            )
    return principal


async def optional_principal(request: Request, session: DbSession) -> Principal | None:
    """The caller if they sent credentials (which must then be valid), else None."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    authorization = request.headers.get("authorization")
    principal: Principal | None = None
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationFailed("Use 'Authorization: Bearer <token>'")
        if credential.startswith(API_KEY_PREFIX):
            principal = await _from_api_key(session, credential)
        else:
            principal = await _from_access_token(request, session, credential, AuthMethod.bearer)
    elif api_key := request.headers.get("x-api-key"):
        principal = await _from_api_key(session, api_key.strip())
    elif cookie := request.cookies.get(ACCESS_COOKIE):
        principal = await _from_access_token(request, session, cookie, AuthMethod.cookie)
    if principal is None:
        return None
    request.state.principal = principal
    if principal.user_id is not None:
        request.state.user_id = str(principal.user_id)
        user_id_var.set(str(principal.user_id))
    settings: Settings = request.app.state.settings
    role_limit = settings.RATE_LIMIT_ROLES.get(principal.role)
    if role_limit:
        identity = str(principal.user_id or f"key:{principal.api_key_id}")
        await enforce(request, role_limit, f"role:{principal.role}", identity)
    return principal


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise AuthenticationFailed("Authentication required")
    return principal


def require(*actions: Action) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets the caller through only if their role may do every action."""

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        for action in actions:
            if not can(principal.role, action):
                raise PermissionDenied(f"Your role ({principal.role}) may not {action.value}")
        return principal

    dependency.__name__ = "require_" + "_".join(a.name.lower() for a in actions)
    return dependency


async def verified_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """For actions that move money or reveal medical data."""
    if not principal.is_verified:
        raise PermissionDenied(
            "Verify your email address first: this action moves money or reveals medical data"
        )
    return principal


async def user_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """A person, not an API key (profile, password, sessions)."""
    principal.require_user_id()
    return principal


async def api_rate_limit(request: Request, session: DbSession) -> None:
    """Applied to every /api/v1 route: the per-IP global limit, tighter for anonymous calls.

    A caller counts as authenticated only once its credentials check out: otherwise any
    `Authorization` header would lift an anonymous client to the global allowance.
    """
    settings: Settings = request.app.state.settings
    ip = getattr(request.state, "client_ip", None) or "unknown"
    await enforce(request, settings.RATE_LIMIT_GLOBAL, "global", ip)
    principal: Principal | None = None
    if has_credentials(request):
        try:
            principal = await optional_principal(request, session)
        except (AuthenticationFailed, PermissionDenied):
            # The route reports bad credentials if it needs any; drop their tenant context.
            await release_connection(session)
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
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
VerifiedPrincipal = Annotated[Principal, Depends(verified_principal)]
UserPrincipal = Annotated[Principal, Depends(user_principal)]
