"""Product certifications (FDA, WHO-GMP, ISO, EMA): kept by the supplier's admins,
shown with the product, watched for expiry by a daily task."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.catalog.exceptions import CertificationNotFound
from medhub.catalog.lookup import get_managed_product, get_product
from medhub.catalog.repository import CertificationRepository
from medhub.catalog.schemas import CertificationCreate, CertificationRead, CertificationUpdate
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.models.catalog import ProductCertification


def certification_view(
    certification: ProductCertification | Mapping[str, Any],
) -> CertificationRead:
    """From the entity or from its row (kit.rows)."""
    read = CertificationRead.model_validate(certification)
    read.is_expired = read.expiry_date < datetime.now(UTC).date()
    return read


async def list_certifications(
    session: AsyncSession, principal: Principal | None, product_id: uuid.UUID
) -> list[CertificationRead]:
    product = await get_product(session, principal, product_id)
    items = await CertificationRepository(session).for_product(product.id)
    return [certification_view(c) for c in items]


async def add_certification(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, data: CertificationCreate
) -> CertificationRead:
    product = await get_managed_product(session, principal, product_id)
    certification = await CertificationRepository(session).add(
        ProductCertification(
            product_id=product.id,
            certification_type=data.type.value,
            certificate_number=data.certificate_number,
            issue_date=data.issue_date,
            expiry_date=data.expiry_date,
            certificate_url=data.certificate_url,
        )
    )
    audit.record(
        session,
        "certification_added",
        actor=principal,
        entity_type="product",
        entity_id=product.id,
        organization_id=product.supplier_id,
        metadata={"certification_id": str(certification.id), "type": data.type.value},
    )
    return certification_view(certification)


async def update_certification(
    session: AsyncSession,
    principal: Principal,
    product_id: uuid.UUID,
    certification_id: uuid.UUID,
    data: CertificationUpdate,
) -> CertificationRead:
    product = await get_managed_product(session, principal, product_id)
    certification = await CertificationRepository(session).get_in_product(
        product.id, certification_id, for_update=True
    )
    if certification is None:
        raise CertificationNotFound()
    changes = data.model_dump(exclude_unset=True)
    if "type" in changes:
        changes["certification_type"] = changes.pop("type").value
    issue = changes.get("issue_date", certification.issue_date)
    expiry = changes.get("expiry_date", certification.expiry_date)
    if issue >= expiry:
        raise ValidationFailed(
            "A certificate expires after it is issued",
            details=[ErrorDetail(field="expiry_date", message="must be after issue_date")],
        )
    if "expiry_date" in changes and changes["expiry_date"] != certification.expiry_date:
        # A renewal: the expiry notices start again for the new date.
        certification.expiry_notice_days = None
    for key, value in changes.items():
        setattr(certification, key, value)
    await session.flush()
    await session.refresh(certification)
    audit.record(
        session,
        "certification_updated",
        actor=principal,
        entity_type="product",
        entity_id=product.id,
        organization_id=product.supplier_id,
        metadata={"certification_id": str(certification.id), "changes": sorted(changes)},
    )
    return certification_view(certification)


async def delete_certification(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, certification_id: uuid.UUID
) -> None:
    product = await get_managed_product(session, principal, product_id)
    repository = CertificationRepository(session)
    certification = await repository.get_in_product(product.id, certification_id, for_update=True)
    if certification is None:
        raise CertificationNotFound()
    await repository.delete(certification)
    audit.record(
        session,
        "certification_deleted",
        actor=principal,
        entity_type="product",
        entity_id=product.id,
        organization_id=product.supplier_id,
        metadata={
            "certification_id": str(certification_id),
            "type": certification.certification_type,
        },
    )


def notice_due(days_left: int, notice_days: Sequence[int], already: int | None) -> int | None:
    """The notice to send now, if any: the smallest threshold `days_left` has reached
    that is smaller than the last one sent (one notice per threshold, none twice)."""
    reached = [d for d in notice_days if days_left <= d]
    if not reached:
        return None
    due = min(reached)
    if already is not None and already <= due:
        return None
    return due
