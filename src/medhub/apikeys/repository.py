from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select

from medhub.kit.repository import Repository
from medhub.models.identity import ApiKey, Organization


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey

    def in_organization_statement(
        self, organization_id: uuid.UUID, *, include_revoked: bool
    ) -> Select[Any]:
        statement = select(ApiKey).where(ApiKey.organization_id == organization_id)
        if not include_revoked:
            statement = statement.where(ApiKey.revoked_at.is_(None))
        return statement.order_by(ApiKey.created_at.desc(), ApiKey.id.desc())

    async def get_in_organization(
        self, organization_id: uuid.UUID, key_id: uuid.UUID, *, for_update: bool = False
    ) -> ApiKey | None:
        statement = select(ApiKey).where(
            ApiKey.id == key_id, ApiKey.organization_id == organization_id
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def organization_kind(self, organization_id: uuid.UUID) -> str | None:
        result = await self.session.execute(
            select(Organization.kind).where(Organization.id == organization_id)
        )
        return result.scalar_one_or_none()
