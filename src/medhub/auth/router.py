from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from medhub.auth import recovery, service
from medhub.auth.runtime import AuthRuntime, Runtime
from medhub.auth.schemas import (
    ChangePasswordRequest,
    EmailRequest,
    LoginRequest,
    LoginUser,
    OtpGrant,
    OtpRequest,
    OtpSent,
    OtpVerifyRequest,
    RefreshRequest,
    Registered,
    RegisterRequest,
    ResendVerificationRequest,
    ResetPasswordRequest,
    SessionRead,
    TokenPair,
    TokenRequest,
)
from medhub.authz.dependencies import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    CSRF_HEADER,
    REFRESH_COOKIE,
    OptionalPrincipal,
    UserPrincipal,
    per_user_limit,
)
from medhub.kit.db import Database, DbSession, request_database
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.errors import AuthenticationFailed, PermissionDenied
from medhub.kit.ratelimit import RateLimit

router = APIRouter(prefix="/auth", tags=["auth"])

# Login writes its failure count in a transaction of its own, beside the request's.
SideDatabase = Annotated[Database, Depends(request_database)]

REFRESH_COOKIE_PATH = "/api/v1/auth"


def _tokens_response(
    runtime: AuthRuntime, issued: service.IssuedTokens, *, cookies: bool, message: str | None
) -> JSONResponse:
    user = issued.user
    body = TokenPair(
        # In browser mode the tokens live only in HttpOnly cookies, out of reach of scripts.
        access_token=None if cookies else issued.access_token,
        refresh_token=None if cookies else issued.refresh_token,
        token_type="cookie" if cookies else "bearer",
        expires_in=issued.expires_in,
        user=LoginUser(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            organization_id=user.organization_id,
            is_verified=user.is_verified,
        ),
    )
    response = ok(body, message=message)
    if cookies:
        _set_auth_cookies(response, runtime, issued)
    return response


def _set_cookie(
    response: Response,
    runtime: AuthRuntime,
    name: str,
    value: str,
    *,
    max_age: int,
    path: str,
    httponly: bool,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=httponly,
        secure=runtime.settings.cookie_secure,
        samesite="lax",
        domain=runtime.settings.COOKIE_DOMAIN,
    )


def _set_auth_cookies(
    response: Response, runtime: AuthRuntime, issued: service.IssuedTokens
) -> None:
    refresh_age = int(runtime.refresh_ttl.total_seconds())
    _set_cookie(
        response,
        runtime,
        ACCESS_COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        path="/",
        httponly=True,
    )
    _set_cookie(
        response,
        runtime,
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=refresh_age,
        path=REFRESH_COOKIE_PATH,
        httponly=True,
    )
    # Readable by the page's script, which echoes it in X-CSRF-Token.
    _set_cookie(
        response,
        runtime,
        CSRF_COOKIE,
        issued.csrf_token,
        max_age=refresh_age,
        path="/",
        httponly=False,
    )


def _clear_auth_cookies(response: Response, runtime: AuthRuntime) -> None:
    settings = runtime.settings
    for name, path in (
        (ACCESS_COOKIE, "/"),
        (REFRESH_COOKIE, REFRESH_COOKIE_PATH),
        (CSRF_COOKIE, "/"),
    ):
        response.delete_cookie(
            name,
            path=path,
            domain=settings.COOKIE_DOMAIN,
            secure=settings.cookie_secure,
            samesite="lax",
        )


@router.post(
    "/register",
    status_code=201,
    response_model=Envelope[Registered],
    summary="Create an account (patient, customer or doctor)",
    description=(
        "Answers the same whether or not the address already has an account, so it "
        "reveals none: for a taken address nothing is created, `user_id` names no "
        "account, and the address's owner is emailed about the attempt instead."
    ),
    dependencies=[Depends(RateLimit(setting="RATE_LIMIT_REGISTER", scope="register"))],
)
async def register(body: RegisterRequest, session: DbSession, runtime: Runtime) -> JSONResponse:
    registration = await service.register(session, runtime, body)
    return created(
        Registered(user_id=registration.user_id, email=registration.email),
        message="Registration successful. Please verify your email.",
    )


@router.post(
    "/login",
    response_model=Envelope[TokenPair],
    summary="Log in; with use_cookies the tokens are set as HttpOnly cookies",
    description=(
        "A wrong password, an unknown email and a throttled attempt get one answer: "
        "401 `AUTHENTICATION_ERROR`. Failed logins are throttled per (email, client IP) "
        "and per client IP, never per account alone; a throttled answer carries "
        "`Retry-After` (in seconds), and so does the failure that starts the throttle."
    ),
    dependencies=[Depends(RateLimit(setting="RATE_LIMIT_LOGIN", scope="login"))],
)
async def login(
    body: LoginRequest, session: DbSession, runtime: Runtime, database: SideDatabase
) -> JSONResponse:
    issued = await service.login(
        session,
        runtime,
        database,
        email=str(body.email),
        password=body.password,
        cookies=body.use_cookies,
    )
    return _tokens_response(runtime, issued, cookies=body.use_cookies, message="Login successful")


@router.post(
    "/refresh",
    response_model=Envelope[TokenPair],
    summary="Rotate the refresh token (body, or the refresh cookie plus X-CSRF-Token)",
)
async def refresh(
    request: Request,
    session: DbSession,
    runtime: Runtime,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> JSONResponse:
    token = body.refresh_token if body is not None else None
    from_cookie = token is None
    csrf: str | None = None
    if from_cookie:
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise AuthenticationFailed("Send refresh_token in the body or log in with cookies")
        csrf = request.headers.get(CSRF_HEADER, "")
        if not csrf or csrf != request.cookies.get(CSRF_COOKIE):
            raise PermissionDenied("Missing or invalid CSRF token (send the X-CSRF-Token header)")
    assert token is not None
    issued = await service.refresh(session, runtime, token, csrf_token=csrf)
    return _tokens_response(runtime, issued, cookies=from_cookie, message=None)


@router.post("/logout", response_model=Envelope[None], summary="Revoke the current session now")
async def logout(principal: UserPrincipal, session: DbSession, runtime: Runtime) -> JSONResponse:
    await service.logout(session, principal)
    response = ok(None, message="Logged out")
    _clear_auth_cookies(response, runtime)
    return response


@router.get(
    "/sessions",
    response_model=Envelope[dict[str, list[SessionRead]]],
    summary="Your active sessions",
)
async def list_sessions(principal: UserPrincipal, session: DbSession) -> JSONResponse:
    sessions = await service.list_sessions(session, principal)
    return ok(
        {
            "sessions": [
                SessionRead(
                    id=s.id,
                    created_at=s.created_at,
                    last_used_at=s.last_used_at,
                    expires_at=s.expires_at,
                    ip_address=s.ip_address,
                    user_agent=s.user_agent,
                    current=s.id == principal.session_id,
                )
                for s in sessions
            ]
        }
    )


@router.delete(
    "/sessions/{session_id}", response_model=Envelope[None], summary="Revoke one of your sessions"
)
async def revoke_session(
    session_id: uuid.UUID, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    await service.revoke_session(session, principal, session_id)
    return ok(None, message="Session revoked")


@router.delete(
    "/sessions",
    response_model=Envelope[dict[str, int]],
    summary="Log out everywhere (every session, this one included)",
)
async def revoke_all_sessions(
    principal: UserPrincipal, session: DbSession, runtime: Runtime
) -> JSONResponse:
    count = await service.revoke_all_sessions(session, principal)
    response = ok({"revoked": count}, message="Logged out everywhere")
    _clear_auth_cookies(response, runtime)
    return response


@router.post("/verify-email", response_model=Envelope[None], summary="Confirm an email address")
async def verify_email(body: TokenRequest, session: DbSession) -> JSONResponse:
    await recovery.verify_email(session, body.token)
    return ok(None, message="Email verified")


@router.post(
    "/resend-verification",
    response_model=Envelope[None],
    summary="Send the verification link again",
    dependencies=[Depends(RateLimit(setting="RATE_LIMIT_REGISTER", scope="resend"))],
)
async def resend_verification(
    session: DbSession,
    runtime: Runtime,
    principal: OptionalPrincipal,
    body: Annotated[ResendVerificationRequest | None, Body()] = None,
) -> JSONResponse:
    email = str(body.email) if body is not None and body.email else None
    await recovery.resend_verification(session, runtime, principal, email)
    return ok(None, message="If the account exists and is not verified, a new link is on its way")


@router.post(
    "/forgot-password",
    response_model=Envelope[None],
    summary="Email a reset link and code (same answer whether or not the email exists)",
    dependencies=[Depends(RateLimit(setting="RATE_LIMIT_PASSWORD_RESET", scope="forgot"))],
)
async def forgot_password(body: EmailRequest, session: DbSession, runtime: Runtime) -> JSONResponse:
    await recovery.forgot_password(session, runtime, str(body.email))
    return ok(None, message="If an account exists for this email, a reset link has been sent")


@router.post(
    "/reset-password",
    response_model=Envelope[None],
    summary="Set a new password with the emailed token, or with email + code",
    dependencies=[Depends(RateLimit(setting="RATE_LIMIT_PASSWORD_RESET", scope="reset"))],
)
async def reset_password(
    body: ResetPasswordRequest, session: DbSession, runtime: Runtime
) -> JSONResponse:
    await recovery.reset_password(session, runtime, body)
    return ok(None, message="Password reset: log in with the new password")


@router.post("/change-password", response_model=Envelope[None], summary="Change your password")
async def change_password(
    body: ChangePasswordRequest, principal: UserPrincipal, session: DbSession, runtime: Runtime
) -> JSONResponse:
    await recovery.change_password(
        session, runtime, principal, body.current_password, body.new_password
    )
    return ok(None, message="Password changed; other sessions were logged out")


@router.post(
    "/otp/request",
    response_model=Envelope[OtpSent],
    summary="Email a 6-digit code for a sensitive action",
    dependencies=[Depends(per_user_limit("RATE_LIMIT_OTP", "otp"))],
)
async def request_otp(
    body: OtpRequest, principal: UserPrincipal, session: DbSession, runtime: Runtime
) -> JSONResponse:
    expires = await recovery.request_otp(session, runtime, principal, body.purpose)
    return ok(OtpSent(purpose=body.purpose.value, expires_at=expires), message="Code sent")


@router.post(
    "/otp/verify",
    response_model=Envelope[OtpGrant],
    summary="Exchange the code for an otp_token (send it as X-OTP-Token)",
)
async def verify_otp(
    body: OtpVerifyRequest, principal: UserPrincipal, session: DbSession, runtime: Runtime
) -> JSONResponse:
    grant, expires = await recovery.verify_otp(session, runtime, principal, body.purpose, body.code)
    return ok(OtpGrant(otp_token=grant, purpose=body.purpose.value, expires_at=expires))
