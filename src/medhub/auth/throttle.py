"""Failed logins throttled per (email, client IP) and per client IP (OWASP ASVS 2.2.1).

Never per account alone: failures from one address must not lock the owner out
from another, so a throttled (email, IP) pair leaves every other address free.
Counters live in PostgreSQL (`login_failures`), shared by every API process.

The email is keyed by a keyed digest of its normalised form, whether or not an
account has it: unknown emails are counted, throttled and answered exactly like
known ones, and the table holds no addresses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.auth.repository import ANY, LoginFailureRepository
from medhub.auth.runtime import AuthRuntime
from medhub.config import Settings
from medhub.kit.security import keyed_digest

# Longer than any IPv6 text form; a forwarded "address" that is not one is cut to fit.
MAX_IP_LENGTH = 64


@dataclass(frozen=True)
class LoginKey:
    """Who is trying: the email's digest and the client address."""

    subject: str
    ip: str


def email_subject(runtime: AuthRuntime, email: str) -> str:
    return keyed_digest(runtime.otp_key, "login:" + email.strip().lower())


def login_key(runtime: AuthRuntime, email: str, ip: str | None) -> LoginKey:
    address = (ip or "unknown")[:MAX_IP_LENGTH]
    if address == ANY:  # never a real address; it must not name every address
        address = "unknown"
    return LoginKey(subject=email_subject(runtime, email), ip=address)


def retry_after(seconds: float) -> int:
    """Whole minutes, rounded up: a client learns when to come back, not a timestamp
    precise enough to tell apart two throttles that started a moment apart."""
    return 60 * max(1, math.ceil(seconds / 60))


async def wait_seconds(session: AsyncSession, key: LoginKey) -> int | None:
    """`Retry-After` for this email from this address, or None when it may try now."""
    left = await LoginFailureRepository(session).blocked_seconds(key.subject, key.ip)
    return retry_after(left) if left is not None else None


@dataclass(frozen=True)
class Failure:
    # Set when this attempt leaves the client throttled: the Retry-After it gets.
    retry_after: int | None
    # This failure was the one that throttled the (email, IP) pair.
    pair_throttled: bool
    # This failure was the one that throttled the whole address.
    ip_throttled: bool


async def count_failure(session: AsyncSession, settings: Settings, key: LoginKey) -> Failure:
    """Count one failure for the pair and for the address (in that order, always, so
    concurrent logins lock the rows in one order). The rows stay locked until the
    caller's transaction ends, which serialises the counting per pair and per address."""
    repository = LoginFailureRepository(session)
    minutes = settings.LOCKOUT_MINUTES
    pair = await repository.count_failure(
        key.subject, key.ip, limit=settings.LOGIN_MAX_FAILURES, minutes=minutes
    )
    address = await repository.count_failure(
        ANY, key.ip, limit=settings.LOGIN_MAX_FAILURES_PER_IP, minutes=minutes
    )
    waits = [left for left in (pair.blocked_seconds, address.blocked_seconds) if left is not None]
    return Failure(
        retry_after=retry_after(max(waits)) if waits else None,
        pair_throttled=pair.just_blocked,
        ip_throttled=address.just_blocked,
    )


async def claim_alert(session: AsyncSession, settings: Settings, key: LoginKey) -> bool:
    """Whether to alert the owner of this email now: at most once per LOCKOUT_MINUTES,
    however many addresses get throttled (of concurrent claims, one wins)."""
    return await LoginFailureRepository(session).claim_alert(
        key.subject, minutes=settings.LOCKOUT_MINUTES
    )


async def succeeded(session: AsyncSession, key: LoginKey) -> None:
    """The right password from this address: its failures for this email are forgiven.
    The address's own counter stays, or one account of an attacker's would reset it."""
    await LoginFailureRepository(session).forget(key.subject, key.ip)


async def forget_email(session: AsyncSession, runtime: AuthRuntime, email: str) -> None:
    """After a password reset the old failures guessed at a password that is gone."""
    await LoginFailureRepository(session).forget_subject(email_subject(runtime, email))


async def prune(session: AsyncSession, settings: Settings) -> int:
    return await LoginFailureRepository(session).prune(minutes=settings.LOCKOUT_MINUTES)
