from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from medhub.apikeys import service
from medhub.apikeys.auth import ApiKeysManage
from medhub.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.post(
    "",
    status_code=201,
    response_model=Envelope[ApiKeyCreated],
    summary="Create a key for your organization (the key is shown in this answer only)",
)
async def create_api_key(
    body: ApiKeyCreate, principal: ApiKeysManage, session: DbSession
) -> JSONResponse:
    issued = await service.create_key(session, principal, body)
    record = issued.record
    return created(
        ApiKeyCreated(
            id=record.id,
            name=record.name,
            role=record.role,
            prefix=record.prefix,
            key=issued.key,
            created_at=record.created_at,
        ),
        message="API key created. Store it now: it cannot be shown again.",
    )


@router.get(
    "", response_model=page_envelope("api_keys", ApiKeyRead), summary="Your organization's API keys"
)
async def list_api_keys(
    principal: ApiKeysManage,
    session: DbSession,
    paging: Paging,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys")] = False,
) -> JSONResponse:
    items, total = await service.list_keys(
        session, principal, paging, include_revoked=include_revoked
    )
    return ok(page_of("api_keys", [ApiKeyRead.model_validate(k) for k in items], paging, total))


@router.get("/{key_id}", response_model=Envelope[ApiKeyRead], summary="One of your API keys")
async def get_api_key(
    key_id: uuid.UUID,
    principal: ApiKeysManage,
    session: DbSession,
    include_revoked: Annotated[
        bool, Query(description="Also find the key if it has been revoked")
    ] = False,
) -> JSONResponse:
    key = await service.get_key(session, principal, key_id, include_revoked=include_revoked)
    return ok(ApiKeyRead.model_validate(key))


@router.delete(
    "/{key_id}",
    response_model=Envelope[ApiKeyRead],
    summary="Revoke an API key (refused from the next request on)",
)
async def revoke_api_key(
    key_id: uuid.UUID, principal: ApiKeysManage, session: DbSession
) -> JSONResponse:
    key = await service.revoke_key(session, principal, key_id)
    return ok(ApiKeyRead.model_validate(key), message="API key revoked")
