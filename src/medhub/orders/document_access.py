"""Who may see and change an order's documents: the orders domain's rules, handed to
the documents routes by `create_app` (documents sit below orders and do not import it).

An order's documents are seen only by the buyer, the supplier's staff (admin, sales)
and super admins; an order someone may not see is 404, never 403, so its id is not
confirmed. The supplier's staff attach any type but invoices (those come from
payments); the buyer may attach `other` documents (their purchase order, say) and
delete what they added.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.documents.access import EntityAccess
from medhub.kit.errors import AuthenticationFailed, PermissionDenied
from medhub.models.documents import Document, DocumentEntity, DocumentType
from medhub.orders.service import get_order, is_buyer, is_supplier_staff

# What a buyer may attach to their own order.
BUYER_DOCUMENT_TYPES = frozenset({DocumentType.other})


class OrderDocuments:
    async def ensure_visible(
        self, session: AsyncSession, principal: Principal | None, entity_id: uuid.UUID
    ) -> None:
        if principal is None:
            raise AuthenticationFailed("Sign in to see an order's documents")
        await get_order(session, principal, entity_id)

    async def ensure_manageable(
        self,
        session: AsyncSession,
        principal: Principal,
        entity_id: uuid.UUID,
        document_type: DocumentType,
        *,
        existing: Document | None,
    ) -> uuid.UUID:
        order = await get_order(session, principal, entity_id)
        if is_supplier_staff(principal, order):
            return order.supplier_id
        if not is_buyer(principal, order):
            raise PermissionDenied("Only the buyer and the supplier's staff change order documents")
        if existing is not None:
            if existing.uploaded_by != principal.user_id:
                raise PermissionDenied("You can delete only the documents you attached")
        elif document_type not in BUYER_DOCUMENT_TYPES:
            allowed = ", ".join(sorted(t.value for t in BUYER_DOCUMENT_TYPES))
            raise PermissionDenied(
                f"As the buyer you may attach documents of type {allowed}; "
                f"{document_type.value} documents come from the supplier"
            )
        return order.supplier_id


DOCUMENT_ACCESS: dict[DocumentEntity, EntityAccess] = {DocumentEntity.order: OrderDocuments()}
