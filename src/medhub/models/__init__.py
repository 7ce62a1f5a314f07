"""ORM models, one module per domain. Alembic reads `Base.metadata` from here."""

from medhub.models.audit import ActivityLog
from medhub.models.base import Base, IdMixin, TimestampMixin, new_id
from medhub.models.identity import (
    Address,
    ApiKey,
    AuthSession,
    OneTimeToken,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    PasswordHistory,
    RefreshToken,
    Role,
    User,
)

__all__ = [
    "ActivityLog",
    "Address",
    "ApiKey",
    "AuthSession",
    "Base",
    "IdMixin",
    "OneTimeToken",
    "Organization",
    "OrganizationKind",
    "OrganizationStatus",
    "PasswordHistory",
    "RefreshToken",
    "Role",
    "TimestampMixin",
    "User",
    "new_id",
]
