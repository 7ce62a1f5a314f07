"""What the demo's seeding steps share: the report, the people as principals, and
acting as one of them (the tenant context a request of theirs would run in)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import AuthMethod, Principal
from medhub.catalog import service as catalog
from medhub.config import Settings
from medhub.demo.data import PRODUCTS
from medhub.kit.db import Database
from medhub.kit.errors import NotFound
from medhub.kit.security import PasswordHasher
from medhub.kit.tenancy import set_tenant_context
from medhub.models.identity import User

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total) as the seeding advances."""


@dataclass
class Tally:
    created: int = 0
    existing: int = 0


@dataclass(frozen=True)
class Credential:
    email: str
    password: str
    role: str
    where: str = ""  # the organization (or company) the account acts for


@dataclass
class SeedReport:
    supplier_name: str = ""
    supplier_slug: str = ""
    credentials: list[Credential] = field(default_factory=list)
    # In the order they are printed.
    tallies: dict[str, Tally] = field(
        default_factory=lambda: {
            name: Tally()
            for name in (
                "users",
                "addresses",
                "products",
                "certifications",
                "orders",
                "inquiries",
                "care organizations",
                "doctors",
                "patient accounts",
                "charts",
                "appointments",
                "consultations",
                "medical records",
                "pharmacies",
                "stock batches",
                "prescriptions",
                "dispensations",
            )
        }
    )


@dataclass
class Cast:
    """The demo's people as the principals they act as, and the rows they own."""

    supplier_id: uuid.UUID
    principals: dict[str, Principal] = field(default_factory=dict)
    shipping: dict[str, uuid.UUID] = field(default_factory=dict)
    billing: dict[str, uuid.UUID] = field(default_factory=dict)

    def by_user_id(self, user_id: uuid.UUID | None) -> Principal | None:
        return next((p for p in self.principals.values() if p.user_id == user_id), None)


def principal_of(user: User) -> Principal:
    return Principal(
        role=user.role,
        organization_id=user.organization_id,
        method=AuthMethod.bearer,
        user_id=user.id,
        is_verified=user.is_verified,
        is_approved=user.is_approved,
    )


async def act_as(session: AsyncSession, principal: Principal | None) -> None:
    """The tenant context a request of `principal` (None: anonymous) would run in."""
    if principal is None:
        await set_tenant_context(session, user_id=None, organization_id=None, role="")
        return
    await set_tenant_context(
        session,
        user_id=principal.user_id,
        organization_id=principal.organization_id,
        role=principal.role,
    )


@dataclass
class SeedRun:
    """One seeding: where it writes, what it has found so far, whom it tells."""

    database: Database
    settings: Settings
    report: SeedReport
    on_progress: Progress | None
    hasher: PasswordHasher

    def progress(self, stage: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, done, total)


async def product_ids(session: AsyncSession, names: Sequence[str]) -> dict[str, uuid.UUID]:
    """The catalog ids of demo products, by name; NotFound for one that is missing."""
    wanted = set(names)
    codes = {p.name: p.manufacturer_code for p in PRODUCTS if p.name in wanted}
    found = await catalog.products_by_codes(session, list(codes.values()))
    ids: dict[str, uuid.UUID] = {}
    for name, code in codes.items():
        product = found.get(code.lower())
        if product is None:
            raise NotFound(f"The demo product {name!r} ({code}) is missing")
        ids[name] = product.id
    return ids
