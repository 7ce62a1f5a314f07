"""Queries for tenants and their members. Scoping lives here: an org admin's statements
only ever name their own organization, and PostgreSQL RLS enforces the same."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, false, func, select
from sqlalchemy.exc import IntegrityError

from medhub.authz.principal import Principal
from medhub.kit.repository import Repository
from medhub.models.identity import Organization, User
from medhub.organizations.schemas import MemberFilters, TenantFilters

SLUG_CONSTRAINT = "uq_organizations_slug"


def _contains(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _violated_constraint(exc: IntegrityError) -> str | None:
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    return name if isinstance(name, str) else None


class OrganizationRepository(Repository[Organization]):
    model = Organization

    SORTS = {
        "created_at": Organization.created_at,
        "name": Organization.name,
        "slug": Organization.slug,
    }

    def list_statement(self, filters: TenantFilters) -> Select[Any]:
        statement = self.base_statement()
        if filters.status:
            statement = statement.where(Organization.status == filters.status)
        else:
            # Soft-deleted tenants are listed only when asked for by status.
            statement = statement.where(Organization.status != "deleted")
        if filters.kind:
            statement = statement.where(Organization.kind == filters.kind)
        if filters.search:
            pattern = _contains(filters.search)
            statement = statement.where(
                Organization.name.ilike(pattern) | Organization.slug.ilike(pattern)
            )
        column = self.SORTS[filters.sort]
        order = column.desc() if filters.descending else column.asc()
        return statement.order_by(order, Organization.id)

    async def get_for_update(self, organization_id: uuid.UUID) -> Organization | None:
        result = await self.session.execute(
            self.base_statement().where(Organization.id == organization_id).with_for_update()
        )
        return result.scalar_one_or_none()

    async def get_by_slug(self, slug: str) -> Organization | None:
        result = await self.session.execute(self.base_statement().where(Organization.slug == slug))
        return result.scalar_one_or_none()

    async def slugs_starting_with(self, prefix: str) -> set[str]:
        result = await self.session.execute(
            select(Organization.slug).where(Organization.slug.startswith(prefix, autoescape=True))
        )
        return {str(slug).lower() for slug in result.scalars()}

    async def insert_unless_slug_taken(self, organization: Organization) -> bool:
        """Insert in a savepoint; False (and nothing written) if the slug is already taken.

        Checking first is not enough: two requests may pick the same free slug at once.
        """
        try:
            async with self.session.begin_nested():
                self.session.add(organization)
                await self.session.flush()
        except IntegrityError as exc:
            if _violated_constraint(exc) != SLUG_CONSTRAINT:
                raise
            return False
        return True

    async def member_count(self, organization_id: uuid.UUID) -> int:
        result = await self.session.execute(
            select(func.count()).select_from(User).where(User.organization_id == organization_id)
        )
        return int(result.scalar_one())


class MemberRepository(Repository[User]):
    """Users seen as members of an organization (reads and admin updates only;
    accounts are created by the users service)."""

    model = User

    SORTS = {
        "created_at": User.created_at,
        "email": User.email,
        "full_name": User.full_name,
        "role": User.role,
    }

    def readable_statement(self, principal: Principal) -> Select[Any]:
        """Super admins see every account; anyone else only their organization's members."""
        statement = self.base_statement()
        if principal.is_super_admin:
            return statement
        if principal.organization_id is None:
            return statement.where(false())
        return statement.where(User.organization_id == principal.organization_id)

    def list_statement(self, principal: Principal, filters: MemberFilters) -> Select[Any]:
        statement = self.readable_statement(principal)
        if filters.organization_id is not None:
            statement = statement.where(User.organization_id == filters.organization_id)
        if filters.role:
            statement = statement.where(User.role == filters.role)
        if filters.is_active is not None:
            statement = statement.where(User.is_active.is_(filters.is_active))
        if filters.is_approved is not None:
            statement = statement.where(User.is_approved.is_(filters.is_approved))
        if filters.search:
            pattern = _contains(filters.search)
            statement = statement.where(User.email.ilike(pattern) | User.full_name.ilike(pattern))
        column = self.SORTS[filters.sort]
        order = column.desc() if filters.descending else column.asc()
        return statement.order_by(order, User.id)

    async def get_readable(
        self, principal: Principal, user_id: uuid.UUID, *, for_update: bool = False
    ) -> User | None:
        statement = self.readable_statement(principal).where(User.id == user_id)
        if for_update:
            statement = statement.with_for_update()
        user: User | None = (await self.session.execute(statement)).scalar_one_or_none()
        return user

    async def active_admin_ids(self, organization_id: uuid.UUID) -> Sequence[uuid.UUID]:
        result = await self.session.execute(
            select(User.id).where(
                User.organization_id == organization_id,
                User.role == "admin",
                User.is_active.is_(True),
            )
        )
        return result.scalars().all()
