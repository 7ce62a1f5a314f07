"""Accounts: creation, passwords, profile, per-user statistics, addresses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
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
    # Hash before touching the database, so no pooled connection waits on the CPU
    # (and a taken email costs the same time as a free one).
    password_hash = await hasher.hash(password)
    repository = UserRepository(session)
    # The unique index decides, inside a savepoint: it sees every tenant's users
    # (the caller's row-level security may not) and settles concurrent sign-ups.
    try:
        async with session.begin_nested():
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
                    password_changed_at=datetime.now(UTC),
                )
            )
    except IntegrityError as exc:
        if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) == "uq_users_email":
            raise EmailTaken(
                details=[ErrorDetail(field="email", message="already registered")]
            ) from exc
        raise
    session.add(PasswordHistory(user_id=user.id, password_hash=password_hash))
    return user


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await UserRepository(session).get_by_email(email)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def get_profile(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """The user's profile fields (`GET /users/me`, read on most page loads)."""
    row = await UserRepository(session).profile_row(user_id)
    if row is None:
        raise NotFound("User not found")
    return row


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user row, locked for the rest of the transaction (counters, password changes)."""
    user = await UserRepository(session).get_for_update(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


@dataclass(frozen=True)
class PasswordState:
    """What a password change needs from the database, read before the slow hashing."""

    user_id: uuid.UUID
    email: str
    full_name: str
    password_hash: str
    recent_hashes: Sequence[str]


async def password_state(
    session: AsyncSession, user_id: uuid.UUID, *, history_size: int
) -> PasswordState:
    user = await get_user(session, user_id)
    # The current password plus the `history_size` before it.
    recent = await UserRepository(session).recent_password_hashes(user_id, history_size + 1)
    return PasswordState(
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        password_hash=user.password_hash,
        recent_hashes=list(recent),
    )


async def hash_new_password(
    hasher: PasswordHasher,
    state: PasswordState,
    new_password: str,
    *,
    history_size: int,
    field: str = "new_password",
) -> str:
    """Apply the policy, refuse the last `history_size` passwords, return the new hash.

    Pure CPU work: callers run it while holding no database connection.
    """
    check_password(new_password, field=field, user_inputs=[state.email, state.full_name])
    for old_hash in state.recent_hashes:
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
    return await hasher.hash(new_password)


async def store_password(session: AsyncSession, user_id: uuid.UUID, new_hash: str) -> User:
    user = await lock_user(session, user_id)
    user.password_hash = new_hash
    user.password_changed_at = datetime.now(UTC)
    session.add(PasswordHistory(user_id=user.id, password_hash=new_hash))
    await session.flush()
    return user


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
