"""Logging in and staying logged in: registration, login, refresh rotation, logout, sessions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.auth import recovery, throttle
from medhub.auth.exceptions import (
    AccountDisabled,
    InvalidCredentials,
    InvalidRefreshToken,
)
from medhub.auth.repository import RefreshTokenRepository, SessionRepository
from medhub.auth.runtime import AuthRuntime
from medhub.auth.schemas import RegisterRequest
from medhub.auth.tasks import alert_failed_logins
from medhub.authz.dependencies import csrf_matches, csrf_token_for
from medhub.authz.principal import Principal
from medhub.events import service as events
from medhub.kit.context import current_client
from medhub.kit.db import Database, release_connection
from medhub.kit.errors import NotFound, PermissionDenied
from medhub.kit.jobs import defer
from medhub.kit.security import digest, new_secret
from medhub.kit.tenancy import set_system_context, set_tenant_context
from medhub.mail.service import queue_email
from medhub.models.base import new_id
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


@dataclass(frozen=True)
class Registration:
    user_id: uuid.UUID
    email: str


async def register(
    session: AsyncSession, runtime: AuthRuntime, data: RegisterRequest
) -> Registration:
    """Create the account; for an address that already has one, tell its owner instead.

    Both answer alike (a taken address gets a fresh id that names no account), so
    registering cannot be used to find out which addresses have accounts.
    """
    await set_system_context(session)
    email = str(data.email)
    try:
        user = await users.create_user(
            session,
            runtime.hasher,
            email=email,
            password=data.password,
            full_name=data.full_name,
            role=data.role,
            company_name=data.company_name,
            phone=data.phone,
            # A doctor who signs up alone prescribes only after an admin approves them.
            is_approved=data.role != "doctor",
        )
    except users.EmailTaken:
        await _tell_owner_of_registration_attempt(session, email)
        return Registration(user_id=new_id(), email=email)
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
    return Registration(user_id=user.id, email=user.email)


async def _tell_owner_of_registration_attempt(session: AsyncSession, email: str) -> None:
    owner = await users.find_by_email(session, email)
    if owner is None or not owner.is_active:
        return
    await queue_email(
        session,
        "registration_attempt",
        owner.email,
        {"full_name": owner.full_name, "email": owner.email},
        user_id=owner.id,
    )
    audit.record(
        session,
        "registration_attempted",
        user_id=owner.id,
        organization_id=owner.organization_id,
    )


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
    """What login needs of the account, read before its connection goes back to the pool."""

    id: uuid.UUID
    organization_id: uuid.UUID | None
    password_hash: str


def _refused(retry_after: int | None) -> InvalidCredentials:
    """One answer for a wrong password, an unknown email and a throttled attempt. The
    throttle shows only as Retry-After, which unknown emails get at the same count."""
    return InvalidCredentials(
        headers={"Retry-After": str(retry_after)} if retry_after is not None else None
    )


async def login(
    session: AsyncSession,
    runtime: AuthRuntime,
    database: Database,
    *,
    email: str,
    password: str,
    cookies: bool,
) -> IssuedTokens:
    key = throttle.login_key(runtime, email, current_client()[0])
    await set_system_context(session)
    found = await users.find_by_email(session, email)
    candidate = _Candidate(found.id, found.organization_id, found.password_hash) if found else None
    wait = await throttle.wait_seconds(session, key)
    await release_connection(session)
    # Every attempt costs one hash: unknown emails and throttled attempts are checked
    # against a dummy hash (which never matches), so timing tells nothing either.
    checked = candidate.password_hash if candidate is not None and wait is None else None
    valid, upgraded_hash = await runtime.hasher.verify(password, checked)
    if wait is not None:
        await _record_throttled(database, candidate, email)
        raise _refused(wait)
    if candidate is None or not valid:
        raise _refused(await _record_failure(database, runtime, key, candidate, email))

    await set_system_context(session)
    # Again now that the hash is done: an attempt that raced past the first check
    # while a burst of failures crossed the threshold does not get through.
    wait = await throttle.wait_seconds(session, key)
    if wait is not None:
        await release_connection(session)
        await _record_throttled(database, candidate, email)
        raise _refused(wait)
    user = await users.lock_user(session, candidate.id)
    await _ensure_may_log_in(session, user)
    await throttle.succeeded(session, key)
    user.last_login = datetime.now(UTC)
    if upgraded_hash is not None and user.password_hash == candidate.password_hash:
        user.password_hash = upgraded_hash  # legacy bcrypt (or weaker argon2) → current argon2id
    tokens = await open_session(session, runtime, user, cookies=cookies)
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


def _audit_refusal(
    session: AsyncSession,
    action: str,
    candidate: _Candidate | None,
    email: str,
    **metadata: Any,
) -> None:
    """An audit row about a refused login: on the account, or naming the email nobody has."""
    if candidate is None:
        audit.record(session, action, metadata={"email": email, **metadata})
    else:
        audit.record(
            session,
            action,
            user_id=candidate.id,
            organization_id=candidate.organization_id,
            metadata=metadata,
        )


async def _record_throttled(database: Database, candidate: _Candidate | None, email: str) -> None:
    # A transaction of its own: the request's rolls back with the refusal.
    async with database.unit_of_work() as side:
        _audit_refusal(side, "login_blocked", candidate, email, reason="throttled")


async def _record_failure(
    database: Database,
    runtime: AuthRuntime,
    key: throttle.LoginKey,
    candidate: _Candidate | None,
    email: str,
) -> int | None:
    """Count and audit a failed login; the Retry-After to answer with, if now throttled.

    In a transaction of its own, committed although the request fails: nothing else
    of the request can be committed with it by accident.
    """
    settings = runtime.settings
    async with database.unit_of_work() as side:
        failure = await throttle.count_failure(side, settings, key)
        reason = "unknown" if candidate is None else "wrong_password"
        _audit_refusal(side, "login_failed", candidate, email, reason=reason)
        scopes = {"email_ip": failure.pair_throttled, "ip": failure.ip_throttled}
        for scope, throttled in scopes.items():
            if throttled:
                _audit_refusal(
                    side,
                    "login_throttled",
                    candidate,
                    email,
                    scope=scope,
                    minutes=settings.LOCKOUT_MINUTES,
                )
        if failure.pair_throttled and await throttle.claim_alert(side, settings, key):
            # Deferred for unknown emails too (the job then has nobody to tell), so this
            # answer costs the same whether or not the account exists.
            await defer(
                side,
                alert_failed_logins,
                user_id=str(candidate.id) if candidate is not None else None,
                ip=key.ip,
            )
    return failure.retry_after


async def open_session(
    session: AsyncSession, runtime: AuthRuntime, user: User, *, cookies: bool
) -> IssuedTokens:
    """A login session for `user` and its tokens, from the current client's address and
    user agent: what a login does once the password is checked (the caller has checked
    it, or is trusted setup that signs people in without one: tests)."""
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
