from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select, update

from medhub.kit import rows
from medhub.kit.repository import Repository
from medhub.models.identity import Address, PasswordHistory, User

_PROFILE_ROW = (
    "SELECT id, email, full_name, company_name, phone, role, organization_id, is_verified,"
    " is_active, is_approved, created_at, last_login FROM users WHERE id = %(id)s"
)


class UserRepository(Repository[User]):
    model = User

    async def profile_row(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        """What a profile shows, as a row (kit.rows: a hot read, no ORM entity)."""
        return await rows.fetch_one(self.session, _PROFILE_ROW, {"id": user_id})

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()

    async def get_for_update(self, user_id: uuid.UUID) -> User | None:
        result = await self.session.execute(
            select(User).where(User.id == user_id).with_for_update()
        )
        return result.scalar_one_or_none()

    async def recent_password_hashes(self, user_id: uuid.UUID, count: int) -> Sequence[str]:
        result = await self.session.execute(
            select(PasswordHistory.password_hash)
            .where(PasswordHistory.user_id == user_id)
            .order_by(PasswordHistory.created_at.desc())
            .limit(count)
        )
        return result.scalars().all()


class AddressRepository(Repository[Address]):
    model = Address

    def owned_statement(self, user_id: uuid.UUID) -> Select[Any]:
        return (
            select(Address)
            .where(Address.user_id == user_id)
            .order_by(Address.address_type, Address.is_default.desc(), Address.created_at)
        )

    async def get_owned(self, user_id: uuid.UUID, address_id: uuid.UUID) -> Address | None:
        result = await self.session.execute(
            select(Address).where(Address.id == address_id, Address.user_id == user_id)
        )
        return result.scalar_one_or_none()

    async def clear_default(
        self, user_id: uuid.UUID, address_type: str, *, keep: uuid.UUID | None = None
    ) -> None:
        """Unset the current default of this type (but `keep`), so another can take its place."""
        statement = update(Address).where(
            Address.user_id == user_id,
            Address.address_type == address_type,
            Address.is_default.is_(True),
        )
        if keep is not None:
            statement = statement.where(Address.id != keep)
        await self.session.execute(statement.values(is_default=False))
