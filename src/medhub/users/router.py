from __future__ import annotations

import uuid

from fastapi import APIRouter

from medhub.authz.dependencies import UserPrincipal
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.users import service
from medhub.users.schemas import (
    AddressCreate,
    AddressRead,
    AddressUpdate,
    ProfileUpdate,
    UserRead,
    UserStats,
)

router = APIRouter(prefix="/users", tags=["users"])


async def _profile(principal: UserPrincipal, session: DbSession) -> JSONResponse:
    profile = await service.get_profile(session, principal.require_user_id())
    return ok(UserRead.model_validate(profile))


async def _update_profile(
    body: ProfileUpdate, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    user = await service.update_profile(session, principal, body)
    return ok(UserRead.model_validate(user), message="Profile updated")


# `/users/me` (Pillio) and `/users/profile` (MedPharm, eCureTrip) are one resource.
for path in ("/me", "/profile"):
    router.add_api_route(
        path, _profile, methods=["GET"], response_model=Envelope[UserRead], summary="Your profile"
    )
    router.add_api_route(
        path,
        _update_profile,
        methods=["PUT"],
        response_model=Envelope[UserRead],
        summary="Update your profile",
    )


@router.get("/stats", response_model=Envelope[UserStats], summary="Counts of your own records")
async def stats(principal: UserPrincipal, session: DbSession) -> JSONResponse:
    return ok(await service.stats(session, principal))


@router.get(
    "/addresses", response_model=page_envelope("addresses", AddressRead), summary="Your addresses"
)
async def list_addresses(
    principal: UserPrincipal, session: DbSession, paging: Paging
) -> JSONResponse:
    items, total = await service.list_addresses(session, principal, paging)
    return ok(page_of("addresses", [AddressRead.model_validate(a) for a in items], paging, total))


@router.post(
    "/addresses",
    status_code=201,
    response_model=Envelope[AddressRead],
    summary="Add an address (is_default replaces the previous default of its type)",
)
async def create_address(
    body: AddressCreate, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    address = await service.create_address(session, principal, body)
    return created(AddressRead.model_validate(address), message="Address added")


@router.get(
    "/addresses/{address_id}", response_model=Envelope[AddressRead], summary="One of your addresses"
)
async def get_address(
    address_id: uuid.UUID, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    return ok(AddressRead.model_validate(await service.get_address(session, principal, address_id)))


@router.put(
    "/addresses/{address_id}",
    response_model=Envelope[AddressRead],
    summary="Update one of your addresses",
)
async def update_address(
    address_id: uuid.UUID, body: AddressUpdate, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    address = await service.update_address(session, principal, address_id, body)
    return ok(AddressRead.model_validate(address), message="Address updated")


@router.delete(
    "/addresses/{address_id}", response_model=Envelope[None], summary="Delete one of your addresses"
)
async def delete_address(
    address_id: uuid.UUID, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    await service.delete_address(session, principal, address_id)
    return ok(None, message="Address deleted")
