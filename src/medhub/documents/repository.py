from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Select, select

from medhub.kit import rows
from medhub.kit.repository import Repository
from medhub.models.documents import Document


class DocumentRepository(Repository[Document]):
    """No tenant scoping here: documents have no row-level security of their own; the
    service decides through the entity they are attached to (product, order...)."""

    model = Document

    def filtered_statement(
        self,
        *,
        entity_type: str | None = None,
        entity_types: Collection[str] | None = None,
        entity_id: uuid.UUID | None = None,
        document_type: str | None = None,
    ) -> Select[Any]:
        statement = select(Document)
        if entity_type is not None:
            statement = statement.where(Document.entity_type == entity_type)
        if entity_types is not None:
            statement = statement.where(Document.entity_type.in_(entity_types))
        if entity_id is not None:
            statement = statement.where(Document.entity_id == entity_id)
        if document_type is not None:
            statement = statement.where(Document.document_type == document_type)
        return statement.order_by(Document.created_at.desc(), Document.id.desc())

    async def known_keys(self, keys: Collection[str]) -> set[str]:
        """Which of these storage keys a document row points to."""
        found = await self.session.scalars(
            select(Document.storage_key).where(Document.storage_key.in_(list(keys)))
        )
        return set(found)

    async def summary_rows(self, entity_type: str, entity_id: uuid.UUID) -> list[dict[str, Any]]:
        """What a listing shows of an entity's documents, newest first (kit.rows)."""
        return await rows.fetch_all(
            self.session,
            "SELECT id, document_type, file_name, file_size, mime_type, created_at"
            " FROM documents WHERE entity_type = %(type)s AND entity_id = %(id)s"
            " ORDER BY created_at DESC, id DESC",
            {"type": entity_type, "id": entity_id},
        )

    async def for_entity(self, entity_type: str, entity_id: uuid.UUID) -> Sequence[Document]:
        statement = self.filtered_statement(entity_type=entity_type, entity_id=entity_id)
        documents: Sequence[Document] = (await self.session.execute(statement)).scalars().all()
        return documents
