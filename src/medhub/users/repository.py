from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select, update

from medhub.kit.repository import Repository
from medhub.models.identity import Address, PasswordHistory, User


class UserRepository(Repository[User]):
    model = User

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()

    async def email_taken(self, email: str) -> bool:
        result = await self.session.execute(select(User.id).where(User.email == email))
        return result.first() is not None

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

    def in_organization_statement(
        self,
        organization_id: uuid.UUID | None,
        *,
        role: str | None = None,
        is_active: bool | None = None,
        search: str | None = None,
    ) -> Select[Any]:
        statement = select(User)
        if organization_id is not None:
            statement = statement.where(User.organization_id == organization_id)
        if role:
            statement = statement.where(User.role == role)
        if is_active is not None:
            statement = statement.where(User.is_active == is_active)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            statement = statement.where(
                (User.email.ilike(pattern)) | (User.full_name.ilike(pattern))
            )
        return statement.order_by(User.created_at.desc(), User.id)

    async def count_admins(self, organization_id: uuid.UUID) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(User)
            .where(
                User.organization_id == organization_id,
                User.role == "admin",
                User.is_active.is_(True),
            )
        )
        return int(result.scalar_one())


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
