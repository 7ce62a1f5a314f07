"""Logging in and staying logged in: registration, login, refresh rotation, logout, sessions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.auth import recovery
from medhub.auth.exceptions import (
    AccountDisabled,
    AccountLocked,
    InvalidCredentials,
    InvalidRefreshToken,
)
from medhub.auth.repository import RefreshTokenRepository, SessionRepository
from medhub.auth.runtime import AuthRuntime
from medhub.auth.schemas import RegisterRequest
from medhub.authz.dependencies import csrf_matches, csrf_token_for
from medhub.authz.principal import Principal
from medhub.events import service as events
from medhub.kit.context import current_client
from medhub.kit.db import release_connection
from medhub.kit.errors import NotFound, PermissionDenied
from medhub.kit.security import digest, new_secret
from medhub.kit.tenancy import set_system_context, set_tenant_context
from medhub.models.identity import AuthSession, RefreshToken, User
from medhub.organizations import service as organizations
from medhub.users import service as users


@dataclass(frozen=True)
class IssuedTokens:
    user: User
    session_id: uuid.UUID
    access_token: str
    refresh_token: str
    expires_in: int
    csrf_token: str


async def register(session: AsyncSession, runtime: AuthRuntime, data: RegisterRequest) -> User:
    await set_system_context(session)
    user = await users.create_user(
        session,
        runtime.hasher,
        email=str(data.email),
        password=data.password,
        full_name=data.full_name,
        role=data.role,
        company_name=data.company_name,
        phone=data.phone,
        # A doctor who signs up alone prescribes only after an admin approves them.
        is_approved=data.role != "doctor",
    )
    await recovery.send_verification(session, runtime, user)
    # The welcome email (and whatever later domains hang on it) follows from the event.
    await events.emit(
        session, "user.registered", {"user_id": str(user.id), "role": user.role}, actor_id=user.id
    )
    audit.record(
        session,
        "user_registered",
        user_id=user.id,
        entity_type="user",
        entity_id=user.id,
        metadata={"role": user.role},
    )
    return user


async def _ensure_may_log_in(session: AsyncSession, user: User) -> None:
    if not user.is_active:
        audit.record(
            session,
            "login_refused",
            user_id=user.id,
            organization_id=user.organization_id,
            metadata={"reason": "deactivated"},
        )
        raise AccountDisabled()
    if user.organization_id is not None:
        status = await organizations.status_of(session, user.organization_id)
        if status != "active":
            audit.record(
                session,
                "login_refused",
                user_id=user.id,
                organization_id=user.organization_id,
                metadata={"reason": f"organization {status}"},
            )
            raise AccountDisabled("Your organization's account is suspended")


@dataclass(frozen=True)
class _Candidate:
    id: uuid.UUID
    password_hash: str
    locked_until: datetime | None


async def login(
    session: AsyncSession, runtime: AuthRuntime, *, email: str, password: str, cookies: bool
) -> IssuedTokens:
    settings = runtime.settings
    await set_system_context(session)
    found = await users.find_by_email(session, email)
    candidate = _Candidate(found.id, found.password_hash, found.locked_until) if found else None
    await release_connection(session)
    # Unknown emails are checked against a dummy hash, and locked accounts are checked
    # too: every answer costs one hash, so timing tells nothing about the account.
    valid, upgraded_hash = await runtime.hasher.verify(
        password, candidate.password_hash if candidate else None
    )
    await set_system_context(session)
    now = datetime.now(UTC)
    if candidate is None:
        audit.record(session, "login_failed", metadata={"email": email, "reason": "unknown"})
        raise InvalidCredentials()
    user = await users.lock_user(session, candidate.id)
    if user.locked_until is not None and user.locked_until > now:
        audit.record(
            session,
            "login_blocked",
            user_id=user.id,
            organization_id=user.organization_id,
            metadata={"reason": "locked"},
        )
        raise AccountLocked(user.locked_until)
    if not valid:
        user.failed_login_count += 1
        if user.failed_login_count >= settings.LOGIN_MAX_FAILURES:
            until = now + timedelta(minutes=settings.LOCKOUT_MINUTES)
            user.locked_until = until
            user.failed_login_count = 0
            audit.record(
                session,
                "account_locked",
                user_id=user.id,
                organization_id=user.organization_id,
                metadata={"until": until.isoformat()},
            )
            audit.record(
                session,
                "login_failed",
                user_id=user.id,
                organization_id=user.organization_id,
                metadata={"reason": "locked"},
            )
            raise AccountLocked(until)
        audit.record(
            session,
            "login_failed",
            user_id=user.id,
            organization_id=user.organization_id,
            metadata={"reason": "wrong_password"},
        )
        raise InvalidCredentials()

    await _ensure_may_log_in(session, user)
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login = now
    if upgraded_hash is not None and user.password_hash == candidate.password_hash:
        user.password_hash = upgraded_hash  # legacy bcrypt (or weaker argon2) → current argon2id
    tokens = await _open_session(session, runtime, user, cookies=cookies)
    await set_tenant_context(
        session, user_id=user.id, organization_id=user.organization_id, role=user.role
    )
    audit.record(
        session,
        "login",
        user_id=user.id,
        organization_id=user.organization_id,
        entity_type="session",
        entity_id=tokens.session_id,
        metadata={"method": "cookie" if cookies else "bearer"},
    )
    return tokens


async def _open_session(
    session: AsyncSession, runtime: AuthRuntime, user: User, *, cookies: bool
) -> IssuedTokens:
    now = datetime.now(UTC)
    ip, user_agent = current_client()
    auth_session = await SessionRepository(session).add(
        AuthSession(
            user_id=user.id,
            expires_at=now + runtime.refresh_ttl,
            ip_address=ip,
            user_agent=user_agent,
            uses_cookies=cookies,
            last_used_at=now,
        )
    )
    return await _issue(session, runtime, user, auth_session)


async def _issue(
    session: AsyncSession, runtime: AuthRuntime, user: User, auth_session: AuthSession
) -> IssuedTokens:
    now = datetime.now(UTC)
    refresh = new_secret(32)
    await RefreshTokenRepository(session).add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=digest(refresh),
            expires_at=now + runtime.refresh_ttl,
        )
    )
    access, _claims = runtime.codec.issue(
        user_id=user.id,
        role=user.role,
        org_id=user.organization_id,
        session_id=auth_session.id,
        ttl=runtime.access_ttl,
    )
    return IssuedTokens(
        user=user,
        session_id=auth_session.id,
        access_token=access,
        refresh_token=refresh,
        expires_in=int(runtime.access_ttl.total_seconds()),
        csrf_token=csrf_token_for(runtime.settings.jwt_secret(), auth_session.id),
    )


async def refresh(
    session: AsyncSession,
    runtime: AuthRuntime,
    refresh_token: str,
    *,
    csrf_token: str | None = None,
) -> IssuedTokens:
    """Rotate: the presented token dies, a new one is issued in the same session.

    Presenting a token that was already used means it leaked (or a client raced
    itself): the whole session - every token descended from that login - is revoked.
    """
    await set_system_context(session)
    tokens = RefreshTokenRepository(session)
    sessions = SessionRepository(session)
    stored = await tokens.by_hash(digest(refresh_token))
    if stored is None:
        raise InvalidRefreshToken()
    auth_session = await sessions.get(stored.session_id)
    if auth_session is None or auth_session.revoked_at is not None:
        raise InvalidRefreshToken("This session has ended; please log in again")
    if csrf_token is not None and not csrf_matches(runtime.settings, auth_session.id, csrf_token):
        raise PermissionDenied("Missing or invalid CSRF token (send the X-CSRF-Token header)")
    if stored.used_at is not None or not await tokens.consume(stored.id):
        await sessions.revoke(auth_session.id, "refresh_token_reuse")
        audit.record(
            session,
            "refresh_token_reuse",
            user_id=auth_session.user_id,
            entity_type="session",
            entity_id=auth_session.id,
        )
        raise InvalidRefreshToken("Refresh token already used: the session has been revoked")
    now = datetime.now(UTC)
    if stored.expires_at <= now or auth_session.expires_at <= now:
        raise InvalidRefreshToken()
    user = await users.get_user(session, auth_session.user_id)
    await _ensure_may_log_in(session, user)
    auth_session.last_used_at = now
    auth_session.expires_at = now + runtime.refresh_ttl
    return await _issue(session, runtime, user, auth_session)


async def logout(session: AsyncSession, principal: Principal) -> None:
    if principal.session_id is None:
        return
    await SessionRepository(session).revoke(principal.session_id, "logout")
    audit.record(
        session, "logout", actor=principal, entity_type="session", entity_id=principal.session_id
    )


async def list_sessions(session: AsyncSession, principal: Principal) -> Sequence[AuthSession]:
    return await SessionRepository(session).active_for_user(principal.require_user_id())


async def revoke_session(
    session: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> None:
    sessions = SessionRepository(session)
    owned = await sessions.get_owned(principal.require_user_id(), session_id)
    if owned is None or owned.revoked_at is not None:
        raise NotFound("Session not found")
    await sessions.revoke(session_id, "revoked_by_user")
    audit.record(
        session, "session_revoked", actor=principal, entity_type="session", entity_id=session_id
    )


async def revoke_all_sessions_of(session: AsyncSession, user_id: uuid.UUID, reason: str) -> int:
    """End every login of a user an admin deactivated: their refresh tokens die now."""
    return await SessionRepository(session).revoke_all(user_id, reason)


async def revoke_all_sessions(session: AsyncSession, principal: Principal) -> int:
    count = await SessionRepository(session).revoke_all(principal.require_user_id(), "logout_all")
    audit.record(session, "logout_all", actor=principal, metadata={"sessions": count})
    return count
