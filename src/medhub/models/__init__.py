"""ORM models, one module per domain. Alembic reads `Base.metadata` from here."""

from medhub.models.audit import ActivityLog
from medhub.models.base import Base, IdMixin, TimestampMixin, new_id
from medhub.models.events import DomainEvent, EventDelivery
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
from medhub.models.mail import EmailStatus, OutgoingEmail
from medhub.models.notifications import (
    Notification,
    NotificationCategory,
    NotificationPreference,
    SmsMessage,
    SmsStatus,
)

__all__ = [
    "ActivityLog",
    "Address",
    "ApiKey",
    "AuthSession",
    "Base",
    "DomainEvent",
    "EmailStatus",
    "EventDelivery",
    "IdMixin",
    "Notification",
    "NotificationCategory",
    "NotificationPreference",
    "OneTimeToken",
    "Organization",
    "OrganizationKind",
    "OrganizationStatus",
    "OutgoingEmail",
    "PasswordHistory",
    "RefreshToken",
    "Role",
    "SmsMessage",
    "SmsStatus",
    "TimestampMixin",
    "User",
    "new_id",
]
