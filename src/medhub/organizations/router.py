"""Tenant provisioning (super admins) and member management (org admins)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from medhub.auth.runtime import Runtime
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.identity import OrganizationKind, OrganizationStatus, Role
from medhub.organizations import members, tenants
from medhub.organizations.auth import TenantsManage, UsersManage
from medhub.organizations.schemas import (
    MemberCreate,
    MemberFilters,
    MemberUpdate,
    TenantCreate,
    TenantCreated,
    TenantDetail,
    TenantFilters,
    TenantRead,
    TenantUpdate,
)
from medhub.users.schemas import UserRead

router = APIRouter(prefix="/admin", tags=["admin"])

Search = Annotated[
    str | None, Query(min_length=1, max_length=100, description="Substring, case-insensitive")
]
Order = Annotated[Literal["asc", "desc"], Query(description="Sort direction")]


@router.get(
    "/tenants",
    response_model=page_envelope("tenants", TenantRead),
    summary="List organizations (super admin); deleted ones only with status=deleted",
)
async def list_tenants(
    *,
    principal: TenantsManage,
    session: DbSession,
    paging: Paging,
    status: OrganizationStatus | None = None,
    kind: OrganizationKind | None = None,
    search: Search = None,
    sort: Literal["created_at", "name", "slug"] = "created_at",
    order: Order = "desc",
) -> JSONResponse:
    filters = TenantFilters(
        status=status.value if status else None,
        kind=kind.value if kind else None,
        search=search,
        sort=sort,
        descending=order == "desc",
    )
    items, total = await tenants.list_tenants(session, filters, paging)
    return ok(page_of("tenants", [TenantRead.model_validate(t) for t in items], paging, total))


@router.post(
    "/tenants",
    status_code=201,
    response_model=Envelope[TenantCreated],
    summary="Provision an organization and its first admin (super admin)",
)
async def create_tenant(
    body: TenantCreate, principal: TenantsManage, session: DbSession, runtime: Runtime
) -> JSONResponse:
    organization, admin = await tenants.provision_tenant(session, runtime.hasher, principal, body)
    data = TenantCreated(
        **TenantRead.model_validate(organization).model_dump(), admin_user_id=admin.id
    )
    return created(data, message="Organization created")


@router.get(
    "/tenants/{tenant_id}",
    response_model=Envelope[TenantDetail],
    summary="One organization with its member count (super admin)",
)
async def get_tenant(
    tenant_id: uuid.UUID, principal: TenantsManage, session: DbSession
) -> JSONResponse:
    return ok(await tenants.tenant_detail(session, tenant_id))


@router.put(
    "/tenants/{tenant_id}",
    response_model=Envelope[TenantRead],
    summary="Rename, suspend or reactivate an organization, or replace its settings",
)
async def update_tenant(
    tenant_id: uuid.UUID, body: TenantUpdate, principal: TenantsManage, session: DbSession
) -> JSONResponse:
    organization = await tenants.update_tenant(session, principal, tenant_id, body)
    return ok(TenantRead.model_validate(organization), message="Organization updated")


@router.delete(
    "/tenants/{tenant_id}",
    response_model=Envelope[TenantRead],
    summary="Soft-delete an organization: its members can no longer log in",
)
async def delete_tenant(
    tenant_id: uuid.UUID, principal: TenantsManage, session: DbSession
) -> JSONResponse:
    organization = await tenants.delete_tenant(session, principal, tenant_id)
    return ok(TenantRead.model_validate(organization), message="Organization deleted")


@router.get(
    "/users",
    response_model=page_envelope("users", UserRead),
    summary="List your organization's members (super admins: every account)",
)
async def list_users(
    *,
    principal: UsersManage,
    session: DbSession,
    paging: Paging,
    role: Role | None = None,
    is_active: bool | None = None,
    is_approved: bool | None = None,
    organization_id: Annotated[
        uuid.UUID | None, Query(description="Super admins: one organization's members")
    ] = None,
    search: Search = None,
    sort: Literal["created_at", "email", "full_name", "role"] = "created_at",
    order: Order = "desc",
) -> JSONResponse:
    filters = MemberFilters(
        organization_id=organization_id,
        role=role.value if role else None,
        is_active=is_active,
        is_approved=is_approved,
        search=search,
        sort=sort,
        descending=order == "desc",
    )
    items, total = await members.list_members(session, principal, filters, paging)
    return ok(page_of("users", [UserRead.model_validate(u) for u in items], paging, total))


@router.post(
    "/users",
    status_code=201,
    response_model=Envelope[UserRead],
    summary="Create a member of your organization (verified and approved)",
)
async def create_user(
    body: MemberCreate, principal: UsersManage, session: DbSession, runtime: Runtime
) -> JSONResponse:
    user = await members.create_member(session, runtime.hasher, principal, body)
    return created(UserRead.model_validate(user), message="User created")


@router.get("/users/{user_id}", response_model=Envelope[UserRead], summary="One member")
async def get_user(user_id: uuid.UUID, principal: UsersManage, session: DbSession) -> JSONResponse:
    return ok(UserRead.model_validate(await members.get_member(session, principal, user_id)))


@router.put(
    "/users/{user_id}",
    response_model=Envelope[UserRead],
    summary="Change a member's role, (de)activate them, approve a doctor, edit name or phone",
)
async def update_user(
    user_id: uuid.UUID, body: MemberUpdate, principal: UsersManage, session: DbSession
) -> JSONResponse:
    user = await members.update_member(session, principal, user_id, body)
    return ok(UserRead.model_validate(user), message="User updated")
