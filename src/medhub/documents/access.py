"""Who may see and change the documents of an entity: decided by the domain that owns
the entity, not by documents.

Documents sit below catalog and orders (the product detail lists a product's files,
payments attach invoices), so they cannot ask those domains directly. Each owning
domain implements `EntityAccess` for its kinds of entity, and `create_app` hands the
rules of every kind to the documents routes as one `DocumentAccess`.

The rules of entities whose documents hold personal or medical data (clinical
uploads) also implement `SensitiveDocuments`: every read through the documents routes
is then audited by the owning domain, and super admins' listing across entities
leaves them out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.models.documents import Document, DocumentEntity, DocumentType


class EntityAccess(Protocol):
    """The rules for the documents of one kind of entity (products, orders...)."""

    async def ensure_visible(
        self, session: AsyncSession, principal: Principal | None, entity_id: uuid.UUID
    ) -> None:
        """Return if the caller may see the entity (and so its documents); raise
        NotFound otherwise, or AuthenticationFailed where signing in could help."""
        ...

    async def ensure_manageable(
        self,
        session: AsyncSession,
        principal: Principal,
        entity_id: uuid.UUID,
        document_type: DocumentType,
        *,
        existing: Document | None,
    ) -> uuid.UUID:
        """Raise unless the caller may attach a document of this type to the entity
        (or, with `existing`, delete that one). Returns the organization the change
        belongs to, for the audit trail."""
        ...


# How a document was read through the documents routes.
ReadKind = Literal["list", "metadata", "download"]


@runtime_checkable
class SensitiveDocuments(Protocol):
    """Rules of an entity whose documents are personal or medical data."""

    async def audit_read(
        self,
        session: AsyncSession,
        principal: Principal | None,
        entity_id: uuid.UUID,
        document: Document | None,
        how: ReadKind,
    ) -> None:
        """Audit a read the caller was allowed (`ensure_visible` passed): of one
        document, or of the entity's list (`document` None)."""
        ...


@dataclass(frozen=True)
class DocumentAccess:
    """The rules of every kind of entity a document can be attached to."""

    rules: Mapping[DocumentEntity, EntityAccess]

    def __post_init__(self) -> None:
        # Checked when the app is assembled: a kind nobody answers for would
        # otherwise fail only when its first document is requested.
        missing = sorted(e.value for e in DocumentEntity if e not in self.rules)
        if missing:
            raise ValueError(f"no document access rules for: {', '.join(missing)}")

    def of(self, entity: DocumentEntity) -> EntityAccess:
        return self.rules[entity]

    def is_sensitive(self, entity: DocumentEntity) -> bool:
        return isinstance(self.rules[entity], SensitiveDocuments)

    def open_entities(self) -> list[DocumentEntity]:
        """The kinds whose documents may be listed across entities (by super admins)."""
        return [entity for entity in DocumentEntity if not self.is_sensitive(entity)]

    async def audit_read(
        self,
        session: AsyncSession,
        principal: Principal | None,
        entity: DocumentEntity,
        entity_id: uuid.UUID,
        *,
        document: Document | None,
        how: ReadKind,
    ) -> None:
        """Let the owning domain audit a read, where its documents are sensitive."""
        rule = self.rules[entity]
        if isinstance(rule, SensitiveDocuments):
            await rule.audit_read(session, principal, entity_id, document, how)
