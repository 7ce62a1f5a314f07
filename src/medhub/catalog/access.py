"""Who the catalog is showing itself to: anonymous, a buyer, a distributor of the
supplier (special prices), or the supplier's own staff (internal figures)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from medhub.authz.permissions import Action, acts_for_supplier, can
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit.errors import ErrorDetail, PermissionDenied, ValidationFailed
from medhub.models.identity import Role


@dataclass(frozen=True)
class Viewer:
    principal: Principal | None
    public_prices: bool
    public_stock: bool

    @classmethod
    def of(cls, principal: Principal | None, settings: Settings) -> Viewer:
        return cls(principal, settings.CATALOG_PUBLIC_PRICES, settings.CATALOG_PUBLIC_STOCK)

    @property
    def sees_prices(self) -> bool:
        return self.principal is not None or self.public_prices

    @property
    def sees_stock(self) -> bool:
        return self.principal is not None or self.public_stock

    def is_staff_of(self, supplier_id: uuid.UUID) -> bool:
        return acts_for_supplier(self.principal, supplier_id)

    def is_distributor_of(self, supplier_id: uuid.UUID) -> bool:
        p = self.principal
        return p is not None and p.role == Role.distributor and p.organization_id == supplier_id


def managed_supplier(principal: Principal, supplier_id: uuid.UUID | None) -> uuid.UUID:
    """The supplier whose catalog `principal` changes: their own, or (super admins) the
    one they name."""
    if not can(principal.role, Action.PRODUCTS_WRITE):
        raise PermissionDenied("Only a supplier's admins manage its catalog")
    if principal.is_super_admin:
        if supplier_id is None:
            raise PermissionDenied("Super admins name the supplier (supplier_id)")
        return supplier_id
    if principal.organization_id is None:
        raise PermissionDenied("You are not a member of a supplier")
    if supplier_id is not None and supplier_id != principal.organization_id:
        # Said the same way whether that supplier exists or not.
        raise ValidationFailed(
            "You add products to your own supplier's catalog only",
            details=[
                ErrorDetail(field="supplier_id", message="must be your organization or left out")
            ],
        )
    return principal.organization_id


def can_manage(principal: Principal, supplier_id: uuid.UUID) -> bool:
    if not can(principal.role, Action.PRODUCTS_WRITE):
        return False
    return principal.is_super_admin or principal.organization_id == supplier_id
