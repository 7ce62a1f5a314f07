"""What can go wrong when provisioning tenants and managing their members."""

from __future__ import annotations

from medhub.kit.errors import (
    Conflict,
    ErrorDetail,
    InvalidStateTransition,
    ValidationFailed,
    shown,
)


class SlugTaken(Conflict):
    default_message = "Another organization already uses this slug"

    def __init__(self, slug: str) -> None:
        super().__init__(details=[ErrorDetail(field="slug", message=f"{slug!r} is taken")])


class TenantDeleted(InvalidStateTransition):
    default_message = "This organization has been deleted"


class OrganizationRequired(ValidationFailed):
    default_message = "Choose the organization the member belongs to"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message,
            details=[ErrorDetail(field="organization_id", message=message or self.default_message)],
        )


class RoleNotAllowed(ValidationFailed):
    default_message = "This role is not available here"

    def __init__(self, role: str, allowed: list[str], where: str) -> None:
        super().__init__(
            f"The role {shown(role)} is not available {where}",
            details=[ErrorDetail(field="role", message=f"must be one of: {', '.join(allowed)}")],
        )


class SelfLockout(Conflict):
    default_message = "You cannot deactivate or demote your own account"


class LastAdmin(Conflict):
    default_message = "An organization must keep at least one active admin"
