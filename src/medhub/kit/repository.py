"""The repository base: queries and scoping live here; it adds and flushes, never commits.

A domain repository subclasses `Repository[Model]`, sets `model`, and adds its
own query builders. The transaction belongs to the unit of work (one commit per
request, or per job), never to a repository.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.kit.pagination import PageParams
from medhub.models.base import Base

ModelT = TypeVar("ModelT", bound=Base)


class Repository(Generic[ModelT]):
    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def base_statement(self) -> Select[ModelT]:
        """Every read starts here; subclasses narrow it to what the caller may see."""
        return select(self.model)

    async def get(self, id: uuid.UUID) -> ModelT | None:
        statement = self.base_statement().where(self.model.id == id)
        result = await self.session.execute(statement)
        return result.scalar_one_or_none()

    async def add(self, instance: ModelT) -> ModelT:
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def add_all(self, instances: Sequence[ModelT]) -> Sequence[ModelT]:
        self.session.add_all(instances)
        await self.session.flush()
        return instances

    async def delete(self, instance: ModelT) -> None:
        await self.session.delete(instance)
        await self.session.flush()

    async def count(self, statement: Select[Any]) -> int:
        counted = select(func.count()).select_from(statement.order_by(None).subquery())
        return int((await self.session.execute(counted)).scalar_one())

    async def paginate(
        self, statement: Select[ModelT], params: PageParams
    ) -> tuple[Sequence[ModelT], int]:
        """One page of `statement` (already ordered by the caller) and the total count."""
        total = await self.count(statement)
        if total == 0:
            return [], 0
        page = statement.limit(params.limit).offset(params.offset)
        items = (await self.session.execute(page)).scalars().all()
        return items, total
