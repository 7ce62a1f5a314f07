"""Finding a product or certification on behalf of a caller: the one place that decides
whether the caller may see it (else 404) or change it (else 403).

Below the catalog's use cases (`service`, `stock`, `certifications`), which all start
from these, and used by the modules that let other domains refer to catalog entities
(inquiries naming a product, the access checks for documents attached to one).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.catalog.access import Viewer, can_manage
from medhub.catalog.exceptions import CertificationNotFound, ProductNotFound
from medhub.catalog.repository import CertificationRepository, ProductRepository, ProductRow
from medhub.kit.errors import PermissionDenied
from medhub.models.catalog import Product, ProductCertification


async def get_product(
    session: AsyncSession, principal: Principal | None, product_id: uuid.UUID
) -> Product:
    """A product the caller may see: active ones for everyone, inactive ones for the
    supplier's staff. Other domains use this to refer to a product."""
    product = await ProductRepository(session).get(product_id)
    ensure_visible(product, principal)
    assert product is not None
    return product


async def get_product_row(
    session: AsyncSession, principal: Principal | None, product_id: uuid.UUID
) -> ProductRow:
    """`get_product` for pages that only show the product (kit.rows: no ORM entity)."""
    product = await ProductRepository(session).detail_row(product_id)
    ensure_visible(product, principal)
    assert product is not None
    return product


def ensure_visible(product: Product | ProductRow | None, principal: Principal | None) -> None:
    """Active products for everyone, inactive ones for the supplier's staff; else 404."""
    if product is None:
        raise ProductNotFound()
    if not product.is_active:
        viewer = Viewer(principal, public_prices=False, public_stock=False)
        if not viewer.is_staff_of(product.supplier_id):
            raise ProductNotFound()


async def get_managed_product(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, *, for_update: bool = False
) -> Product:
    """A product the caller may change (its supplier's admins, super admins)."""
    repository = ProductRepository(session)
    product = await (
        repository.get_for_update(product_id) if for_update else repository.get(product_id)
    )
    if product is None:
        raise ProductNotFound()
    if not can_manage(principal, product.supplier_id):
        viewer = Viewer(principal, public_prices=False, public_stock=False)
        if not product.is_active and not viewer.is_staff_of(product.supplier_id):
            raise ProductNotFound()
        raise PermissionDenied("Only the supplier's admins manage this product")
    return product


async def get_certification(
    session: AsyncSession, principal: Principal | None, certification_id: uuid.UUID
) -> ProductCertification:
    """A certification of a product the caller may see (for documents attached to it)."""
    certification = await CertificationRepository(session).get(certification_id)
    if certification is None:
        raise CertificationNotFound()
    await get_product(session, principal, certification.product_id)
    return certification


async def get_managed_certification(
    session: AsyncSession, principal: Principal, certification_id: uuid.UUID
) -> ProductCertification:
    certification = await get_certification(session, principal, certification_id)
    await get_managed_product(session, principal, certification.product_id)
    return certification
