"""Accounts: creation, passwords, profile, per-user statistics, addresses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.kit.errors import Conflict, ErrorDetail, NotFound, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.kit.security import PasswordHasher
from medhub.models.identity import Address, AuthSession, PasswordHistory, User
from medhub.users.passwords import check_password
from medhub.users.repository import AddressRepository, UserRepository
from medhub.users.schemas import AddressCreate, AddressUpdate, ProfileUpdate, UserStats


class EmailTaken(Conflict):
    default_message = "An account with this email address already exists"


async def create_user(
    session: AsyncSession,
    hasher: PasswordHasher,
    *,
    email: str,
    password: str,
    full_name: str,
    role: str,
    organization_id: uuid.UUID | None = None,
    company_name: str | None = None,
    phone: str | None = None,
    is_verified: bool = False,
    is_approved: bool = True,
) -> User:
    check_password(password, user_inputs=[email, full_name])
    repository = UserRepository(session)
    if await repository.email_taken(email):
        raise EmailTaken(details=[ErrorDetail(field="email", message="already registered")])
    password_hash = await hasher.hash(password)
    user = await repository.add(
        User(
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            role=role,
            organization_id=organization_id,
            company_name=company_name,
            phone=phone,
            is_verified=is_verified,
            is_approved=is_approved,
            is_active=True,
            failed_login_count=0,
            password_changed_at=datetime.now(UTC),
        )
    )
    session.add(PasswordHistory(user_id=user.id, password_hash=password_hash))
    return user


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await UserRepository(session).get_by_email(email)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user row, locked for the rest of the transaction (counters, password changes)."""
    user = await UserRepository(session).get_for_update(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def set_password(
    session: AsyncSession,
    hasher: PasswordHasher,
    user: User,
    new_password: str,
    *,
    history_size: int,
    field: str = "new_password",
) -> None:
    """Apply the policy, refuse the last `history_size` passwords, store the new hash."""
    check_password(new_password, field=field, user_inputs=[user.email, user.full_name])
    recent = await UserRepository(session).recent_password_hashes(user.id, history_size)
    for old_hash in recent:
        reused, _ = await hasher.verify(new_password, old_hash)
        if reused:
            raise ValidationFailed(
                "The new password was used recently",
                details=[
                    ErrorDetail(
                        field=field,
                        message=f"Password must differ from your last {history_size} passwords",
                    )
                ],
            )
    user.password_hash = await hasher.hash(new_password)
    user.password_changed_at = datetime.now(UTC)
    user.failed_login_count = 0
    user.locked_until = None
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))
    await session.flush()


async def update_profile(
    session: AsyncSession, principal: Principal, changes: ProfileUpdate
) -> User:
    user = await get_user(session, principal.require_user_id())
    values = changes.model_dump(exclude_unset=True)
    if "full_name" in values and values["full_name"] is None:
        raise ValidationFailed(details=[ErrorDetail(field="full_name", message="may not be null")])
    for name, value in values.items():
        setattr(user, name, value)
    await session.flush()
    audit.record(
        session,
        "profile_updated",
        actor=principal,
        entity_type="user",
        entity_id=user.id,
        metadata={"fields": sorted(values)},
    )
    return user


async def stats(session: AsyncSession, principal: Principal) -> UserStats:
    user_id = principal.require_user_id()
    addresses = await session.scalar(
        select(func.count()).select_from(Address).where(Address.user_id == user_id)
    )
    sessions = await session.scalar(
        select(func.count())
        .select_from(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > func.now(),
        )
    )
    return UserStats(
        addresses=int(addresses or 0),
        active_sessions=int(sessions or 0),
        activity_log_entries=await audit.count_for_user(session, user_id),
    )


async def list_addresses(
    session: AsyncSession, principal: Principal, page: PageParams
) -> tuple[Sequence[Address], int]:
    repository = AddressRepository(session)
    return await repository.paginate(repository.owned_statement(principal.require_user_id()), page)


async def get_address(
    session: AsyncSession, principal: Principal, address_id: uuid.UUID
) -> Address:
    address = await AddressRepository(session).get_owned(principal.require_user_id(), address_id)
    if address is None:
        raise NotFound("Address not found")
    return address


async def create_address(
    session: AsyncSession, principal: Principal, data: AddressCreate
) -> Address:
    user_id = principal.require_user_id()
    repository = AddressRepository(session)
    if data.is_default:
        await repository.clear_default(user_id, data.address_type)
    address = await repository.add(Address(user_id=user_id, **data.model_dump()))
    audit.record(
        session, "address_created", actor=principal, entity_type="address", entity_id=address.id
    )
    return address


async def update_address(
    session: AsyncSession, principal: Principal, address_id: uuid.UUID, data: AddressUpdate
) -> Address:
    repository = AddressRepository(session)
    address = await get_address(session, principal, address_id)
    values: dict[str, Any] = data.model_dump(exclude_unset=True)
    new_type = values.get("address_type", address.address_type)
    becomes_default = values.get("is_default", address.is_default)
    if becomes_default and (values.get("is_default") or new_type != address.address_type):
        await repository.clear_default(address.user_id, new_type, keep=address.id)
    for name, value in values.items():
        setattr(address, name, value)
    await session.flush()
    audit.record(
        session, "address_updated", actor=principal, entity_type="address", entity_id=address.id
    )
    return address


async def delete_address(
    session: AsyncSession, principal: Principal, address_id: uuid.UUID
) -> None:
    address = await get_address(session, principal, address_id)
    await AddressRepository(session).delete(address)
    audit.record(
        session, "address_deleted", actor=principal, entity_type="address", entity_id=address_id
    )
