"""Proving control of an account: email verification, password reset, password change, OTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.auth import throttle
from medhub.auth.exceptions import InvalidOneTimeToken, OtpRequired, WrongCurrentPassword
from medhub.auth.repository import OneTimeTokenRepository, SessionRepository
from medhub.auth.runtime import AuthRuntime
from medhub.auth.schemas import OtpPurpose, ResetPasswordRequest
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit.db import release_connection
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.security import digest, keyed_digest, new_otp, new_secret
from medhub.kit.tenancy import set_system_context, set_tenant_context
from medhub.mail.service import queue_email
from medhub.models.identity import OneTimeToken, User
from medhub.models.notifications import NotificationCategory
from medhub.notifications import service as notifications
from medhub.patients import service as patients
from medhub.users import service as users

VERIFY_EMAIL = "verify_email"
RESET_LINK = "reset_password"
RESET_OTP = "reset_password_otp"
OTP_PREFIX = "otp:"
GRANT_PREFIX = "otp_grant:"

PURPOSE_LABELS = {
    OtpPurpose.medical_history: "access to medical history",
    OtpPurpose.sensitive_action: "a sensitive action",
    OtpPurpose.payment: "a payment",
}


async def _new_token(
    session: AsyncSession,
    user: User,
    purpose: str,
    token_hash: str,
    ttl: timedelta,
    *,
    replace: bool = True,
) -> datetime:
    repository = OneTimeTokenRepository(session)
    now = datetime.now(UTC)
    if replace:
        await repository.retire(user.id, purpose, now)
    expires = now + ttl
    await repository.add(
        OneTimeToken(
            user_id=user.id, purpose=purpose, token_hash=token_hash, expires_at=expires, attempts=0
        )
    )
    return expires


async def send_verification(session: AsyncSession, runtime: AuthRuntime, user: User) -> None:
    token = new_secret(32)
    hours = runtime.settings.EMAIL_VERIFICATION_TTL_HOURS
    await _new_token(session, user, VERIFY_EMAIL, digest(token), timedelta(hours=hours))
    await queue_email(
        session,
        "verify_email",
        user.email,
        {"full_name": user.full_name, "token": token, "ttl_hours": hours},
        user_id=user.id,
    )


async def verify_email(session: AsyncSession, token: str) -> User:
    await set_system_context(session)
    stored = await OneTimeTokenRepository(session).live_by_hash(VERIFY_EMAIL, digest(token))
    if stored is None:
        raise InvalidOneTimeToken(
            details=[ErrorDetail(field="token", message="invalid or expired")]
        )
    stored.used_at = datetime.now(UTC)
    user = await users.get_user(session, stored.user_id)
    user.is_verified = True
    audit.record(
        session,
        "email_verified",
        user_id=user.id,
        organization_id=user.organization_id,
        entity_type="user",
        entity_id=user.id,
    )
    # A verified address is what charts are matched by: the charts organizations made
    # with it before (the patient registering later) become this account's, in this
    # transaction (in the system context set above).
    await patients.link_verified_account(session, user)
    return user


async def resend_verification(
    session: AsyncSession, runtime: AuthRuntime, principal: Principal | None, email: str | None
) -> None:
    """Always succeeds from the caller's point of view: no hint whether the email exists."""
    await set_system_context(session)
    user: User | None
    if principal is not None and principal.user_id is not None:
        user = await users.get_user(session, principal.user_id)
    elif email:
        user = await users.find_by_email(session, email)
    else:
        raise ValidationFailed(details=[ErrorDetail(field="email", message="Field required")])
    if user is not None and user.is_active and not user.is_verified:
        await send_verification(session, runtime, user)


async def _new_reset_link(
    session: AsyncSession, settings: Settings, user: User, *, replace: bool = True
) -> str:
    link = new_secret(32)
    link_ttl = timedelta(minutes=settings.PASSWORD_RESET_TTL_MINUTES)
    await _new_token(session, user, RESET_LINK, digest(link), link_ttl, replace=replace)
    return link


async def forgot_password(session: AsyncSession, runtime: AuthRuntime, email: str) -> None:
    """Send a reset link and a code; answer the same whether or not the account exists."""
    await set_system_context(session)
    user = await users.find_by_email(session, email)
    if user is None or not user.is_active:
        return
    settings = runtime.settings
    code = new_otp()
    otp_ttl = timedelta(minutes=settings.OTP_TTL_MINUTES)
    link = await _new_reset_link(session, settings, user)
    await _new_token(
        session, user, RESET_OTP, keyed_digest(runtime.otp_key, f"{user.id}:{code}"), otp_ttl
    )
    await queue_email(
        session,
        "password_reset",
        user.email,
        {
            "full_name": user.full_name,
            "token": link,
            "otp": code,
            "link_ttl_minutes": settings.PASSWORD_RESET_TTL_MINUTES,
            "otp_ttl_minutes": settings.OTP_TTL_MINUTES,
        },
        user_id=user.id,
    )
    audit.record(
        session, "password_reset_requested", user_id=user.id, organization_id=user.organization_id
    )


async def send_failed_login_alert(
    session: AsyncSession, settings: Settings, user: User, *, ip: str
) -> None:
    """Tell the owner that wrong passwords got one address throttled, with a reset link:
    for the owner who forgot it, and for the one whose password may have leaked.

    The link joins any the owner asked for (a reset spends them all): an alert sent
    from a job must not kill the link of a forgot-password request made meanwhile.
    """
    link = await _new_reset_link(session, settings, user, replace=False)
    await queue_email(
        session,
        "failed_logins",
        user.email,
        {
            "full_name": user.full_name,
            "attempts": settings.LOGIN_MAX_FAILURES,
            "ip_address": ip,
            "lockout_minutes": settings.LOCKOUT_MINUTES,
            "token": link,
            "link_ttl_minutes": settings.PASSWORD_RESET_TTL_MINUTES,
        },
        user_id=user.id,
    )
    audit.record(
        session,
        "failed_login_alert_sent",
        user_id=user.id,
        organization_id=user.organization_id,
        metadata={"ip": ip},
    )


async def _check_otp(
    session: AsyncSession,
    runtime: AuthRuntime,
    user: User,
    *,
    purpose: str,
    code: str,
    field: str,
    consume: bool = True,
) -> OneTimeToken:
    """A code is tried at most OTP_MAX_ATTEMPTS times, then it is dead."""
    repository = OneTimeTokenRepository(session)
    stored = await repository.latest_live_for_user(user.id, purpose)
    invalid = InvalidOneTimeToken(details=[ErrorDetail(field=field, message="invalid or expired")])
    if stored is None:
        raise invalid
    if stored.token_hash != keyed_digest(runtime.otp_key, f"{user.id}:{code}"):
        stored.attempts += 1
        if stored.attempts >= runtime.settings.OTP_MAX_ATTEMPTS:
            stored.used_at = datetime.now(UTC)
        raise invalid
    if consume:
        stored.used_at = datetime.now(UTC)
    return stored


async def reset_password(
    session: AsyncSession, runtime: AuthRuntime, data: ResetPasswordRequest
) -> None:
    settings = runtime.settings
    await set_system_context(session)
    repository = OneTimeTokenRepository(session)
    if data.token is not None:
        stored = await repository.live_by_hash(RESET_LINK, digest(data.token))
        field = "token"
        if stored is None:
            raise InvalidOneTimeToken(
                details=[ErrorDetail(field=field, message="invalid or expired")]
            )
    else:
        field = "otp"
        found = await users.find_by_email(session, str(data.email))
        if found is None:
            raise InvalidOneTimeToken(
                details=[ErrorDetail(field=field, message="invalid or expired")]
            )
        stored = await _check_otp(
            session,
            runtime,
            found,
            purpose=RESET_OTP,
            code=str(data.otp),
            field=field,
            consume=False,
        )
    proof_id, user_id = stored.id, stored.user_id
    state = await users.password_state(session, user_id, history_size=settings.PASSWORD_HISTORY)
    await release_connection(session)
    new_hash = await users.hash_new_password(
        runtime.hasher, state, data.new_password, history_size=settings.PASSWORD_HISTORY
    )
    await set_system_context(session)
    # The proof is spent only now, atomically: a concurrent reset with the same proof loses.
    if not await repository.consume(proof_id):
        raise InvalidOneTimeToken(details=[ErrorDetail(field=field, message="invalid or expired")])
    user = await users.store_password(session, user_id, new_hash)
    # Both proofs die together, and so does every session: whoever had the old
    # password is logged out everywhere.
    now = datetime.now(UTC)
    await repository.retire(user.id, RESET_LINK, now)
    await repository.retire(user.id, RESET_OTP, now)
    await SessionRepository(session).revoke_all(user.id, "password_reset")
    # Failed logins counted against the old password no longer throttle the owner.
    await throttle.forget_email(session, runtime, user.email)
    audit.record(
        session,
        "password_reset",
        user_id=user.id,
        organization_id=user.organization_id,
        metadata={"via": "link" if data.token else "otp"},
    )


async def change_password(
    session: AsyncSession, runtime: AuthRuntime, principal: Principal, current: str, new: str
) -> None:
    settings = runtime.settings
    user_id = principal.require_user_id()
    state = await users.password_state(session, user_id, history_size=settings.PASSWORD_HISTORY)
    await release_connection(session)
    valid, _ = await runtime.hasher.verify(current, state.password_hash)
    new_hash = (
        await users.hash_new_password(
            runtime.hasher, state, new, history_size=settings.PASSWORD_HISTORY
        )
        if valid
        else None
    )
    await set_tenant_context(
        session, user_id=user_id, organization_id=principal.organization_id, role=principal.role
    )
    if new_hash is None:
        audit.record(session, "password_change_failed", actor=principal)
        raise WrongCurrentPassword(
            details=[ErrorDetail(field="current_password", message="is incorrect")],
        )
    await users.store_password(session, user_id, new_hash)
    # Other devices must log in again; this one stays.
    await SessionRepository(session).revoke_all(
        user_id, "password_changed", keep=principal.session_id
    )
    audit.record(
        session, "password_changed", actor=principal, entity_type="user", entity_id=user_id
    )


async def request_otp(
    session: AsyncSession, runtime: AuthRuntime, principal: Principal, purpose: OtpPurpose
) -> datetime:
    user = await users.get_user(session, principal.require_user_id())
    code = new_otp()
    ttl = timedelta(minutes=runtime.settings.OTP_TTL_MINUTES)
    expires = await _new_token(
        session,
        user,
        OTP_PREFIX + purpose.value,
        keyed_digest(runtime.otp_key, f"{user.id}:{code}"),
        ttl,
    )
    await queue_email(
        session,
        "otp",
        user.email,
        {
            "full_name": user.full_name,
            "otp": code,
            "purpose_label": PURPOSE_LABELS[purpose],
            "ttl_minutes": runtime.settings.OTP_TTL_MINUTES,
        },
        user_id=user.id,
    )
    # Users who chose SMS for security messages (and have a phone) get the code there too.
    by_sms = await notifications.send_text(
        session,
        user.id,
        NotificationCategory.security,
        f"MedHub code for {PURPOSE_LABELS[purpose]}: {code} (valid "
        f"{runtime.settings.OTP_TTL_MINUTES} min). Never share it.",
    )
    audit.record(
        session,
        "otp_requested",
        actor=principal,
        metadata={"purpose": purpose.value, "sms": by_sms},
    )
    return expires


async def verify_otp(
    session: AsyncSession,
    runtime: AuthRuntime,
    principal: Principal,
    purpose: OtpPurpose,
    code: str,
) -> tuple[str, datetime]:
    """Exchange a correct code for a short-lived grant the sensitive endpoint accepts."""
    user = await users.get_user(session, principal.require_user_id())
    await _check_otp(
        session, runtime, user, purpose=OTP_PREFIX + purpose.value, code=code, field="code"
    )
    grant = new_secret(32)
    expires = await _new_token(
        session,
        user,
        GRANT_PREFIX + purpose.value,
        digest(grant),
        timedelta(minutes=runtime.settings.OTP_TTL_MINUTES),
    )
    audit.record(session, "otp_verified", actor=principal, metadata={"purpose": purpose.value})
    return grant, expires


async def check_otp_grant(
    session: AsyncSession, principal: Principal, purpose: OtpPurpose, grant: str | None
) -> None:
    """For endpoints behind an OTP (`X-OTP-Token`): valid, unexpired, this user, this purpose.

    The grant stays valid until it expires, so one verification covers a short
    browsing session of the protected resource.
    """
    user_id: uuid.UUID = principal.require_user_id()
    if grant:
        stored = await OneTimeTokenRepository(session).live_by_hash(
            GRANT_PREFIX + purpose.value, digest(grant)
        )
        if stored is not None and stored.user_id == user_id:
            return
    raise OtpRequired(purpose.value)
