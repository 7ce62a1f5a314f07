"""API keys: an organization's credentials for third-party systems, shown once, stored hashed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.apikeys.repository import ApiKeyRepository
from medhub.apikeys.schemas import ApiKeyCreate
from medhub.audit import service as audit
from medhub.authz.dependencies import API_KEY_PREFIX
from medhub.authz.principal import Principal
from medhub.kit.errors import (
    ErrorDetail,
    InvalidStateTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from medhub.kit.pagination import PageParams
from medhub.kit.security import digest, new_secret
from medhub.models.identity import ApiKey
from medhub.organizations import service as organizations

# What the key list shows to tell keys apart: "mh_" and 9 characters of the secret.
DISPLAY_PREFIX_LENGTH = 12
SECRET_BYTES = 32  # 43 URL-safe characters


class ApiKeyAlreadyRevoked(InvalidStateTransition):
    default_message = "This API key is already revoked"


@dataclass(frozen=True)
class IssuedKey:
    record: ApiKey
    key: str


def _organization_of(principal: Principal) -> uuid.UUID:
    if principal.organization_id is None:
        raise PermissionDenied("API keys belong to an organization; you are not in one")
    return principal.organization_id


async def create_key(session: AsyncSession, principal: Principal, data: ApiKeyCreate) -> IssuedKey:
    organization_id = _organization_of(principal)
    repository = ApiKeyRepository(session)
    kind = await repository.organization_kind(organization_id)
    if kind is None:
        raise NotFound("Organization not found")
    # A key acts as one of its organization's staff, so never as a platform role.
    allowed = organizations.allowed_roles(kind)
    if data.role not in allowed:
        choices = ", ".join(role.value for role in allowed)
        raise ValidationFailed(
            f"A {kind} organization's API key cannot act as {data.role}",
            details=[ErrorDetail(field="role", message=f"must be one of: {choices}")],
        )
    key = API_KEY_PREFIX + new_secret(SECRET_BYTES)
    record = await repository.add(
        ApiKey(
            organization_id=organization_id,
            name=data.name,
            prefix=key[:DISPLAY_PREFIX_LENGTH],
            key_hash=digest(key),
            role=data.role,
            created_by=principal.require_user_id(),
        )
    )
    await session.refresh(record, ["created_at"])
    audit.record(
        session,
        "api_key_created",
        actor=principal,
        entity_type="api_key",
        entity_id=record.id,
        metadata={"name": record.name, "role": record.role, "prefix": record.prefix},
    )
    return IssuedKey(record=record, key=key)


async def list_keys(
    session: AsyncSession, principal: Principal, page: PageParams, *, include_revoked: bool
) -> tuple[Sequence[ApiKey], int]:
    repository = ApiKeyRepository(session)
    statement = repository.in_organization_statement(
        _organization_of(principal), include_revoked=include_revoked
    )
    return await repository.paginate(statement, page)


async def get_key(
    session: AsyncSession, principal: Principal, key_id: uuid.UUID, *, include_revoked: bool
) -> ApiKey:
    """A live key of the caller's organization; a revoked one only when asked for."""
    key = await ApiKeyRepository(session).get_in_organization(_organization_of(principal), key_id)
    if key is None or (key.revoked_at is not None and not include_revoked):
        raise NotFound("API key not found")
    return key


async def revoke_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    """Refused from the next request on: authentication only finds unrevoked keys."""
    repository = ApiKeyRepository(session)
    # Locked, so two concurrent revocations make one revocation and one 409.
    key = await repository.get_in_organization(_organization_of(principal), key_id, for_update=True)
    if key is None:
        raise NotFound("API key not found")
    if key.revoked_at is not None:
        raise ApiKeyAlreadyRevoked()
    key.revoked_at = datetime.now(UTC)
    await session.flush()
    audit.record(
        session,
        "api_key_revoked",
        actor=principal,
        entity_type="api_key",
        entity_id=key.id,
        metadata={"name": key.name, "prefix": key.prefix},
    )
    return key
