"""Tenants: provisioning, suspension and soft deletion (super admins, and the CLI).

Suspending or deleting a tenant needs no sweep over its members: login checks the
organization's status, and every request re-reads it through `auth_context()`.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.kit.errors import AppError, Conflict, ErrorDetail, NotFound, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.kit.security import PasswordHasher
from medhub.models.identity import Organization, OrganizationKind, OrganizationStatus, Role, User
from medhub.organizations.exceptions import SlugTaken, TenantDeleted
from medhub.organizations.repository import OrganizationRepository
from medhub.organizations.schemas import (
    SLUG_PATTERN,
    TenantCreate,
    TenantDetail,
    TenantFilters,
    TenantRead,
    TenantUpdate,
)
from medhub.users import service as users

MAX_SLUG_LENGTH = 64
# A generated slug loses a race to a concurrent insert at most this often before we give up.
SLUG_ATTEMPTS = 5
_SLUG = re.compile(SLUG_PATTERN)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
KINDS = tuple(kind.value for kind in OrganizationKind)


def slugify(name: str) -> str:
    """`"Saint-Luc Hôpital (Nord)"` → `"saint-luc-hopital-nord"`; may be empty."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG_LENGTH].rstrip("-")


def _with_suffix(base: str, n: int) -> str:
    suffix = f"-{n}"
    return base[: MAX_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix


def _first_free(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while _with_suffix(base, n) in taken:
        n += 1
    return _with_suffix(base, n)


def validate_slug(slug: str) -> None:
    if not _SLUG.fullmatch(slug):
        raise ValidationFailed(
            "Invalid slug",
            details=[
                ErrorDetail(
                    field="slug",
                    message="1-64 lowercase letters, digits and '-', not starting or ending "
                    "with '-'",
                )
            ],
        )


async def _insert(
    repository: OrganizationRepository, *, name: str, kind: str, slug: str | None
) -> Organization:
    def build(chosen: str) -> Organization:
        return Organization(
            name=name, slug=chosen, kind=kind, status=OrganizationStatus.active.value, settings={}
        )

    if slug is not None:
        validate_slug(slug)
        organization = build(slug)
        if not await repository.insert_unless_slug_taken(organization):
            raise SlugTaken(slug)
        return organization
    base = slugify(name) or kind
    # Every candidate starts with this stem, whatever suffix it needs.
    stem = base[: MAX_SLUG_LENGTH - 14].rstrip("-")
    for _ in range(SLUG_ATTEMPTS):
        organization = build(_first_free(base, await repository.slugs_starting_with(stem)))
        if await repository.insert_unless_slug_taken(organization):
            return organization
    raise Conflict(
        "Could not find a free slug for this name; choose one",
        details=[ErrorDetail(field="slug", message="choose a slug")],
    )


async def create_organization(
    session: AsyncSession,
    *,
    name: str,
    kind: str,
    slug: str | None = None,
    actor: Principal | None = None,
) -> Organization:
    """A new active organization; its slug is generated from the name unless given."""
    if kind not in KINDS:
        raise ValidationFailed(
            "Invalid organization kind",
            details=[ErrorDetail(field="kind", message=f"must be one of: {', '.join(KINDS)}")],
        )
    organization = await _insert(OrganizationRepository(session), name=name, kind=kind, slug=slug)
    audit.record(
        session,
        "tenant_created",
        actor=actor,
        organization_id=organization.id,
        entity_type="organization",
        entity_id=organization.id,
        metadata={"slug": organization.slug, "kind": kind, "name": name},
    )
    return organization


async def provision_tenant(
    session: AsyncSession, hasher: PasswordHasher, principal: Principal, data: TenantCreate
) -> tuple[Organization, User]:
    """The organization and its first admin, together or not at all."""
    organization = await create_organization(
        session, name=data.name, kind=data.kind.value, slug=data.slug, actor=principal
    )
    try:
        admin = await users.create_user(
            session,
            hasher,
            email=str(data.admin.email),
            password=data.admin.password,
            full_name=data.admin.full_name,
            role=Role.admin.value,
            organization_id=organization.id,
            # The super admin vouches for the address they were given.
            is_verified=True,
            is_approved=True,
        )
    except AppError as exc:
        # The account's fields arrived under `admin`; say so in the error.
        exc.details = [
            ErrorDetail(field=f"admin.{d.field}" if d.field else "admin", message=d.message)
            for d in exc.details
        ]
        raise
    audit.record(
        session,
        "user_created",
        actor=principal,
        organization_id=organization.id,
        entity_type="user",
        entity_id=admin.id,
        metadata={"role": admin.role},
    )
    return organization, admin


async def list_tenants(
    session: AsyncSession, filters: TenantFilters, page: PageParams
) -> tuple[Sequence[Organization], int]:
    repository = OrganizationRepository(session)
    return await repository.paginate(repository.list_statement(filters), page)


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Organization:
    organization = await OrganizationRepository(session).get(tenant_id)
    if organization is None:
        raise NotFound("Organization not found")
    return organization


async def tenant_detail(session: AsyncSession, tenant_id: uuid.UUID) -> TenantDetail:
    organization = await get_tenant(session, tenant_id)
    members = await OrganizationRepository(session).member_count(tenant_id)
    return TenantDetail(
        **TenantRead.model_validate(organization).model_dump(), member_count=members
    )


async def _lock_live(repository: OrganizationRepository, tenant_id: uuid.UUID) -> Organization:
    organization = await repository.get_for_update(tenant_id)
    if organization is None:
        raise NotFound("Organization not found")
    if organization.status == OrganizationStatus.deleted:
        raise TenantDeleted()
    return organization


async def update_tenant(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, data: TenantUpdate
) -> Organization:
    organization = await _lock_live(OrganizationRepository(session), tenant_id)
    changed: dict[str, object] = {}
    if data.name is not None and data.name != organization.name:
        changed["name"] = data.name
    if data.settings is not None and data.settings != organization.settings:
        changed["settings"] = data.settings
    if (
        "platform_fee_percent" in data.model_fields_set
        and data.platform_fee_percent != organization.platform_fee_percent
    ):
        changed["platform_fee_percent"] = data.platform_fee_percent
    old_status = organization.status
    for name, value in changed.items():
        setattr(organization, name, value)
    if data.status is not None:
        organization.status = data.status
    await session.flush()
    # updated_at is computed by the UPDATE; load it now rather than lazily later.
    await session.refresh(organization)

    def record(action: str, metadata: dict[str, object]) -> None:
        audit.record(
            session,
            action,
            actor=principal,
            organization_id=organization.id,
            entity_type="organization",
            entity_id=organization.id,
            metadata=metadata,
        )

    if changed:
        record("tenant_updated", {"fields": sorted(changed)})
    if organization.status != old_status:
        suspended = organization.status == OrganizationStatus.suspended
        record(
            "tenant_suspended" if suspended else "tenant_reactivated",
            {"from": old_status, "to": organization.status},
        )
    return organization


async def delete_tenant(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID
) -> Organization:
    """Soft delete: the row (and its slug) stays, members can no longer log in."""
    repository = OrganizationRepository(session)
    organization = await repository.get_for_update(tenant_id)
    if organization is None:
        raise NotFound("Organization not found")
    if organization.status == OrganizationStatus.deleted:
        raise TenantDeleted("This organization is already deleted")
    old_status = organization.status
    organization.status = OrganizationStatus.deleted.value
    organization.deleted_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(organization)
    audit.record(
        session,
        "tenant_deleted",
        actor=principal,
        organization_id=organization.id,
        entity_type="organization",
        entity_id=organization.id,
        metadata={"from": old_status},
    )
    return organization


async def find_by_slug(session: AsyncSession, slug: str) -> Organization | None:
    return await OrganizationRepository(session).get_by_slug(slug)
