from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update

from medhub.kit.repository import Repository
from medhub.models.identity import AuthSession, OneTimeToken, RefreshToken


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
