"""Members: org admins create and manage the accounts of their own organization;
super admins do the same for any organization and approve independent doctors, who
get a one-person clinic of their own at approval."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import EmailStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.auth import service as auth
from medhub.authz.principal import Principal
from medhub.doctors import service as doctors
from medhub.kit.errors import ErrorDetail, NotFound, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.kit.security import PasswordHasher
from medhub.models.identity import (
    Organization,
    OrganizationKind,
    OrganizationStatus,
    Role,
    User,
)
from medhub.organizations import tenants
from medhub.organizations.exceptions import (
    LastAdmin,
    OrganizationRequired,
    RoleNotAllowed,
    SelfLockout,
    TenantDeleted,
)
from medhub.organizations.repository import (
    MemberRepository,
    OrganizationRepository,
)
from medhub.organizations.schemas import MemberCreate, MemberFilters, MemberUpdate
from medhub.organizations.service import allowed_roles
from medhub.users import service as users

CLINIC_NAME_LENGTH = 255  # organizations.name


def _check_role(role: str, organization: Organization | None) -> None:
    allowed = allowed_roles(organization.kind if organization else None)
    if role not in allowed:
        where = f"in a {organization.kind} organization" if organization else "without one"
        raise RoleNotAllowed(role, [r.value for r in allowed], where)


async def _target_organization(
    session: AsyncSession, principal: Principal, requested: uuid.UUID | None
) -> Organization:
    """Super admins name the organization; an org admin's members join the admin's own."""
    if principal.is_super_admin:
        if requested is None:
            raise OrganizationRequired()
        organization_id = requested
    else:
        if requested is not None and requested != principal.organization_id:
            raise OrganizationRequired("Members are created in your own organization")
        if principal.organization_id is None:
            raise OrganizationRequired("Your account belongs to no organization")
        organization_id = principal.organization_id
    organization = await OrganizationRepository(session).get(organization_id)
    if organization is None:
        raise OrganizationRequired("No such organization")
    if organization.status == OrganizationStatus.deleted:
        raise TenantDeleted()
    return organization


async def create_member(
    session: AsyncSession, hasher: PasswordHasher, principal: Principal, data: MemberCreate
) -> User:
    organization = await _target_organization(session, principal, data.organization_id)
    _check_role(data.role, organization)
    user = await users.create_user(
        session,
        hasher,
        email=str(data.email),
        password=data.password,
        full_name=data.full_name,
        role=data.role.value,
        organization_id=organization.id,
        phone=data.phone,
        # The admin vouches for the address and the person.
        is_verified=True,
        is_approved=True,
    )
    audit.record(
        session,
        "user_created",
        actor=principal,
        organization_id=organization.id,
        entity_type="user",
        entity_id=user.id,
        metadata={"role": user.role},
    )
    return user


async def list_members(
    session: AsyncSession, principal: Principal, filters: MemberFilters, page: PageParams
) -> tuple[Sequence[User], int]:
    repository = MemberRepository(session)
    return await repository.paginate(repository.list_statement(principal, filters), page)


async def get_member(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = await MemberRepository(session).get_readable(principal, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def _ensure_another_admin_remains(session: AsyncSession, user: User) -> None:
    assert user.organization_id is not None  # admins always belong to an organization
    # The organization row lock serialises concurrent demotions: of two admins
    # removing each other at once, the second sees the first's change and is refused.
    await OrganizationRepository(session).get_for_update(user.organization_id)
    admins = await MemberRepository(session).active_admin_ids(user.organization_id)
    if not set(admins) - {user.id}:
        raise LastAdmin()


async def update_member(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, data: MemberUpdate
) -> User:
    user = await MemberRepository(session).get_readable(principal, user_id, for_update=True)
    if user is None:
        raise NotFound("User not found")
    values: dict[str, Any] = data.model_dump(exclude_unset=True)
    new_role = str(values.get("role", user.role))
    new_active = bool(values.get("is_active", user.is_active))
    role_changes = new_role != user.role
    deactivating = user.is_active and not new_active

    if role_changes:
        if user.role == Role.super_admin:
            raise ValidationFailed(
                "Super admin accounts are managed with the `medhub users` command",
                details=[ErrorDetail(field="role", message="cannot be changed here")],
            )
        organization = None
        if user.organization_id is not None:
            organization = await OrganizationRepository(session).get(user.organization_id)
        _check_role(new_role, organization)
    if user.id == principal.user_id and (role_changes or deactivating):
        raise SelfLockout()
    approval_changes = values.get("is_approved", user.is_approved) != user.is_approved
    if approval_changes and new_role != Role.doctor:
        raise ValidationFailed(
            "Only doctors wait for approval",
            details=[ErrorDetail(field="is_approved", message="applies to doctors only")],
        )
    if user.role == Role.admin and user.is_active and (new_role != Role.admin or not new_active):
        await _ensure_another_admin_remains(session, user)

    old = {name: getattr(user, name) for name in values}
    for name, value in values.items():
        setattr(user, name, value.value if isinstance(value, Role) else value)
    await session.flush()
    if deactivating:
        # Their refresh tokens die now, so a later reactivation does not revive old logins.
        await auth.revoke_all_sessions_of(session, user.id, "deactivated")
    _audit_changes(session, principal, user, old)
    if ("is_approved" in values or role_changes) and _is_independent_doctor(user):
        await _open_own_clinic(session, principal, user)
    return user


def _is_independent_doctor(user: User) -> bool:
    """An approved doctor of no hospital or clinic: one who signed up alone."""
    return user.role == Role.doctor and user.is_approved and user.organization_id is None


def _clinic_name(full_name: str) -> str:
    """`Dr. Sam Solo` for Sam Solo, and for a name already titled so."""
    name = full_name.strip()
    titled = name if name.lower().startswith(("dr.", "dr ")) else f"Dr. {name}"
    return titled[:CLINIC_NAME_LENGTH]


async def _open_own_clinic(session: AsyncSession, principal: Principal, user: User) -> None:
    """An independent doctor, once approved, practises in a one-person clinic of their
    own (DESIGN.md, "Clinical model"): their patients' charts, appointments and
    prescriptions need a tenant. In the approval's transaction, so an approval never
    commits without its clinic; the doctor's row is locked (`update_member`), so
    approving again, even concurrently, finds the clinic and makes no second one."""
    clinic = await tenants.create_organization(
        session,
        name=_clinic_name(user.full_name),
        kind=OrganizationKind.clinic.value,
        actor=principal,
    )
    user.organization_id = clinic.id
    await session.flush()
    moved_profile = await doctors.join_organization(session, user.id, clinic.id)
    audit.record(
        session,
        "doctor_clinic_created",
        actor=principal,
        organization_id=clinic.id,
        entity_type="user",
        entity_id=user.id,
        metadata={"organization_id": str(clinic.id), "slug": clinic.slug, "profile": moved_profile},
    )


def _audit_changes(
    session: AsyncSession, principal: Principal, user: User, old: dict[str, Any]
) -> None:
    def record(action: str, metadata: dict[str, Any] | None = None) -> None:
        audit.record(
            session,
            action,
            actor=principal,
            organization_id=user.organization_id,
            entity_type="user",
            entity_id=user.id,
            metadata=metadata,
        )

    changed = {name for name, value in old.items() if getattr(user, name) != value}
    if "role" in changed:
        record("role_changed", {"from": old["role"], "to": user.role})
    if "is_active" in changed:
        record("user_reactivated" if user.is_active else "user_deactivated")
    approved = "is_approved" in changed and user.is_approved
    if approved:
        record("doctor_approved")
    # Names, phones, and withdrawn approvals.
    other = changed - {"role", "is_active"} - ({"is_approved"} if approved else set())
    if other:
        record("user_updated", {"fields": sorted(other)})


OPERATOR_ROLES_WITHOUT_ORGANIZATION: tuple[Role, ...] = (Role.super_admin, *allowed_roles(None))
_EMAIL = TypeAdapter(EmailStr)


async def create_account(
    session: AsyncSession,
    hasher: PasswordHasher,
    *,
    email: str,
    password: str,
    full_name: str,
    role: str,
    organization_slug: str | None = None,
) -> User:
    """An operator's account creation (the `medhub users create` command): any role,
    super admins included, verified and approved. Runs in the system context."""
    try:
        email = _EMAIL.validate_python(email)
    except PydanticValidationError as exc:
        raise ValidationFailed(
            f"Invalid email address {email!r}",
            details=[ErrorDetail(field="email", message="not a valid email address")],
        ) from exc
    if role not in {r.value for r in Role}:
        roles = ", ".join(r.value for r in Role)
        raise ValidationFailed(
            f"Unknown role {role!r}",
            details=[ErrorDetail(field="role", message=f"must be one of: {roles}")],
        )
    organization: Organization | None = None
    if organization_slug is not None:
        organization = await OrganizationRepository(session).get_by_slug(organization_slug)
        if organization is None:
            raise NotFound(f"No organization has the slug {organization_slug!r}")
        if organization.status == OrganizationStatus.deleted:
            raise TenantDeleted(f"The organization {organization_slug!r} has been deleted")
        _check_role(role, organization)
    elif role not in OPERATOR_ROLES_WITHOUT_ORGANIZATION:
        raise OrganizationRequired(f"A {role} belongs to an organization: pass --org SLUG")
    user = await users.create_user(
        session,
        hasher,
        email=email,
        password=password,
        full_name=full_name,
        role=role,
        organization_id=organization.id if organization else None,
        is_verified=True,
        is_approved=True,
    )
    audit.record(
        session,
        "user_created",
        organization_id=user.organization_id,
        entity_type="user",
        entity_id=user.id,
        metadata={"role": role, "via": "cli"},
    )
    return user
