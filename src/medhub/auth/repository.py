from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update

from medhub.authz.session_cache import note_change
from medhub.kit.repository import Repository
from medhub.models.identity import AuthSession, LoginFailure, OneTimeToken, RefreshToken

# In `login_failures`, the subject or the address that stands for "any".
ANY = "*"


class SessionRepository(Repository[AuthSession]):
    model = AuthSession

    async def get_owned(self, user_id: uuid.UUID, session_id: uuid.UUID) -> AuthSession | None:
        result = await self.session.execute(
            select(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == user_id)
        )
        return result.scalar_one_or_none()

    async def active_for_user(self, user_id: uuid.UUID) -> Sequence[AuthSession]:
        result = await self.session.execute(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > func.now(),
            )
            .order_by(AuthSession.last_used_at.desc())
        )
        return result.scalars().all()

    async def revoke(self, session_id: uuid.UUID, reason: str) -> bool:
        result = await self.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=func.now(), revoked_reason=reason)
            .returning(AuthSession.id)
        )
        revoked = list(result.scalars())
        await self._announce(revoked)
        return bool(revoked)

    async def revoke_all(
        self, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None
    ) -> int:
        statement = update(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
        )
        if keep is not None:
            statement = statement.where(AuthSession.id != keep)
        result = await self.session.execute(
            statement.values(revoked_at=func.now(), revoked_reason=reason).returning(AuthSession.id)
        )
        revoked = list(result.scalars())
        await self._announce(revoked)
        return len(revoked)

    async def _announce(self, session_ids: Sequence[uuid.UUID]) -> None:
        """Tell every process (live notification streams) that these sessions ended.
        NOTIFY is delivered at COMMIT, so a rolled-back revocation announces nothing."""
        for session_id in session_ids:
            await self.session.execute(
                text("SELECT pg_notify('medhub_session_revoked', :id)"), {"id": str(session_id)}
            )
            # The cached session checks of this process, at COMMIT (other processes
            # hear of it from the auth_sessions trigger).
            note_change(self.session, "session", session_id)


class RefreshTokenRepository(Repository[RefreshToken]):
    model = RefreshToken

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        result = await self.session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def consume(self, token_id: uuid.UUID) -> bool:
        """Mark used, atomically: of two concurrent refreshes with one token, one wins."""
        result: Any = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
            .values(used_at=func.now())
        )
        return bool(result.rowcount)


class OneTimeTokenRepository(Repository[OneTimeToken]):
    model = OneTimeToken

    async def live_by_hash(self, purpose: str, token_hash: str) -> OneTimeToken | None:
        result = await self.session.execute(
            select(OneTimeToken)
            .where(
                OneTimeToken.purpose == purpose,
                OneTimeToken.token_hash == token_hash,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.expires_at > func.now(),
            )
            .with_for_update()
        )
        return result.scalar_one_or_none()

    async def latest_live_for_user(self, user_id: uuid.UUID, purpose: str) -> OneTimeToken | None:
        result = await self.session.execute(
            select(OneTimeToken)
            .where(
                OneTimeToken.user_id == user_id,
                OneTimeToken.purpose == purpose,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.expires_at > func.now(),
            )
            .order_by(OneTimeToken.created_at.desc())
            .limit(1)
            .with_for_update()
        )
        return result.scalar_one_or_none()

    async def consume(self, token_id: uuid.UUID) -> bool:
        """Spend a live token, atomically: of two concurrent uses, exactly one wins."""
        result: Any = await self.session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.id == token_id,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.expires_at > func.now(),
            )
            .values(used_at=func.now())
        )
        return bool(result.rowcount)

    async def retire(self, user_id: uuid.UUID, purpose: str, now: datetime) -> None:
        """A new code or link replaces the old ones of the same purpose."""
        await self.session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.user_id == user_id,
                OneTimeToken.purpose == purpose,
                OneTimeToken.used_at.is_(None),
            )
            .values(used_at=now)
        )


@dataclass(frozen=True)
class Counted:
    # Seconds the key stays throttled, when it is (by this failure or an earlier one).
    blocked_seconds: float | None
    just_blocked: bool


_BLOCKED_SECONDS = text(
    "SELECT extract(epoch FROM max(blocked_until) - now()) FROM login_failures"
    " WHERE ip = :ip AND subject IN (:subject, :any) AND blocked_until > now()"
)
# A failure while the key is already throttled (one that raced past the check before
# hashing) is not counted again: the throttle neither grows nor restarts.
_COUNT = text(
    "INSERT INTO login_failures AS f (subject, ip, failures, window_started_at, last_seen_at)"
    " VALUES (:subject, :ip, 1, now(), now())"
    " ON CONFLICT (subject, ip) DO UPDATE SET"
    " failures = CASE WHEN f.blocked_until > now() THEN f.failures"
    "   WHEN f.window_started_at <= now() - make_interval(mins => :minutes) THEN 1"
    "   ELSE f.failures + 1 END,"
    " window_started_at = CASE WHEN f.blocked_until > now() THEN f.window_started_at"
    "   WHEN f.window_started_at <= now() - make_interval(mins => :minutes) THEN now()"
    "   ELSE f.window_started_at END,"
    " last_seen_at = now()"
    " RETURNING failures, extract(epoch FROM f.blocked_until - now()) AS blocked_seconds"
)
# The count starts again with the throttle, so it ends with a fresh window.
_BLOCK = text(
    "UPDATE login_failures SET blocked_until = now() + make_interval(mins => :minutes),"
    " failures = 0, window_started_at = now()"
    " WHERE subject = :subject AND ip = :ip"
    " RETURNING extract(epoch FROM blocked_until - now())"
)
_CLAIM_ALERT = text(
    "INSERT INTO login_failures AS f (subject, ip, failures, window_started_at, alerted_at,"
    " last_seen_at) VALUES (:subject, :any, 0, now(), now(), now())"
    " ON CONFLICT (subject, ip) DO UPDATE SET alerted_at = now(), last_seen_at = now()"
    " WHERE f.alerted_at IS NULL OR f.alerted_at <= now() - make_interval(mins => :minutes)"
    " RETURNING 1"
)

_PRUNE = text(
    "DELETE FROM login_failures WHERE last_seen_at < now() - make_interval(mins => :minutes)"
)


class LoginFailureRepository(Repository[LoginFailure]):
    """Counters keyed (email digest, IP), (ANY, IP) and (email digest, ANY); see the model."""

    model = LoginFailure

    async def blocked_seconds(self, subject: str, ip: str) -> float | None:
        """How long this email from this address stays throttled (pair or address)."""
        left = await self.session.scalar(
            _BLOCKED_SECONDS, {"subject": subject, "ip": ip, "any": ANY}
        )
        return float(left) if left is not None else None

    async def count_failure(self, subject: str, ip: str, *, limit: int, minutes: int) -> Counted:
        """One more failure in the key's window; the one that reaches `limit` throttles it."""
        params = {"subject": subject, "ip": ip, "minutes": minutes}
        row = (await self.session.execute(_COUNT, params)).one()
        if row.blocked_seconds is not None and row.blocked_seconds > 0:
            return Counted(blocked_seconds=float(row.blocked_seconds), just_blocked=False)
        if row.failures < limit:
            return Counted(blocked_seconds=None, just_blocked=False)
        blocked = await self.session.scalar(_BLOCK, params)
        return Counted(blocked_seconds=float(blocked), just_blocked=True)

    async def claim_alert(self, subject: str, *, minutes: int) -> bool:
        claimed = await self.session.execute(
            _CLAIM_ALERT, {"subject": subject, "any": ANY, "minutes": minutes}
        )
        return claimed.first() is not None

    async def forget(self, subject: str, ip: str) -> None:
        await self.session.execute(
            delete(LoginFailure).where(LoginFailure.subject == subject, LoginFailure.ip == ip)
        )

    async def forget_subject(self, subject: str) -> None:
        """Every address's count for one email (the alert memory stays)."""
        await self.session.execute(
            delete(LoginFailure).where(LoginFailure.subject == subject, LoginFailure.ip != ANY)
        )

    async def prune(self, *, minutes: int) -> int:
        """Rows untouched for a whole window: their count, throttle and alert are all over
        (each is at most `minutes` long and starts no later than the row's last touch)."""
        result: Any = await self.session.execute(_PRUNE, {"minutes": minutes})
        return int(result.rowcount or 0)
