"""Who may see and change the documents of products and certifications: the catalog's
rules, handed to the documents routes by `create_app` (documents sit below the
catalog and do not import it).

They are public for whoever may see the product (anonymous visitors see active
products), and added or removed by staff who may manage the product
(PRODUCTS_WRITE in its supplier) or a super admin.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.catalog.lookup import (
    get_certification,
    get_managed_certification,
    get_managed_product,
    get_product,
)
from medhub.documents.access import EntityAccess
from medhub.models.documents import Document, DocumentEntity, DocumentType


class ProductDocuments:
    async def ensure_visible(
        self, session: AsyncSession, principal: Principal | None, entity_id: uuid.UUID
    ) -> None:
        await get_product(session, principal, entity_id)

    async def ensure_manageable(
        self,
        session: AsyncSession,
        principal: Principal,
        entity_id: uuid.UUID,
        document_type: DocumentType,
        *,
        existing: Document | None,
    ) -> uuid.UUID:
        product = await get_managed_product(session, principal, entity_id)
        return product.supplier_id


class CertificationDocuments:
    async def ensure_visible(
        self, session: AsyncSession, principal: Principal | None, entity_id: uuid.UUID
    ) -> None:
        await get_certification(session, principal, entity_id)

    async def ensure_manageable(
        self,
        session: AsyncSession,
        principal: Principal,
        entity_id: uuid.UUID,
        document_type: DocumentType,
        *,
        existing: Document | None,
    ) -> uuid.UUID:
        certification = await get_managed_certification(session, principal, entity_id)
        product = await get_product(session, principal, certification.product_id)
        return product.supplier_id


DOCUMENT_ACCESS: dict[DocumentEntity, EntityAccess] = {
    DocumentEntity.product: ProductDocuments(),
    DocumentEntity.certification: CertificationDocuments(),
}
